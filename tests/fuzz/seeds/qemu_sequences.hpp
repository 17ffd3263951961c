#pragma once
// The message sequences QEMU 7.2's vhost-user-blk sends, which most session
// seeds start from: connecting, starting the device, stopping it.

#include "seeds/session_seed.hpp"

namespace xenvhost::fuzz::seeds {

// On connection (vhost_dev_init, vhost_user_blk_realize): features, protocol
// features (with XEN_MMAP for a Xen front-end), queue count, slots, config.
void qemu_connect(SessionSeed& s, bool xen = false);

enum class InflightStep { kNone, kGetAndSet, kSetOnly };

// When the guest driver starts the device (vhost_user_blk_start):
// GET_INFLIGHT_FD only the first time, SET_INFLIGHT_FD on every start; the
// memory as one SET_MEM_TABLE or one ADD_MEM_REG; then every ring.
void qemu_start(SessionSeed& s, unsigned queues, bool add_mem_reg,
                InflightStep inflight = InflightStep::kGetAndSet);

// GET_VRING_BASE on every queue.
void qemu_stop(SessionSeed& s, unsigned queues);

}  // namespace xenvhost::fuzz::seeds
