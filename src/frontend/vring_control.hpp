#pragma once
// The messages that start and stop one ring on the back-end. Ring addresses
// are sent as the driver wrote them: with XEN_MMAP they are guest addresses
// (guest-physical or grant), which the memory table's regions translate
// one to one.

#include "base/error.hpp"
#include "frontend/request_client.hpp"
#include "frontend/vring_relay.hpp"

#include <cstdint>

namespace xenvhost::vhost_frontend {

// NUM, ADDR, BASE, CALL, ERR, KICK, then ENABLE when the back-end takes it
// (bit 30 negotiated): the call fd is in place before the ring can run.
Result<> start_ring(RequestClient& client, const Ring& ring, uint16_t base, bool send_enable);

// GET_VRING_BASE: stops the ring (the back-end finishes its in-flight
// requests first) and returns where it stopped.
Result<uint16_t> stop_ring(RequestClient& client, uint16_t index);

}  // namespace xenvhost::vhost_frontend
