#include "frontend/vhost_client.hpp"

#include <cstring>

namespace xenvhost::frontend {

namespace vu = vhost_user;

RegionMessage region_message(const Region& r) {
    return RegionMessage{r.descriptor(), r.fd.get(), r.xen};
}

static void append_region(std::vector<uint8_t>& out, const RegionMessage& r, RegionFormat format) {
    if (format == RegionFormat::kXen) {
        vu::XenMemoryRegion x{r.region, r.xen ? r.xen->flags : 0, r.xen ? r.xen->domid : 0};
        auto b = bytes_of(x);
        out.insert(out.end(), b.begin(), b.end());
    } else {
        auto b = bytes_of(r.region);
        out.insert(out.end(), b.begin(), b.end());
    }
}

std::vector<uint8_t> encode_mem_table(std::span<const RegionMessage> regions, RegionFormat format) {
    std::vector<uint8_t> out;
    vu::MemoryTableHeader hdr{static_cast<uint32_t>(regions.size()), 0};
    auto b = bytes_of(hdr);
    out.insert(out.end(), b.begin(), b.end());
    for (const auto& r : regions) append_region(out, r, format);
    return out;
}

std::vector<uint8_t> encode_single_region(const RegionMessage& region, RegionFormat format) {
    std::vector<uint8_t> out(vu::kSingleRegionPadding, 0);
    append_region(out, region, format);
    return out;
}

Result<Message> VhostClient::await_reply(Request req) {
    auto m = conn_.receive(reply_timeout_ms);
    if (!m) return std::unexpected(m.error());
    if (m->header.request != static_cast<uint32_t>(req))
        return fail("reply to {} carries request id {}", static_cast<uint32_t>(req),
                    m->header.request);
    if (m->header.flags != vu::kReplyFlags)
        return fail("reply to request {} has flags {:#x}, not {:#x}", static_cast<uint32_t>(req),
                    m->header.flags, vu::kReplyFlags);
    return m;
}

Result<Message> VhostClient::call(Request req, std::span<const uint8_t> payload,
                                  std::span<const int> fds) {
    if (auto s = conn_.send(static_cast<uint32_t>(req), vu::kVersion, payload, fds); !s)
        return std::unexpected(s.error());
    return await_reply(req);
}

Result<uint64_t> VhostClient::send_with_ack(Request req, std::span<const uint8_t> payload,
                                            std::span<const int> fds) {
    if (auto s = conn_.send(static_cast<uint32_t>(req), vu::kVersion | vu::kFlagNeedReply, payload,
                            fds);
        !s)
        return std::unexpected(s.error());
    auto m = await_reply(req);
    if (!m) return std::unexpected(m.error());
    if (m->payload.size() != sizeof(uint64_t))
        return fail("ack for request {} has {} payload bytes", static_cast<uint32_t>(req),
                    m->payload.size());
    uint64_t v;
    std::memcpy(&v, m->payload.data(), sizeof v);
    return v;
}

Result<void> VhostClient::send(Request req, std::span<const uint8_t> payload,
                               std::span<const int> fds) {
    if (reply_ack_ && need_reply_all_) {
        auto v = send_with_ack(req, payload, fds);
        if (!v) return std::unexpected(v.error());
        if (*v != 0)
            return std::unexpected(Error{
                fmt::format("back-end refused request {} ({:#x})", static_cast<uint32_t>(req), *v),
                EPROTO});
        return {};
    }
    return conn_.send(static_cast<uint32_t>(req), vu::kVersion, payload, fds);
}

Result<uint64_t> VhostClient::get_u64(Request req) {
    auto m = call(req);
    if (!m) return std::unexpected(m.error());
    if (m->payload.size() != sizeof(uint64_t))
        return fail("reply to request {} has {} payload bytes, expected 8",
                    static_cast<uint32_t>(req), m->payload.size());
    uint64_t v;
    std::memcpy(&v, m->payload.data(), sizeof v);
    return v;
}

Result<uint64_t> VhostClient::get_features() { return get_u64(Request::kGetFeatures); }

Result<void> VhostClient::set_features(uint64_t features) {
    return send(Request::kSetFeatures, bytes_of(features));
}

Result<uint64_t> VhostClient::get_protocol_features() {
    return get_u64(Request::kGetProtocolFeatures);
}

Result<void> VhostClient::set_protocol_features(uint64_t features) {
    // Acks are not requested on this message itself: the back-end learns
    // about REPLY_ACK from it.
    if (auto s = conn_.send(static_cast<uint32_t>(Request::kSetProtocolFeatures), vu::kVersion,
                            bytes_of(features));
        !s)
        return s;
    reply_ack_ = features & vu::bit(vu::protocol_feature::kReplyAck);
    region_format_ = (features & vu::bit(vu::protocol_feature::kXenMmap)) ? RegionFormat::kXen
                                                                         : RegionFormat::kPlain;
    return {};
}

Result<void> VhostClient::set_owner() { return send(Request::kSetOwner); }
Result<void> VhostClient::reset_owner() { return send(Request::kResetOwner); }
Result<uint64_t> VhostClient::get_queue_num() { return get_u64(Request::kGetQueueNum); }
Result<uint64_t> VhostClient::get_max_mem_slots() { return get_u64(Request::kGetMaxMemSlots); }

Result<std::vector<uint8_t>> VhostClient::get_config(uint32_t offset, uint32_t size) {
    std::vector<uint8_t> payload(sizeof(vu::ConfigHeader) + size, 0);
    vu::ConfigHeader hdr{offset, size, 0};
    std::memcpy(payload.data(), &hdr, sizeof hdr);
    auto m = call(Request::kGetConfig, payload);
    if (!m) return std::unexpected(m.error());
    if (m->payload.size() != payload.size())
        return fail("GET_CONFIG reply has {} bytes, expected {}", m->payload.size(),
                    payload.size());
    vu::ConfigHeader rh;
    std::memcpy(&rh, m->payload.data(), sizeof rh);
    if (rh.offset != offset || rh.size != size)
        return fail("GET_CONFIG reply describes offset {} size {}", rh.offset, rh.size);
    return std::vector<uint8_t>(m->payload.begin() + sizeof rh, m->payload.end());
}

Result<void> VhostClient::set_config(uint32_t offset, std::span<const uint8_t> data,
                                     uint32_t flags) {
    std::vector<uint8_t> payload(sizeof(vu::ConfigHeader) + data.size());
    vu::ConfigHeader hdr{offset, static_cast<uint32_t>(data.size()), flags};
    std::memcpy(payload.data(), &hdr, sizeof hdr);
    if (!data.empty()) std::memcpy(payload.data() + sizeof hdr, data.data(), data.size());
    return send(Request::kSetConfig, payload);
}

Result<void> VhostClient::set_mem_table(std::span<const RegionMessage> regions) {
    std::vector<int> fds;
    for (const auto& r : regions)
        if (r.fd >= 0) fds.push_back(r.fd);
    return send(Request::kSetMemTable, encode_mem_table(regions, region_format_), fds);
}

Result<void> VhostClient::set_mem_table(const GuestMemory& mem) {
    std::vector<RegionMessage> regions;
    for (const auto& r : mem.regions()) regions.push_back(region_message(r));
    return set_mem_table(regions);
}

Result<void> VhostClient::add_mem_reg(const RegionMessage& region) {
    std::vector<int> fds;
    if (region.fd >= 0) fds.push_back(region.fd);
    return send(Request::kAddMemReg, encode_single_region(region, region_format_), fds);
}

Result<void> VhostClient::rem_mem_reg(const RegionMessage& region) {
    // The specification says REM_MEM_REG should carry no fd.
    RegionMessage r = region;
    r.fd = -1;
    return send(Request::kRemMemReg, encode_single_region(r, region_format_));
}

Result<void> VhostClient::set_vring_num(uint32_t index, uint32_t num) {
    return send(Request::kSetVringNum, bytes_of(vu::VringState{index, num}));
}

Result<void> VhostClient::set_vring_addr(const vu::VringAddr& addr) {
    return send(Request::kSetVringAddr, bytes_of(addr));
}

Result<void> VhostClient::set_vring_base(uint32_t index, uint32_t base) {
    return send(Request::kSetVringBase, bytes_of(vu::VringState{index, base}));
}

Result<uint32_t> VhostClient::get_vring_base(uint32_t index) {
    auto m = call(Request::kGetVringBase, bytes_of(vu::VringState{index, 0}));
    if (!m) return std::unexpected(m.error());
    if (m->payload.size() != sizeof(vu::VringState))
        return fail("GET_VRING_BASE reply has {} bytes", m->payload.size());
    vu::VringState s;
    std::memcpy(&s, m->payload.data(), sizeof s);
    if (s.index != index) return fail("GET_VRING_BASE reply is for ring {}, not {}", s.index, index);
    return s.num;
}

Result<void> VhostClient::vring_fd_message(Request req, uint32_t index, int fd) {
    uint64_t v = index & vu::kVringIndexMask;
    if (fd < 0) {
        v |= vu::kVringNoFd;
        return send(req, bytes_of(v));
    }
    int fds[1] = {fd};
    return send(req, bytes_of(v), fds);
}

Result<void> VhostClient::set_vring_kick(uint32_t index, int fd) {
    return vring_fd_message(Request::kSetVringKick, index, fd);
}
Result<void> VhostClient::set_vring_call(uint32_t index, int fd) {
    return vring_fd_message(Request::kSetVringCall, index, fd);
}
Result<void> VhostClient::set_vring_err(uint32_t index, int fd) {
    return vring_fd_message(Request::kSetVringErr, index, fd);
}

Result<void> VhostClient::set_vring_enable(uint32_t index, bool enable) {
    return send(Request::kSetVringEnable, bytes_of(vu::VringState{index, enable ? 1u : 0u}));
}

Result<InflightArea> VhostClient::get_inflight_fd(uint16_t num_queues, uint16_t queue_size) {
    vu::Inflight req{0, 0, num_queues, queue_size, {}};
    auto m = call(Request::kGetInflightFd, bytes_of(req));
    if (!m) return std::unexpected(m.error());
    if (m->payload.size() != sizeof(vu::Inflight))
        return fail("GET_INFLIGHT_FD reply has {} bytes", m->payload.size());
    vu::Inflight rep;
    std::memcpy(&rep, m->payload.data(), sizeof rep);
    InflightArea a;
    a.mmap_size = rep.mmap_size;
    a.mmap_offset = rep.mmap_offset;
    a.num_queues = num_queues;
    a.queue_size = queue_size;
    if (rep.mmap_size == 0) {
        if (!m->fds.empty()) return fail("GET_INFLIGHT_FD reply without an area carries fds");
        return a;
    }
    if (m->fds.size() != 1)
        return fail("GET_INFLIGHT_FD reply carries {} fds, expected 1", m->fds.size());
    a.fd = std::move(m->fds[0]);
    return a;
}

Result<void> VhostClient::set_inflight_fd(const InflightArea& area) {
    vu::Inflight msg{area.mmap_size, area.mmap_offset, area.num_queues, area.queue_size, {}};
    int fds[1] = {area.fd.get()};
    return send(Request::kSetInflightFd, bytes_of(msg),
                area.fd ? std::span<const int>(fds) : std::span<const int>());
}

Result<void> VhostClient::set_status(uint8_t status) {
    uint64_t v = status;
    return send(Request::kSetStatus, bytes_of(v));
}

Result<uint8_t> VhostClient::get_status() {
    auto v = get_u64(Request::kGetStatus);
    if (!v) return std::unexpected(v.error());
    if (*v > 0xff) return fail("GET_STATUS returned {:#x}, more than a status byte", *v);
    return static_cast<uint8_t>(*v);
}

Result<void> VhostClient::reset_device() { return send(Request::kResetDevice); }

}  // namespace xenvhost::frontend
