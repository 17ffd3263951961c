// fuzz_session: whole vhost-user message sequences, sent over a real
// socketpair with real fds (memfds of fuzzer-chosen sizes, eventfds,
// /dev/null, the back-end's own inflight memfd), received by
// vhost_user::Connection, validated by vhost_user::validate() and handled by
// vhost_user::BackendSession. Started rings are mapped through
// virtio::SplitRing and their chains walked and mapped by an inline runner.
// Oracles: the sanitizers, the harness checks (replies well-formed and never
// missing, iovecs inside guest memory, runner calls consistent with ring
// state), and no fd left open after the input. Layout: common/formats.hpp.

#include "base/log.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/fd_count.hpp"
#include "common/formats.hpp"
#include "common/session_harness.hpp"
#include "xen/foreign_memory.hpp"
#include "xen/grant_table.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

using namespace xenvhost;
using namespace xenvhost::fuzz;

namespace {

UniqueFd new_memfd(size_t bytes) {
    UniqueFd fd(::memfd_create("fuzz-guest", MFD_CLOEXEC));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(bytes)) == 0, "memfd of {} bytes", bytes);
    return fd;
}

struct Pool {
    std::vector<UniqueFd> fds;
    std::vector<size_t> sizes;
};

vhost_user::SessionOptions make_options(uint8_t cfg, uint16_t domid) {
    memory::MemoryPolicy policy{.xen = bool(cfg & session_cfg::kXen)};
    if (cfg & session_cfg::kDomid) policy.domid = domid;
    memory::XenHandles handles;
    if (cfg & session_cfg::kXenHandles) {
        // Present but without a hypervisor behind them: the builder's fd
        // checks refuse every region before anything could be mapped.
        handles.grants = std::make_shared<xen::GrantTable>(nullptr);
        handles.foreign = std::make_shared<xen::ForeignMemory>(nullptr);
    }
    vhost_user::SessionOptions o;
    o.memory = std::make_shared<memory::MemoryBuilder>(policy, std::move(handles));
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::set_level(log::Level::kError);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FdLeakGuard fd_guard;  // first in, last out
    ByteReader in(data, size);
    const uint8_t cfg = in.u8();
    const unsigned log2 = std::clamp<unsigned>(in.u8(), 1, 15);
    const uint16_t domid = in.u16();
    const uint16_t queues = static_cast<uint16_t>(((cfg >> session_cfg::kQueuesShift) & 3) + 1);

    Pool pool;
    const unsigned npool = in.u8() % 5;
    for (unsigned i = 0; i < npool; ++i) {
        const size_t bytes = size_t{std::clamp<unsigned>(in.u8(), 1, kSessionMaxPoolPages)} * 4096;
        pool.fds.push_back(new_memfd(bytes));
        pool.sizes.push_back(bytes);
    }
    UniqueFd from_backend;  // the inflight memfd, kept across connections

    FuzzDevice device(queues, static_cast<uint16_t>(1u << log2));
    InlineRunner runner(device);
    std::unique_ptr<SessionDriver> driver;
    // The worker keeps listening after a disconnect; the front-end connects again.
    auto reconnect = [&] {
        driver.reset();
        FUZZ_CHECK(runner.running() == 0, "{} rings still running after the session ended", runner.running());
        driver = std::make_unique<SessionDriver>(device, runner, make_options(cfg, domid));
    };
    reconnect();

    while (!in.empty()) {
        switch (in.u8() % session_op::kCount) {
            case session_op::kMsg: {
                const uint32_t request = in.u32();
                const uint32_t flags = in.u32();
                auto payload = in.blob(vhost_user::kMaxPayload + 64);
                const unsigned nfds = in.u8() % (kSessionMaxFds + 1);
                std::vector<UniqueFd> owned;
                std::vector<int> fds;
                for (unsigned i = 0; i < nfds; ++i) {
                    const uint8_t spec = in.u8();
                    const unsigned param = spec & 0x3f;
                    switch (spec & 0xc0) {
                        case session_fd::kPool:
                            if (!pool.fds.empty()) {
                                fds.push_back(pool.fds[param % pool.fds.size()].get());
                                continue;
                            }
                            owned.push_back(new_memfd(4096));
                            break;
                        case session_fd::kEventfd:
                            owned.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
                            break;
                        case session_fd::kMemfd: owned.push_back(new_memfd((param + 1) * 4096)); break;
                        default:
                            if (param >= 32 && from_backend.valid()) {
                                fds.push_back(from_backend.get());
                                continue;
                            }
                            owned.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC));
                            break;
                    }
                    FUZZ_CHECK(owned.back().valid(), "creating fd of spec {:#x}", spec);
                    fds.push_back(owned.back().get());
                }
                // Not sent: it installs an IOTLB miss handler, after which every
                // miss waits a second for an IOTLB update that this one-thread
                // harness could only deliver after the wait.
                if (request == static_cast<uint32_t>(vhost_user::Request::kSetBackendReqFd)) break;
                if (!driver->alive()) reconnect();
                driver->send(request, flags, payload, fds);
                if (UniqueFd fd = driver->take_received_fd(); fd.valid()) from_backend = std::move(fd);
                break;
            }
            case session_op::kPoke: {
                const unsigned index = in.u8();
                const uint32_t offset = in.u32();
                auto bytes = in.blob(65535);
                int fd = -1;
                size_t fd_size = 0;
                if (index >= kSessionPokeBackend) {
                    // The front-end owns the inflight area too; a buggy or hostile one scribbles on it.
                    struct stat st{};
                    if (!from_backend.valid() || ::fstat(from_backend.get(), &st) != 0 || !S_ISREG(st.st_mode)) break;
                    fd = from_backend.get();
                    fd_size = static_cast<size_t>(st.st_size);
                } else if (!pool.fds.empty()) {
                    fd = pool.fds[index % pool.fds.size()].get();
                    fd_size = pool.sizes[index % pool.fds.size()];
                }
                if (fd < 0 || fd_size == 0) break;
                const size_t at = offset % fd_size;
                const size_t n = std::min(bytes.size(), fd_size - at);
                FUZZ_CHECK(::pwrite(fd, bytes.data(), n, static_cast<off_t>(at)) == static_cast<ssize_t>(n),
                           "pwrite into a guest memfd");
                break;
            }
            case session_op::kKick: runner.kick(in.u8()); break;
            case session_op::kRaw: {
                auto bytes = in.blob(kSessionMaxRaw);
                if (!driver->alive()) reconnect();
                driver->send_raw_and_close(bytes);
                break;
            }
            case session_op::kReconnect: reconnect(); break;
        }
    }
    driver.reset();
    FUZZ_CHECK(runner.running() == 0, "{} rings still running after the session ended", runner.running());
    return 0;
}
