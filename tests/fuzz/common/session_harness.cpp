#include "common/session_harness.hpp"

#include "base/eventfd.hpp"
#include "base/received_fds.hpp"
#include "common/check.hpp"
#include "memory/plain_memory.hpp"
#include "memory/xen_memory.hpp"

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

namespace xenvhost::fuzz {

using namespace vhost_user;

namespace {

// XENVHOST_FUZZ_TRACE=1 prints what the session did with each message, to
// check what a seed or a reproducer exercises.
template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) {
    static const bool on = std::getenv("XENVHOST_FUZZ_TRACE") != nullptr;
    if (on) std::fprintf(stderr, "trace: %s\n", fmt::format(f, std::forward<Args>(args)...).c_str());
}

}  // namespace

// ------------------------------------------------------------------ device

namespace {

class NullQueueHandler final : public devices::QueueHandler {
public:
    void start(uint16_t slot, const devices::Request&, devices::CompletionSink& sink) override {
        sink.complete(slot, 0);
    }
    void flush() override {}
    int completion_fd() const override { return -1; }
    void reap(devices::CompletionSink&) override {}
    unsigned in_flight() const override { return 0; }
};

constexpr size_t kWceOffset = offsetof(virtio_blk_config, wce);

}  // namespace

FuzzDevice::FuzzDevice(uint16_t queues, uint16_t max_queue_size)
    : queues_(queues), max_queue_size_(max_queue_size) {
    // A 1 GiB disk with 512-byte sectors, as GET_CONFIG would show it.
    const uint64_t capacity = (1ull << 30) / 512;
    std::memcpy(config_.data(), &capacity, sizeof capacity);
    config_[kWceOffset] = 1;
}

uint64_t FuzzDevice::features() const {
    return bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH) |
           bit(VIRTIO_BLK_F_CONFIG_WCE) | bit(VIRTIO_BLK_F_MQ) | bit(VIRTIO_BLK_F_DISCARD) |
           bit(VIRTIO_BLK_F_WRITE_ZEROES) | bit(virtio::kFIndirectDesc) | bit(virtio::kFEventIdx) |
           bit(virtio::kFVersion1);
}

bool FuzzDevice::write_config(uint32_t offset, std::span<const uint8_t> data) {
    if (offset != kWceOffset || data.size() != 1) return false;
    config_[kWceOffset] = data[0];
    return true;
}

std::unique_ptr<devices::QueueHandler> FuzzDevice::make_queue_handler(uint16_t, uint16_t) {
    return std::make_unique<NullQueueHandler>();
}

// ------------------------------------------------------------------ known bugs

bool skip_known_bug(std::string_view name) {
    static const std::string list = [] {
        const char* v = std::getenv("XENVHOST_FUZZ_SKIP");
        return std::string(v ? v : "");
    }();
    for (size_t pos = 0; pos <= list.size();) {
        const size_t end = std::min(list.find(',', pos), list.size());
        if (std::string_view(list).substr(pos, end - pos) == name) return true;
        pos = end + 1;
    }
    return false;
}

bool ring_misaligned_in_host(const memory::GuestMemory& mem, uint16_t size, const virtio::RingAddresses& addrs) {
    const struct {
        uint64_t gpa, len, align;
    } areas[] = {{addrs.desc, virtio::desc_area_size(size), 16},
                 {addrs.avail, virtio::avail_area_size(size), 2},
                 {addrs.used, virtio::used_area_size(size), 4}};
    for (const auto& a : areas) {
        if (a.gpa % a.align) continue;  // SplitRing refuses those itself
        auto m = mem.map_ring(a.gpa, a.len, false);
        if (m && reinterpret_cast<uintptr_t>(m->host) % a.align) return true;
    }
    return false;
}

// ------------------------------------------------------------------ memory checks

bool inside_mapped_region(const memory::GuestMemory& mem, const void* host, uint64_t len) {
    const memory::RegionTable* table = nullptr;
    if (auto* p = dynamic_cast<const memory::PlainMemory*>(&mem)) table = &p->table();
    if (auto* x = dynamic_cast<const memory::XenMemory*>(&mem)) table = &x->table();
    // IotlbMemory keeps its table to itself; its iovecs are only touched.
    if (!table) return true;
    const auto* p = static_cast<const uint8_t*>(host);
    for (const auto& r : table->regions()) {
        if (!r->mapped()) continue;
        if (p >= r->host() && len <= r->size() && static_cast<uint64_t>(p - r->host()) <= r->size() - len) return true;
    }
    return false;
}

