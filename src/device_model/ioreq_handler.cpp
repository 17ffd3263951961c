#include "device_model/ioreq_handler.hpp"

#include "base/log.hpp"

#include <xen/hvm/ioreq.h>

#include <atomic>

namespace xenvhost::device_model {
namespace {

// The slot is shared with the hypervisor: its state byte is read and written
// through a volatile view, ordered against the payload by fences.
uint8_t state_of(const ioreq& slot) { return static_cast<const volatile ioreq&>(slot).state; }
void set_state(ioreq& slot, uint8_t state) { static_cast<volatile ioreq&>(slot).state = state & 0xf; }

bool valid_size(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

}  // namespace

bool IoreqHandler::handle(ioreq& slot) {
    if (state_of(slot) != STATE_IOREQ_READY) return false;
    std::atomic_thread_fence(std::memory_order_acquire);
    ioreq req = slot;  // one consistent copy; the guest's vCPU waits for our answer
    set_state(slot, STATE_IOREQ_INPROCESS);
    uint64_t value = 0;
    const bool read = req.dir == IOREQ_READ;
    switch (req.type) {
    case IOREQ_TYPE_COPY:
    case IOREQ_TYPE_PCI_CONFIG:
        // Repeated (rep movs) or indirect data would need copies through
        // guest memory; virtio drivers use single loads and stores.
        if (req.data_is_ptr || req.count != 1 || !valid_size(req.size)) {
            if (counters_.refused++ == 0)
                log::warn("refused ioreq type {} addr {:#x} size {} count {} indirect {}", req.type, req.addr,
                          req.size, req.count, unsigned{req.data_is_ptr});
            value = ~uint64_t{0};
            break;
        }
        if (req.type == IOREQ_TYPE_COPY) {
            ++counters_.mmio;
            value = router_.mmio(req.addr, static_cast<uint8_t>(req.size), !read, req.data);
        } else {
            ++counters_.pci_config;
            value = router_.pci_config(static_cast<uint32_t>(req.addr >> 32), static_cast<uint32_t>(req.addr & 0xfff),
                                       static_cast<uint8_t>(req.size), !read, req.data);
        }
        break;
    case IOREQ_TYPE_INVALIDATE:
        // The guest released memory (XENMEM_decrease_reservation): QEMU
        // flushes its map cache here. This device model maps no guest RAM,
        // but its back-ends do: they are told to map again.
        ++counters_.invalidate;
        if (on_invalidate_) on_invalidate_();
        break;
    default:
        ++counters_.other;
        value = ~uint64_t{0};
        break;
    }
    if (read) {
        if (req.size < 8) value &= (uint64_t{1} << (8 * req.size)) - 1;
        static_cast<volatile ioreq&>(slot).data = value;
    }
    std::atomic_thread_fence(std::memory_order_release);
    set_state(slot, STATE_IORESP_READY);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return true;
}

}  // namespace xenvhost::device_model
