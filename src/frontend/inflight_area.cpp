#include "frontend/inflight_area.hpp"

#include "virtio/inflight.hpp"
#include "vhost_user/messages.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;

namespace {

// Far more than 256 queues of 32768 entries need; a bound on what a
// back-end can make us map.
constexpr uint64_t kMaxArea = 256ull << 20;

Result<> check_reply(const vu::Inflight& got, const vu::Inflight& asked, int fd) {
    const uint64_t need = virtio::inflight_queue_stride(asked.queue_size) * asked.num_queues;
    if (got.num_queues != asked.num_queues || got.queue_size != asked.queue_size)
        return fail_as(ErrorKind::kProtocol, "GET_INFLIGHT_FD: area for {}x{}, asked {}x{}", got.num_queues,
                       got.queue_size, asked.num_queues, asked.queue_size);
    if (got.mmap_size < need || got.mmap_size > kMaxArea || got.mmap_offset % static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)))
        return fail_as(ErrorKind::kProtocol, "GET_INFLIGHT_FD: area of {} bytes at {:#x}, need {} page aligned",
                       got.mmap_size, got.mmap_offset, need);
    struct stat st{};
    if (::fstat(fd, &st) != 0) return fail_errno("fstat inflight fd");
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < got.mmap_offset + got.mmap_size)
        return fail_as(ErrorKind::kProtocol, "GET_INFLIGHT_FD: the fd is not a file of offset + size bytes");
    return {};
}

}  // namespace

Result<std::optional<InflightArea>> InflightArea::fetch(RequestClient& client, uint16_t num_queues,
                                                        uint16_t queue_size) {
    const vu::Inflight asked{0, 0, num_queues, queue_size, {}};
    auto m = client.call(vu::Request::kGetInflightFd, bytes_of(asked), {sizeof asked, sizeof asked, 1});
    if (!m) return pass(m.error());
    vu::Inflight got;
    std::memcpy(&got, m->payload.data(), sizeof got);
    if (got.mmap_size == 0) return std::optional<InflightArea>{};  // fds, if any, close with the message
    if (m->fds.size() != 1) return fail_as(ErrorKind::kProtocol, "GET_INFLIGHT_FD: area without its fd");
    if (auto r = check_reply(got, asked, m->fds[0].get()); !r) return pass(r.error());
    void* p = ::mmap(nullptr, got.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0].get(),
                     static_cast<off_t>(got.mmap_offset));
    if (p == MAP_FAILED) return fail_errno("mmap inflight area");
    InflightArea a;
    a.mapping_ = Mapping(p, got.mmap_size);
    a.fd_ = std::move(m->fds[0]);
    a.size_ = got.mmap_size;
    a.offset_ = got.mmap_offset;
    a.num_queues_ = num_queues;
    a.queue_size_ = queue_size;
    return std::optional<InflightArea>(std::move(a));
}

Result<> InflightArea::send(RequestClient& client) const {
    const vu::Inflight msg{size_, offset_, num_queues_, queue_size_, {}};
    const int fds[1] = {fd_.get()};
    return client.send(vu::Request::kSetInflightFd, bytes_of(msg), fds);
}

std::optional<uint16_t> InflightArea::used_idx(uint16_t queue, uint16_t ring_size) const {
    if (queue >= num_queues_ || ring_size > queue_size_) return std::nullopt;
    const uint8_t* at = mapping_.data() + virtio::inflight_queue_stride(queue_size_) * queue;
    virtio::InflightQueueHeader h;
    std::memcpy(&h, at, sizeof h);  // the back-end writes it: copy, then judge
    // A record of another ring size (or none yet) says nothing about this ring.
    if (h.version != 1 || h.desc_num != ring_size) return std::nullopt;
    return h.used_idx;
}

void InflightArea::clear() {
    if (mapping_.valid()) std::memset(mapping_.data(), 0, mapping_.size());
}

}  // namespace xenvhost::vhost_frontend
