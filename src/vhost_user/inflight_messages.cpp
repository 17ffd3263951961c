// GET_INFLIGHT_FD and SET_INFLIGHT_FD: the shared area in which ring
// progress survives a back-end restart.

#include "base/log.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/session_errors.hpp"
#include "virtio/inflight.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace xenvhost::vhost_user {

Result<> BackendSession::get_inflight_fd(Message& msg) {
    Inflight req;
    std::memcpy(&req, msg.payload.data(), sizeof req);
    if (req.num_queues == 0 || req.num_queues > device_.num_queues() || !virtio::valid_queue_size(req.queue_size) ||
        req.queue_size > device_.max_queue_size())
        return violation("inflight area for {} queues of {} entries is not possible here", req.num_queues, req.queue_size);
    const size_t size = virtio::inflight_queue_stride(req.queue_size) * req.num_queues;
    // A new zeroed memfd each time; ours is closed after the reply, so
    // repeated requests leak nothing.
    UniqueFd fd(::memfd_create("xenvhost-inflight", MFD_CLOEXEC));
    if (!fd) return fail_errno("memfd_create");
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) return fail_errno("ftruncate inflight area");
    Inflight reply{size, 0, req.num_queues, req.queue_size, {}};
    int fds[1] = {fd.get()};
    return conn_.reply(msg.header.request, {reinterpret_cast<const uint8_t*>(&reply), sizeof reply}, fds);
}

Result<> BackendSession::set_inflight_fd(Message& msg) {
    Inflight req;
    std::memcpy(&req, msg.payload.data(), sizeof req);
    if (req.num_queues == 0 || req.num_queues > device_.num_queues() || !virtio::valid_queue_size(req.queue_size))
        return violation("inflight area for {} queues of {} entries is invalid", req.num_queues, req.queue_size);
    const size_t expect = virtio::inflight_queue_stride(req.queue_size) * req.num_queues;
    if (req.mmap_size != expect) return violation("inflight area of {} bytes, expected {}", req.mmap_size, expect);
    if (req.mmap_offset % static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)))
        return violation("inflight area offset {:#x} is not page aligned", req.mmap_offset);
    struct stat st{};
    if (::fstat(msg.fds[0].get(), &st) < 0) return fail_errno("fstat inflight fd");
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < req.mmap_offset + req.mmap_size)
        return violation("inflight fd is smaller than offset + size");
    void* addr = ::mmap(nullptr, req.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, msg.fds[0].get(),
                        static_cast<off_t>(req.mmap_offset));
    if (addr == MAP_FAILED) return fail_errno("mmap inflight area");
    auto area = std::make_shared<virtio::InflightArea>();
    area->mapping = Mapping(addr, req.mmap_size);
    area->base = area->mapping.data();
    area->num_queues = req.num_queues;
    area->queue_size = req.queue_size;
    inflight_ = std::move(area);
    return {};
}

}  // namespace xenvhost::vhost_user
