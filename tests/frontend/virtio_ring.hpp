#pragma once
// <linux/virtio_ring.h> for C++: its legacy vring_init() assigns void* to
// typed pointers, which C++ rejects; the legacy part is not needed here.
#ifndef VIRTIO_RING_NO_LEGACY
#define VIRTIO_RING_NO_LEGACY
#endif
#include <linux/virtio_ring.h>
