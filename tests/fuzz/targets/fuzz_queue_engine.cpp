// fuzz_queue_engine: queue::QueueEngine driven by plain calls over fuzzed
// rings in plain guest memory, with a device that completes when the input
// says and memory that fails to map a fuzzed range of pages (a revoked grant).
// Oracles: the sanitizers; the device is never given a slot it already has;
// an unmapped request carries only the one byte the device asked for; every
// used element is either a device completion, in completion order and with
// the length the device wrote (never more than the request's writable bytes),
// or a request the engine failed itself (length 0, a head the device does not
// hold); a stopped engine starts nothing; no fd is left open. Layout:
// common/formats.hpp.

#include "base/log.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/fd_count.hpp"
#include "common/formats.hpp"
#include "memory/plain_memory.hpp"
#include "devices/blk/blk_request.hpp"
#include "queue/queue_engine.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

using namespace xenvhost;
using namespace xenvhost::fuzz;

namespace {

constexpr uint64_t kMemBytes = uint64_t{kEngineMemPages} * 4096;

// Plain memory in which buffers touching [revoked_begin, revoked_end) fail to map.
class RevokingMemory final : public memory::GuestMemory {
public:
    RevokingMemory(std::shared_ptr<const memory::GuestMemory> inner, uint64_t begin, uint64_t end)
        : inner_(std::move(inner)), begin_(begin), end_(end) {}
    std::string_view mode() const override { return "fuzz"; }
    Result<memory::RingMapping> map_ring(uint64_t gpa, uint64_t len, bool w) const override {
        return inner_->map_ring(gpa, len, w);
    }
    bool read(uint64_t gpa, std::span<uint8_t> dst) const override { return inner_->read(gpa, dst); }
    Result<> map_buffers(std::span<const memory::GuestBuffer> bufs, memory::MappedBuffers& out) const override {
        for (const auto& b : bufs)
            if (b.gpa < end_ && begin_ < b.gpa + b.len) return fail_as(ErrorKind::kMapFailure, "revoked");
        return inner_->map_buffers(bufs, out);
    }

private:
    std::shared_ptr<const memory::GuestMemory> inner_;
    uint64_t begin_, end_;
};

struct UsedElem {
    uint16_t id;
    uint32_t len;
};

class FuzzHandler final : public devices::QueueHandler {
public:
    FuzzHandler(uint16_t qsize, bool answers) : held_(qsize, 0), room_(qsize, 0), answers_(answers) {}

    void start(uint16_t slot, const devices::Request& req, devices::CompletionSink& sink) override {
        FUZZ_CHECK(slot < held_.size(), "slot {} on a ring of {}", slot, held_.size());
        FUZZ_CHECK(!held_[slot], "slot {} started while the device still has it", slot);
        FUZZ_CHECK(!stopped, "slot {} started after stop()", slot);
        // Touches both ends of every iovec (the sanitizers see a bad one); writes
        // nothing, since the guest may lay its buffers over the used ring.
        uint64_t room = 0;
        for (const auto* list : {&req.in, &req.out})
            for (const auto& v : *list) {
                if (!v.iov_len) continue;
                const auto* p = static_cast<volatile const uint8_t*>(v.iov_base);
                (void)p[0];
                (void)p[v.iov_len - 1];
                if (list == &req.in) room += v.iov_len;
            }
        if (req.unmapped) FUZZ_CHECK(req.out.empty() && room == 1, "unmapped request with {} out, {} in bytes",
                                     req.out.size(), room);
        held_[slot] = 1;
        room_[slot] = room;
        order_.push_back(slot);
        sink_ = &sink;
    }
    void flush() override {}
    int completion_fd() const override { return -1; }
    void reap(devices::CompletionSink&) override {}
    unsigned in_flight() const override { return static_cast<unsigned>(order_.size()); }
    std::optional<memory::GuestBuffer> answer_unmapped(std::span<const memory::GuestBuffer> chain) const override {
        if (!answers_) return std::nullopt;
        return devices::blk::status_byte_buffer(chain);
    }

    void complete_one(uint16_t pick, uint32_t written) {
        if (order_.empty()) return;
        const size_t i = pick % order_.size();
        const uint16_t slot = order_[i];
        order_.erase(order_.begin() + static_cast<long>(i));
        held_[slot] = 0;
        const auto len = static_cast<uint32_t>(written % (room_[slot] + 1));
        expected.push_back({slot, len});
        sink_->complete(slot, len);
    }
    bool holds(uint16_t slot) const { return slot < held_.size() && held_[slot]; }