void check_mapped_buffers(const memory::GuestMemory& mem, const virtio::DescriptorChain& chain,
                          const memory::MappedBuffers& bufs) {
    uint64_t out = 0, in = 0;
    for (const auto& v : bufs.out) {
        FUZZ_CHECK(inside_mapped_region(mem, v.iov_base, v.iov_len), "out iovec {} +{} outside guest memory",
                   v.iov_base, v.iov_len);
        out += v.iov_len;
    }
    for (const auto& v : bufs.in) {
        FUZZ_CHECK(inside_mapped_region(mem, v.iov_base, v.iov_len), "in iovec {} +{} outside guest memory",
                   v.iov_base, v.iov_len);
        in += v.iov_len;
    }
    FUZZ_CHECK(out == chain.readable_len && in == chain.writable_len,
               "iovecs cover {}/{} bytes, the chain {}/{}", out, in, chain.readable_len, chain.writable_len);
}

namespace {

void check_chain(const virtio::DescriptorChain& c) {
    uint64_t readable = 0, writable = 0;
    bool seen_writable = false;
    for (const auto& b : c.buffers) {
        FUZZ_CHECK(b.len > 0, "zero-length buffer kept in the chain");
        FUZZ_CHECK(b.gpa + b.len >= b.gpa, "buffer {:#x}+{:#x} wraps", b.gpa, b.len);
        FUZZ_CHECK(b.writable || !seen_writable, "readable buffer after a writable one");
        seen_writable |= b.writable;
        (b.writable ? writable : readable) += b.len;
    }
    FUZZ_CHECK(readable == c.readable_len && writable == c.writable_len, "chain totals disagree with its buffers");
    FUZZ_CHECK(readable + writable <= UINT32_MAX, "chain of {} bytes accepted", readable + writable);
}

// Reads (and for device-writable buffers writes) the ends of every iovec, so
// a wrong translation faults here instead of passing unnoticed.
void touch(const memory::MappedBuffers& bufs) {
    for (const auto& v : bufs.out) {
        auto* p = static_cast<volatile uint8_t*>(v.iov_base);
        (void)p[0];
        (void)p[v.iov_len - 1];
    }
    for (const auto& v : bufs.in) {
        auto* p = static_cast<volatile uint8_t*>(v.iov_base);
        (void)p[0];
        p[v.iov_len - 1] = 0;  // a status byte
    }
}

}  // namespace

// ------------------------------------------------------------------ runner

InlineRunner::~InlineRunner() { rings_.clear(); }

Result<> InlineRunner::start(const VringStart& s) {
    FUZZ_CHECK(!rings_.count(s.index), "ring {} started while running", s.index);
    FUZZ_CHECK(s.index < device_.num_queues(), "ring {} started on a device of {} queues", s.index,
               device_.num_queues());
    FUZZ_CHECK(virtio::valid_queue_size(s.size) && s.size <= device_.max_queue_size(),
               "ring {} started with size {}", s.index, s.size);
    FUZZ_CHECK(::fcntl(s.kick_fd, F_GETFD) != -1, "ring {} started with kick fd {} not open", s.index, s.kick_fd);
    if (!s.memory) return fail("no guest memory");
    if (skip_known_bug("misaligned-ring") && ring_misaligned_in_host(*s.memory, s.size, s.addrs))
        return fail("ring areas misaligned in host memory (known bug, skipped)");
    memory_ = s.memory;
    auto ring = virtio::SplitRing::map(*s.memory, s.size, s.addrs, s.event_idx, s.last_avail);
    if (!ring) return std::unexpected(ring.error());
    FUZZ_CHECK(inside_mapped_region(*s.memory, ring->desc_table(), virtio::desc_area_size(s.size)),
               "descriptor table of ring {} mapped outside guest memory", s.index);
    auto [it, inserted] = rings_.try_emplace(s.index, std::move(*ring), s.size, s.indirect);
    Ring& r = it->second;
    r.addrs = s.addrs;
    r.memory = s.memory;
    r.handler = device_.make_queue_handler(s.index, s.size);
    r.call = s.call;
    if (s.inflight) {
        if (uint8_t* area = s.inflight->queue(s.index, s.size)) {
            r.inflight_area = s.inflight;
            r.inflight.emplace(area, s.size);
            if (auto heads = r.inflight->recover(r.ring.used_idx(), s.features)) {
                FUZZ_CHECK(heads->size() <= s.size, "{} heads to resubmit on a ring of {}", heads->size(), s.size);
                r.ring.set_last_avail(static_cast<uint16_t>(r.ring.used_idx() + heads->size()));
                r.resubmit = std::move(*heads);
            }
        }
    }
    trace("ring {} started: size {}, last avail {}, inflight {}, {} to resubmit", s.index, s.size, s.last_avail,
          r.inflight.has_value(), r.resubmit.size());
    // Entries may be waiting already (a kick that came before the start).
    process(r);
    return {};
}

