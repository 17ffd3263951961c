#pragma once
// A fuzz_session input under construction (layout in common/formats.hpp):
// the pool and config, then front-end messages with their fds, guest memory
// writes, kicks, raw bytes and reconnects. Plus the flag and fd values the
// session seeds pass again and again.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/seed_writer.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::fuzz::seeds {

class SessionSeed {
public:
    SessionSeed(uint8_t cfg, uint8_t log2_max, uint16_t domid, std::vector<uint8_t> pool_pages) {
        w_.u8(cfg).u8(log2_max).u16(domid).u8(static_cast<uint8_t>(pool_pages.size()));
        for (uint8_t p : pool_pages) w_.u8(p);
    }
    SessionSeed& msg(vhost_user::Request r, uint32_t flags, const std::vector<uint8_t>& payload,
                     std::vector<uint8_t> fds = {}) {
        w_.u8(session_op::kMsg).u32(static_cast<uint32_t>(r)).u32(flags).blob(payload);
        w_.u8(static_cast<uint8_t>(fds.size()));
        for (uint8_t f : fds) w_.u8(f);
        return *this;
    }
    SessionSeed& poke(uint64_t gpa, const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kPoke).u8(0).u32(static_cast<uint32_t>(gpa)).blob(bytes);
        return *this;
    }
    // Writes into the back-end's inflight area (the fd it sent last).
    SessionSeed& poke_backend(uint32_t offset, const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kPoke).u8(kSessionPokeBackend).u32(offset).blob(bytes);
        return *this;
    }
    SessionSeed& kick(uint8_t ring) {
        w_.u8(session_op::kKick).u8(ring);
        return *this;
    }
    SessionSeed& raw_tail(const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kRaw).blob(bytes);
        return *this;
    }
    SessionSeed& reconnect() {
        w_.u8(session_op::kReconnect);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

inline constexpr uint32_t kReq = vhost_user::kVersion;
inline constexpr uint32_t kAck = vhost_user::kVersion | vhost_user::kFlagNeedReply;
inline constexpr uint8_t kFdPool0 = session_fd::kPool | 0;
inline constexpr uint8_t kFdEvent = session_fd::kEventfd;
inline constexpr uint8_t kFdBackend = session_fd::kOther | 0x20;
inline constexpr uint8_t kFdDevNull = session_fd::kOther | 0x00;

inline uint8_t queues_cfg(unsigned queues) {
    return static_cast<uint8_t>((queues - 1) << session_cfg::kQueuesShift);
}

inline std::vector<uint8_t> u64b(uint64_t v) { return raw(v); }
inline std::vector<uint8_t> state(uint32_t index, uint32_t num) {
    return raw(vhost_user::VringState{index, num});
}

}  // namespace xenvhost::fuzz::seeds
