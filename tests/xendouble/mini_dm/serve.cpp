// xendouble-mini-dm's ioreq loop, as a device model answers its vCPUs: on
// an event, find the vCPU by port, take the READY request, answer it, mark
// it IORESP_READY, notify the port and unmask it.

#include "xendouble/mini_dm/mini_dm_server.hpp"

#include <poll.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xenvhost::xendouble::mini_dm {

namespace {

// state shares its byte with dir and data_is_ptr: read it whole, with the
// ordering Xen's and QEMU's barriers give.
uint8_t state_of(const ioreq_t& req) {
    const auto state = static_cast<uint8_t>(req.state);
    std::atomic_thread_fence(std::memory_order_acquire);
    return state;
}

uint64_t mask(uint64_t v, uint32_t size) { return size >= 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1); }

}  // namespace

uint64_t Server::mmio_read(unsigned vcpu, uint64_t offset) {
    switch (offset) {
        case kRegId: return kIdValue;
        case kRegScratch: return scratch_;
        case kRegInvalidates: return invalidates_;
        case kRegVcpu: return vcpu;
        case kRegWrites: return writes_;
        default: return 0;
    }
}

void Server::mmio_write(uint64_t offset, uint64_t value) {
    ++writes_;
    std::printf("write %#llx = %#llx\n", static_cast<unsigned long long>(offset), static_cast<unsigned long long>(value));
    if (offset == kRegScratch) scratch_ = value;
    if (offset == kRegIrq) {
        const unsigned level = value & 1;
        if (xendevicemodel_set_pci_intx_level(dm_, domid_, 0, 0, kPciDevice, 0, level) < 0 ||
            xendevicemodel_set_irq_level(dm_, domid_, kIsaIrq, level) < 0)
            std::printf("level %u failed: %s\n", level, std::strerror(errno));
    }
}

void Server::handle(unsigned vcpu, ioreq_t& req) {
    const bool read = req.dir == IOREQ_READ;
    if (req.data_is_ptr) {
        std::printf("data_is_ptr ioreq not handled\n");  // the guest side never sends one
    } else if (req.type == IOREQ_TYPE_COPY) {
        const uint64_t offset = req.addr - kMmioBase;
        if (read)
            req.data = mask(mmio_read(vcpu, offset), req.size);
        else
            mmio_write(offset, req.data);
    } else if (req.type == IOREQ_TYPE_PCI_CONFIG) {
        const uint32_t reg = static_cast<uint32_t>(req.addr) & 0xff;
        if (config_[0] == 0) std::memcpy(config_.data(), &kPciId, sizeof kPciId);
        if (read) {
            uint64_t v = 0;
            std::memcpy(&v, config_.data() + reg, std::min<size_t>(req.size, config_.size() - reg));
            req.data = v;
        } else if (reg >= 4) {  // the ID stays read-only
            std::memcpy(config_.data() + reg, &req.data, std::min<size_t>(req.size, config_.size() - reg));
        }
    } else if (req.type == IOREQ_TYPE_INVALIDATE) {
        ++invalidates_;  // a device model would flush its map cache here
    } else {
        std::printf("ioreq type %u not handled\n", req.type);
    }
}

bool Server::serve(int stop_fd) {
    const int fd = xenevtchn_fd(xce_);
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) {
        pollfd pfds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(pfds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (pfds[1].revents) return true;
        if (!pfds[0].revents) continue;
        const int port = xenevtchn_pending(xce_);
        if (port < 0) continue;  // only events for masked ports
        auto it = vcpu_of_port_.find(static_cast<evtchn_port_t>(port));
        if (it != vcpu_of_port_.end()) {
            ioreq_t& req = page_->vcpu_ioreq[it->second];
            if (state_of(req) == STATE_IOREQ_READY) {
                req.state = STATE_IOREQ_INPROCESS;
                handle(it->second, req);
                std::atomic_thread_fence(std::memory_order_release);
                req.state = STATE_IORESP_READY;
                if (xenevtchn_notify(xce_, static_cast<evtchn_port_t>(port)) < 0) return false;
            }
        }
        if (xenevtchn_unmask(xce_, static_cast<evtchn_port_t>(port)) < 0) return false;
        std::fflush(stdout);
    }
}

}  // namespace xenvhost::xendouble::mini_dm
