// Messages about the device rather than its rings or memory: config space,
// status, shared memory, and the back-end request channel with what is sent
// on it (CONFIG_CHANGE_MSG, IOTLB misses, SHMEM_MAP / SHMEM_UNMAP).

#include "base/log.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/session_errors.hpp"

#include <algorithm>
#include <cstring>

namespace xenvhost::vhost_user {

Result<> BackendSession::get_config(Message& msg) {
    const auto hdr = read_payload<ConfigHeader>(msg.payload);
    if (hdr.size != msg.payload.size() - sizeof hdr)
        return violation("config size field {} does not match payload", hdr.size);
    auto config = device_.config();
    if (hdr.offset > config.size() || hdr.size > config.size() - hdr.offset)
        return refuse("config range {}+{} lies outside the device's {} bytes", hdr.offset, hdr.size, config.size());
    std::vector<uint8_t> body(sizeof hdr + hdr.size);
    std::memcpy(body.data(), &hdr, sizeof hdr);
    std::memcpy(body.data() + sizeof hdr, config.data() + hdr.offset, hdr.size);
    return conn_.reply(msg.header.request, body);
}

Result<> BackendSession::set_config(Message& msg) {
    const auto hdr = read_payload<ConfigHeader>(msg.payload);
    if (hdr.size != msg.payload.size() - sizeof hdr)
        return violation("config size field {} does not match payload", hdr.size);
    if (hdr.flags > 1) return violation("config flags {:#x} unknown", hdr.flags);
    std::span<const uint8_t> data(msg.payload.data() + sizeof hdr, hdr.size);
    if (!device_.write_config(hdr.offset, data))
        return refuse("the device does not take a write of {} bytes at {}", hdr.size, hdr.offset);
    return {};
}

Result<> BackendSession::set_status(Message& msg) {
    status_ = static_cast<uint8_t>(read_payload<uint64_t>(msg.payload));
    return {};
}

Result<> BackendSession::get_status(Message& msg) { return conn_.reply_u64(msg.header.request, status_); }

Result<> BackendSession::get_shmem_config(Message& msg) {
    ShmemConfig cfg{};
    auto regions = device_.shared_memory_regions();
    cfg.nregions = static_cast<uint32_t>(std::min<size_t>(regions.size(), 256));
    for (uint32_t i = 0; i < cfg.nregions; ++i) cfg.mem_sizes[i] = regions[i];
    return conn_.reply(msg.header.request, {reinterpret_cast<const uint8_t*>(&cfg), sizeof cfg});
}

Result<> BackendSession::set_backend_req_fd(Message& msg) {
    channel_ = std::make_shared<BackendChannel>(std::move(msg.fds[0]),
                                                has_protocol_feature(protocol_feature::kReplyAck));
    // A MISS asks for no answer (as DPDK sends it): the UPDATE on the
    // front-end socket is the answer, and the asking queue thread keeps
    // reaping its requests while it waits for it (WaitWork).
    iotlb_->set_miss_handler([channel = channel_](uint64_t iova, uint8_t perm) {
        IotlbMsg miss{iova, 0, 0, perm, iotlb_type::kMiss, {}};
        log::debug("IOTLB miss for {:#x} perm {}", iova, perm);
        if (auto r = channel->notify(BackendRequest::kIotlbMsg, {reinterpret_cast<const uint8_t*>(&miss), sizeof miss});
            !r)
            log::warn("IOTLB miss for {:#x} not delivered: {}", iova, r.error().message);
    });
    return {};
}

Result<> BackendSession::notify_config_change() {
    if (!channel_) return fail_as(ErrorKind::kPolicy, "the front-end set up no back-end channel");
    return channel_->notify(BackendRequest::kConfigChangeMsg, {});
}

Result<> BackendSession::shmem_map(uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                                   bool writable) {
    if (!has_protocol_feature(protocol_feature::kShmem)) return fail_as(ErrorKind::kPolicy, "SHMEM was not negotiated");
    if (!channel_) return fail_as(ErrorKind::kPolicy, "the front-end set up no back-end channel");
    if (len == 0 || fd_offset + len < fd_offset || shm_offset + len < shm_offset)
        return fail("shared memory range offset {:#x} len {:#x} is invalid", shm_offset, len);
    ShmemMap m{shmid, {}, fd_offset, shm_offset, len, writable ? 1u : 0u};
    int fds[1] = {fd};
    return channel_->request(BackendRequest::kShmemMap, {reinterpret_cast<const uint8_t*>(&m), sizeof m}, fds);
}

Result<> BackendSession::shmem_unmap(uint8_t shmid, uint64_t shm_offset, uint64_t len) {
    if (!has_protocol_feature(protocol_feature::kShmem)) return fail_as(ErrorKind::kPolicy, "SHMEM was not negotiated");
    if (!channel_) return fail_as(ErrorKind::kPolicy, "the front-end set up no back-end channel");
    ShmemMap m{shmid, {}, 0, shm_offset, len, 0};
    return channel_->request(BackendRequest::kShmemUnmap, {reinterpret_cast<const uint8_t*>(&m), sizeof m});
}

}  // namespace xenvhost::vhost_user