uint16_t InlineRunner::stop(uint16_t index) {
    auto it = rings_.find(index);
    FUZZ_CHECK(it != rings_.end(), "stop of ring {}, which is not running", index);
    publish(it->second);
    const uint16_t next = it->second.ring.last_avail();
    trace("ring {} stopped at {}", index, next);
    rings_.erase(it);
    return next;
}

void InlineRunner::set_call(uint16_t index, std::shared_ptr<UniqueFd> call) {
    auto it = rings_.find(index);
    FUZZ_CHECK(it != rings_.end(), "call fd set on ring {}, which is not running", index);
    it->second.call = std::move(call);
}

Result<> InlineRunner::set_memory(std::shared_ptr<const memory::GuestMemory> memory) {
    memory_ = memory;
    Result<> result;
    for (auto& [index, r] : rings_) {
        r.memory = memory;
        // The last region went away (REM_MEM_REG): as in the worker, the ring
        // takes no more requests and keeps its areas mapped until it stops.
        if (!memory) continue;
        // remap() reads nothing through the new pointers, but process() would.
        if (skip_known_bug("misaligned-ring") && ring_misaligned_in_host(*memory, r.ring.size(), r.addrs)) {
            r.broken = true;
            continue;
        }
        if (auto m = r.ring.remap(*memory); !m) {
            r.broken = true;
            result = std::unexpected(m.error());
            continue;
        }
        FUZZ_CHECK(inside_mapped_region(*memory, r.ring.desc_table(), virtio::desc_area_size(r.ring.size())),
                   "descriptor table of ring {} remapped outside guest memory", index);
    }
    return result;
}

void InlineRunner::kick(uint16_t index) {
    if (auto it = rings_.find(index); it != rings_.end()) process(it->second);
}

void InlineRunner::complete(uint16_t slot, uint32_t written) {
    FUZZ_CHECK(current_, "completion of slot {} outside request processing", slot);
    current_->ring.push_used(slot, written);
    if (current_->inflight) current_->inflight->used(slot);
    ++requests_;
}

void InlineRunner::process(Ring& r) {
    if (r.broken || !r.memory) return;
    current_ = &r;
    for (uint16_t head : r.resubmit) {
        if (r.broken) break;
        submit(r, head);
    }
    r.resubmit.clear();
    // Bounded: a used ring laid over the avail ring lets arm_kick() find new
    // entries after every batch; the worker would loop there as the guest wills.
    for (unsigned round = 0; round < 4 && !r.broken; ++round) {
        auto avail = r.ring.available();
        if (!avail) {
            trace("{}; ring broken", avail.error().message);
            r.broken = true;
            break;
        }
        if (*avail == 0) {
            if (!r.ring.arm_kick()) break;
            continue;
        }
        FUZZ_CHECK(*avail <= r.ring.size(), "{} entries available on a ring of {}", *avail, r.ring.size());
        for (uint16_t i = 0; i < *avail && !r.broken; ++i) {
            const uint16_t head = r.ring.pop();
            if (r.inflight) r.inflight->taken(head);
            submit(r, head);
        }
    }
    publish(r);
    current_ = nullptr;
}

void InlineRunner::submit(Ring& r, uint16_t head) {
    if (auto w = r.walker.walk(r.ring.desc_table(), head, *r.memory, r.chain); !w) {
        trace("head {}: {}; ring broken", head, virtio::describe(w.error()));
        r.broken = true;
        return;
    }
    check_chain(r.chain);
    r.bufs.release();
    if (auto m = r.memory->map_buffers(r.chain.buffers, r.bufs); !m) {
        trace("head {}: {}", head, m.error().message);
        r.bufs.release();
        if (m.error().kind == ErrorKind::kGuestFault) {
            r.broken = true;
            return;
        }
        complete(head, 0);
        return;
    }
    check_mapped_buffers(*r.memory, r.chain, r.bufs);
    trace("head {}: {} buffers, {} bytes out, {} in", head, r.chain.buffers.size(), r.chain.readable_len,
          r.chain.writable_len);
    touch(r.bufs);
    r.handler->start(head, devices::Request{r.bufs.out, r.bufs.in}, *this);
    r.bufs.release();
}

void InlineRunner::publish(Ring& r) {
    if (!r.ring.has_unpublished()) return;
    const bool notify = r.ring.publish();
    if (r.inflight) r.inflight->published(r.ring.used_idx());
    if (notify && r.call && r.call->valid()) eventfd_signal(r.call->get());
}