    std::deque<UsedElem> expected;  // device completions not yet seen in the used ring
    bool stopped = false;

private:
    std::vector<uint8_t> held_;
    std::vector<uint64_t> room_;
    std::vector<uint16_t> order_;
    bool answers_;
    devices::CompletionSink* sink_ = nullptr;
};

bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::set_level(log::Level::kError);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FdLeakGuard fd_guard;
    ByteReader in(data, size);

    UniqueFd fd(::memfd_create("fuzz-engine", MFD_CLOEXEC));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), kMemBytes) == 0, "memfd");
    auto region = memory::Region::map_plain({0, kMemBytes, 0x10000000, 0}, fd.get());
    FUZZ_CHECK(region.has_value(), "guest memory region");
    uint8_t* host = (*region)->host();
    auto plain = std::make_shared<memory::PlainMemory>(*memory::RegionTable::build({*region}));

    const uint8_t flags = in.u8();
    const uint16_t qsize = static_cast<uint16_t>(1u << (in.u8() % 9));
    const virtio::RingAddresses addrs{in.u32(), in.u32(), in.u32()};
    const uint16_t last_avail = in.u16();
    const uint64_t revoked = uint64_t{in.u8()} % kEngineMemPages * 4096;
    const uint64_t revoked_len = static_cast<uint64_t>(in.u8() % 4) * 4096;
    auto mem = std::make_shared<RevokingMemory>(plain, revoked, revoked + revoked_len);

    auto ring = virtio::SplitRing::map(*mem, qsize, addrs, flags & 2, last_avail);
    if (!ring) return 0;
    auto handler_owner = std::make_unique<FuzzHandler>(qsize, flags & 4);
    FuzzHandler& dev = *handler_owner;
    queue::QueueStats stats;
    queue::QueueEngine engine(std::move(*ring), queue::EngineSetup{0, bool(flags & 1), 0, nullptr, nullptr}, mem,
                              std::move(handler_owner), stats);
    const uint64_t used_len = virtio::used_area_size(qsize);
    auto* used = reinterpret_cast<virtio::Used*>(host + addrs.used);
    uint16_t seen = used->idx;  // the engine continues from the used index it finds

    while (!in.empty()) {
        switch (in.u8() % engine_op::kCount) {
            case engine_op::kPoke: {
                const uint64_t at = in.u32() % kMemBytes;
                auto bytes = in.blob(4096);
                const uint64_t n = std::min<uint64_t>(bytes.size(), kMemBytes - at);
                if (!overlaps(at, n, addrs.used, used_len)) std::memcpy(host + at, bytes.data(), n);
                break;
            }
            case engine_op::kProcess: engine.process_available(4); break;
            case engine_op::kComplete: {
                const uint16_t pick = in.u16();
                dev.complete_one(pick, in.u32());
                break;
            }
            case engine_op::kPublish: {
                engine.publish();
                // Only the engine writes the used ring (pokes skip it), so what
                // is there is what it pushed, in order.
                const uint16_t now = used->idx;
                FUZZ_CHECK(static_cast<uint16_t>(now - seen) <= qsize, "{} used elements in one batch on a ring of {}",
                           static_cast<uint16_t>(now - seen), qsize);
                for (; seen != now; ++seen) {
                    const auto& e = used->ring[seen & (qsize - 1)];
                    FUZZ_CHECK(e.id < qsize, "used element for head {} on a ring of {}", e.id, qsize);
                    if (!dev.expected.empty() && dev.expected.front().id == e.id && dev.expected.front().len == e.len) {
                        dev.expected.pop_front();
                        continue;
                    }
                    FUZZ_CHECK(e.len == 0 && !dev.holds(static_cast<uint16_t>(e.id)),
                               "used element {} len {} is neither a device completion nor a failed request", e.id,
                               e.len);
                }
                FUZZ_CHECK(dev.expected.empty(), "{} device completions not published", dev.expected.size());
                break;
            }
            case engine_op::kRemap: (void)engine.set_memory(mem); break;
            case engine_op::kStop: {
                const uint16_t next = engine.stop();
                FUZZ_CHECK(engine.stop() == next, "stop() moved the avail index");
                dev.stopped = true;
                break;
            }
        }
    }
    // The device finishes what it holds before the engine goes (as a queue thread waits for it).
    while (dev.in_flight()) dev.complete_one(0, 0);
    engine.publish();
    return 0;
}
