// xvt-inflight-kill PID WAIT_MS: sends SIGKILL to the vhost-user back-end PID
// at a moment when it holds a request in flight, as its inflight area
// (INFLIGHT_SHMFD, split-ring layout of the vhost-user specification) shows.
// A kill at a random moment mostly finds the back-end idle, because under TCG
// the guest is far slower than the back-end; this one aims at the requests
// the restarted back-end must resubmit.
//
// The area is found among PID's mappings by the name the worker gives its
// memfd, and read through /proc/PID/map_files (root only). If no request is
// in flight within WAIT_MS, PID is killed anyway.
//
// Prints one line: "inflight=N waited_ms=M after=K used_idx=U": N requests
// seen in flight just before the kill (0 after a timeout); K marked in flight
// once PID is dead, and the used index the area records for queue 0, which
// is what a restarted back-end finds (before it repairs the last batch
// against the ring). Exit status: 0 killed, 2 error (PID is not killed).

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace {

using xenvhost::fail;
using xenvhost::fail_errno;
using xenvhost::Mapping;
using xenvhost::Result;
using xenvhost::UniqueFd;

constexpr std::string_view kAreaName = "/memfd:xenvhost-inflight";
constexpr size_t kQueueHeader = 16;  // features u64, version u16, desc_num u16, last_batch_head u16, used_idx u16
constexpr size_t kDescSize = 16;     // inflight u8, padding[5], next u16, counter u64

size_t queue_stride(uint16_t desc_num) { return (kQueueHeader + kDescSize * desc_num + 63) & ~size_t{63}; }

struct Area {
    Mapping mapping;
    size_t size = 0;
};

// The "START-END" of PID's mapping of the inflight memfd.
Result<std::string> find_area_range(const std::string& pid) {
    std::ifstream maps("/proc/" + pid + "/maps");
    if (!maps) return fail("cannot read /proc/{}/maps (no such process?)", pid);
    std::string line;
    while (std::getline(maps, line)) {
        if (line.find(kAreaName) == std::string::npos) continue;
        return line.substr(0, line.find(' '));
    }
    return fail("process {} has no inflight area mapped ({} not in its maps)", pid, kAreaName);
}

Result<Area> map_area(const std::string& pid) {
    auto range = find_area_range(pid);
    if (!range) return std::unexpected(range.error());
    const std::string path = "/proc/" + pid + "/map_files/" + *range;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open {}", path);
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno("fstat {}", path);
    if (st.st_size < static_cast<off_t>(kQueueHeader)) return fail("inflight area of {} bytes is too small", st.st_size);
    void* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd.get(), 0);
    if (addr == MAP_FAILED) return fail_errno("mmap {}", path);
    return Area{Mapping(addr, static_cast<size_t>(st.st_size)), static_cast<size_t>(st.st_size)};
}

// Requests marked in flight in every queue of the area.
unsigned count_in_flight(const Area& area) {
    const volatile uint8_t* base = area.mapping.data();
    unsigned n = 0;
    for (size_t off = 0; off + kQueueHeader <= area.size;) {
        // desc_num: u16 at byte 10 of the header, little-endian.
        const uint16_t desc_num = static_cast<uint16_t>(base[off + 10] | base[off + 11] << 8);
        const size_t stride = queue_stride(desc_num);
        // A queue the front-end has not set up yet, or a torn header: skip the rest.
        if (desc_num == 0 || off + stride > area.size) break;
        for (size_t i = 0; i < desc_num; ++i)
            if (base[off + kQueueHeader + i * kDescSize] == 1) ++n;
        off += stride;
    }
    return n;
}

// The area's used index of queue 0.
uint16_t used_idx(const Area& area) {
    const volatile uint8_t* base = area.mapping.data();
    return static_cast<uint16_t>(base[14] | base[15] << 8);
}

// True once PID has exited (a zombie or gone): nothing of it writes the area any more.
bool dead(long pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    std::string line;
    std::getline(stat, line);
    // The state follows the command name, which is in parentheses.
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z' || line[close + 2] == 'X';
}

Result<long> parse_number(const char* text, const char* what) {
    long value = 0;
    const char* end = text + std::strlen(text);
    auto [p, ec] = std::from_chars(text, end, value);
    if (ec != std::errc() || p != end || value <= 0) return fail("{} must be a positive number, not '{}'", what, text);
    return value;
}

int run(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: xvt-inflight-kill PID WAIT_MS\n");
        return 2;
    }
    auto pid = parse_number(argv[1], "PID");
    auto wait_ms = parse_number(argv[2], "WAIT_MS");
    for (const auto* r : {&pid, &wait_ms}) {
        if (!*r) {
            std::fprintf(stderr, "xvt-inflight-kill: %s\n", r->error().message.c_str());
            return 2;
        }
    }
    auto area = map_area(argv[1]);
    if (!area) {
        std::fprintf(stderr, "xvt-inflight-kill: %s\n", area.error().message.c_str());
        return 2;
    }
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::milliseconds(*wait_ms);
    unsigned seen = 0;
    // Spin, yielding: the window of a request is often well under a millisecond.
    while ((seen = count_in_flight(*area)) == 0 && Clock::now() < deadline) ::sched_yield();
    if (::kill(static_cast<pid_t>(*pid), SIGKILL) < 0) {
        std::fprintf(stderr, "xvt-inflight-kill: kill %ld: %s\n", *pid, std::strerror(errno));
        return 2;
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    const auto dead_by = Clock::now() + std::chrono::seconds(5);
    while (!dead(*pid) && Clock::now() < dead_by) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!dead(*pid)) {
        std::fprintf(stderr, "xvt-inflight-kill: process %ld still alive 5 s after SIGKILL\n", *pid);
        return 2;
    }
    std::printf("inflight=%u waited_ms=%lld after=%u used_idx=%u\n", seen, static_cast<long long>(waited),
                count_in_flight(*area), used_idx(*area));
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