// ------------------------------------------------------------------ driver

SessionDriver::SessionDriver(devices::Device& device, VringRunner& runner, SessionOptions options) {
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: {}", std::strerror(errno));
    peer_.reset(sv[1]);
    conn_ = std::make_unique<Connection>(UniqueFd(sv[0]));
    // A stalled receive would mean the harness sent half a message; fail loudly instead of hanging.
    FUZZ_CHECK(conn_->set_timeouts(2000).has_value(), "setting socket timeouts");
    session_ = std::make_unique<BackendSession>(*conn_, device, runner, std::move(options));
}

SessionDriver::~SessionDriver() { close(); }

void SessionDriver::close() {
    session_.reset();
    conn_.reset();
    peer_.reset();
}

bool SessionDriver::send(uint32_t request, uint32_t flags, std::span<const uint8_t> payload, std::span<const int> fds) {
    if (!alive()) return false;
    FUZZ_CHECK(fds.size() <= 16, "harness sends at most 16 fds");
    Header h{request, flags, static_cast<uint32_t>(payload.size())};
    iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(16 * sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = payload.empty() ? 1 : 2;
    if (!fds.empty()) {
        m.msg_control = control;
        m.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    }
    const ssize_t n = ::sendmsg(peer_.get(), &m, MSG_NOSIGNAL);
    FUZZ_CHECK(n == static_cast<ssize_t>(sizeof h + payload.size()), "sendmsg of {} bytes: {}",
               sizeof h + payload.size(), n < 0 ? std::strerror(errno) : "short");
    receive_and_handle();
    return alive();
}

void SessionDriver::send_raw_and_close(std::span<const uint8_t> bytes) {
    if (!alive()) return;
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(peer_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        FUZZ_CHECK(n > 0, "send of raw bytes: {}", std::strerror(errno));
        done += static_cast<size_t>(n);
    }
    ::shutdown(peer_.get(), SHUT_WR);
    // Every message ends in an error at the latest when the bytes run out.
    while (alive()) receive_and_handle();
}

void SessionDriver::receive_and_handle() {
    auto m = conn_->receive();
    if (!m) {
        FUZZ_CHECK(m.error().message.find("timed out") == std::string::npos, "session stalled: {}",
                   m.error().message);
        trace("receive: {}; connection closed", m.error().message);
        close();
        return;
    }
    const uint32_t id = m->header.request;
    const MessageSpec* spec = find_spec(id);
    const unsigned before = replies_[id];
    // What the table says of this header and fd count, before the session sees it.
    const bool valid = validate(m->header, m->fds.size()).has_value();
    FUZZ_CHECK(m->payload.size() == m->header.size, "{} bytes of payload for a header saying {}", m->payload.size(),
               m->header.size);
    auto r = session_->handle(*m);
    drain_replies();
    trace("{} ({} bytes, {} fds): {}", request_name(id), m->payload.size(), m->fds.size(),
          r ? "ok" : r.error().message);
    if (!r) {
        close();
        return;
    }
    FUZZ_CHECK(spec && valid, "{} with flags {:#x}, {} bytes and {} fds accepted though the table refuses it",
               request_name(id), m->header.flags, m->header.size, m->fds.size());
    if (spec->reply == ReplyKind::kAlways)
        FUZZ_CHECK(replies_[id] > before, "{} handled without the reply the front-end waits for", spec->name);
}

void SessionDriver::drain_replies() {
    for (;;) {
        uint8_t buf[8192];
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(16 * sizeof(int))];
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(peer_.get(), &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0) break;
        take_received_fds(m, [&](int fd) { received_fd_.reset(fd); });
        FUZZ_CHECK(!(m.msg_flags & MSG_CTRUNC), "the back-end sent more fds than a reply carries");
        reply_bytes_.insert(reply_bytes_.end(), buf, buf + n);
    }
    // Replies must be well-formed, or QEMU drops the connection.
    while (reply_bytes_.size() >= sizeof(Header)) {
        Header h;
        std::memcpy(&h, reply_bytes_.data(), sizeof h);
        FUZZ_CHECK(h.flags == kReplyFlags, "reply to {} with flags {:#x}", request_name(h.request), h.flags);
        FUZZ_CHECK(h.size <= kMaxPayload, "reply to {} of {} bytes", request_name(h.request), h.size);
        if (reply_bytes_.size() < sizeof h + h.size) break;
        replies_[h.request]++;
        reply_bytes_.erase(reply_bytes_.begin(), reply_bytes_.begin() + static_cast<ptrdiff_t>(sizeof h + h.size));
    }
}

}  // namespace xenvhost::fuzz
