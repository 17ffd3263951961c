#include "frontend/ioreq_guest.hpp"

#include "frontend/clock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

extern "C" {
#include <xen/hvm/ioreq.h>
}

namespace xenvhost::frontend {

namespace xd = xendouble;

// The guest writes ioreq_t by offset; these are the header's.
static_assert(sizeof(ioreq_t) == xd::kIoreqSize);
static_assert(offsetof(ioreq_t, addr) == xd::kIoreqAddr && offsetof(ioreq_t, data) == xd::kIoreqData);
static_assert(offsetof(ioreq_t, count) == xd::kIoreqCount && offsetof(ioreq_t, size) == xd::kIoreqSizeField);
static_assert(offsetof(ioreq_t, vp_eport) == xd::kIoreqPort && offsetof(ioreq_t, type) == xd::kIoreqType);
static_assert(sizeof(xd::DmState) % 8 == 0 && xd::kMaxVcpus * xd::kIoreqSize <= xd::kPageSize);

namespace {

template <typename T>
std::atomic_ref<T> field(uint8_t* slot, size_t offset) {
    return std::atomic_ref<T>(*reinterpret_cast<T*>(slot + offset));
}

uint8_t slot_state(uint8_t* slot) {
    return field<uint8_t>(slot, xd::kIoreqFlags).load(std::memory_order_acquire) & xd::kFlagStateMask;
}

Result<Mapping> create_mapped(const std::string& path, size_t size, UniqueFd* keep = nullptr) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("create {}", path);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail_errno("size {}", path);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return fail_errno("map {}", path);
    if (keep) *keep = std::move(fd);
    return Mapping(p, size);
}

bool make_address(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

uint64_t all_ones(unsigned size) { return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; }

}  // namespace

Result<std::unique_ptr<IoreqGuest>> IoreqGuest::create(const std::string& dir, uint32_t domid, unsigned vcpus) {
    if (vcpus == 0 || vcpus > xd::kMaxVcpus) return fail("{} vCPUs: the ioreq page holds 1 to {}", vcpus, xd::kMaxVcpus);
    std::unique_ptr<IoreqGuest> g(new IoreqGuest);  // private constructor: make_unique cannot reach it
    g->dir_ = dir;
    g->domid_ = domid;
    g->vcpus_ = vcpus;
    auto page = create_mapped(dir + "/" + xd::kIoreqFile, xd::kPageSize);
    if (!page) return std::unexpected(page.error());
    g->page_ = std::move(*page);
    auto state = create_mapped(dir + "/" + xd::kDmStateFile, sizeof(xd::DmState), &g->dm_fd_);
    if (!state) return std::unexpected(state.error());
    g->dm_ = std::move(*state);
    std::atomic_ref<uint32_t>(g->dm().vcpus).store(vcpus, std::memory_order_relaxed);
    for (unsigned v = 0; v < xd::kMaxVcpus; ++v) g->dm().bindings[v].state = xd::kPortClosed;  // no server yet
    // Last: the double refuses a file without it.
    std::atomic_ref<uint32_t>(g->dm().magic).store(xd::kDmStateMagic, std::memory_order_release);
    g->vcpu_mutex_ = std::make_unique<std::mutex[]>(vcpus);
    for (unsigned v = 0; v < vcpus; ++v) {
        const std::string path = xd::guest_port_socket(dir, xd::kGuestPortBase + v);
        sockaddr_un addr;
        if (!make_address(path, addr)) return fail("socket path {} too long", path);
        UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!fd) return fail_errno("socket");
        ::unlink(path.c_str());
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
            return fail_errno("bind {}", path);
        g->ports_.push_back(std::move(fd));
    }
    return g;
}

IoreqGuest::~IoreqGuest() {
    for (unsigned v = 0; v < ports_.size(); ++v) ::unlink(xd::guest_port_socket(dir_, xd::kGuestPortBase + v).c_str());
}

std::vector<std::pair<std::string, std::string>> IoreqGuest::environment() const {
    return {{xd::kDirEnv, dir_}, {xd::kDomidEnv, std::to_string(domid_)}, {xd::kVcpusEnv, std::to_string(vcpus_)}};
}

Result<uint64_t> IoreqGuest::mmio_read(uint64_t addr, unsigned size, unsigned vcpu) {
    if (size != 1 && size != 2 && size != 4 && size != 8) return fail("MMIO read of {} bytes", size);
    return access(vcpu, {IOREQ_TYPE_COPY, true, addr, 0, size, 1, fmt::format("MMIO read {:#x}/{}", addr, size)});
}

Result<void> IoreqGuest::mmio_write(uint64_t addr, unsigned size, uint64_t value, unsigned vcpu) {
    if (size != 1 && size != 2 && size != 4 && size != 8) return fail("MMIO write of {} bytes", size);
    auto r = access(vcpu, {IOREQ_TYPE_COPY, false, addr, value & all_ones(size), size, 1,
                           fmt::format("MMIO write {:#x}/{} = {:#x}", addr, size, value)});
    if (!r) return std::unexpected(r.error());
    return {};
}

// Xen's PCI config ioreq: the SBDF in the upper 32 bits of addr, the
// register (extended config space included) in the lower.
Result<uint64_t> IoreqGuest::pci_config_read(uint32_t sbdf, uint32_t reg, unsigned size, unsigned vcpu) {
    if ((size != 1 && size != 2 && size != 4) || reg > 0xfff) return fail("PCI config read {:#x}/{}", reg, size);
    return access(vcpu, {IOREQ_TYPE_PCI_CONFIG, true, (uint64_t{sbdf} << 32) | reg, 0, size, 1,
                         fmt::format("PCI config read {:#x} reg {:#x}/{}", sbdf, reg, size)});
}

Result<void> IoreqGuest::pci_config_write(uint32_t sbdf, uint32_t reg, unsigned size, uint64_t value, unsigned vcpu) {
    if ((size != 1 && size != 2 && size != 4) || reg > 0xfff) return fail("PCI config write {:#x}/{}", reg, size);
    auto r = access(vcpu, {IOREQ_TYPE_PCI_CONFIG, false, (uint64_t{sbdf} << 32) | reg, value & all_ones(size), size, 1,
                           fmt::format("PCI config write {:#x} reg {:#x}/{} = {:#x}", sbdf, reg, size, value)});
    if (!r) return std::unexpected(r.error());
    return {};
}

// As Xen's send_invalidate_ioreq: size 4, a write of ~0.
Result<void> IoreqGuest::invalidate(unsigned vcpu) {
    auto r = access(vcpu, {IOREQ_TYPE_INVALIDATE, false, 0, ~uint64_t{0}, 4, 0, "invalidate"});
    if (!r) return std::unexpected(r.error());
    return {};
}

Result<uint64_t> IoreqGuest::access(unsigned vcpu, const Request& r) {
    if (vcpu >= vcpus_) return fail("{}: no vCPU {} (the guest has {})", r.what, vcpu, vcpus_);
    if (!claimed(r.type, r.addr, r.size)) {
        // Xen's null handler.
        unclaimed_.fetch_add(1);
        return r.read ? all_ones(r.size) : 0;
    }
    std::lock_guard lock(vcpu_mutex_[vcpu]);
    return send_and_wait(vcpu, r);
}

Result<uint64_t> IoreqGuest::send_and_wait(unsigned vcpu, const Request& r) {
    uint8_t* s = slot(vcpu);
    if (uint8_t st = slot_state(s); st != STATE_IOREQ_NONE)
        return fail("{} on vCPU {}: its slot is busy (state {}), an earlier request was never answered", r.what,
                    vcpu, st);
    char stale[64];  // events left from an earlier request are not this one's answer
    while (::recv(ports_[vcpu].get(), stale, sizeof stale, MSG_DONTWAIT) > 0) {
    }
    field<uint64_t>(s, xd::kIoreqAddr).store(r.addr, std::memory_order_relaxed);
    field<uint64_t>(s, xd::kIoreqData).store(r.data, std::memory_order_relaxed);
    field<uint32_t>(s, xd::kIoreqCount).store(r.count, std::memory_order_relaxed);
    field<uint32_t>(s, xd::kIoreqSizeField).store(r.size, std::memory_order_relaxed);
    field<uint8_t>(s, xd::kIoreqType).store(r.type, std::memory_order_relaxed);
    // State, dir and data_is_ptr share a byte; one release store publishes all.
    field<uint8_t>(s, xd::kIoreqFlags)
        .store(STATE_IOREQ_READY | (r.read ? xd::kFlagDirRead : 0), std::memory_order_release);
    std::atomic_ref<uint64_t>(dm().counters[xd::kGuestRequests]).fetch_add(1, std::memory_order_relaxed);
    if (auto sig = signal(vcpu, r.what); !sig) {
        field<uint8_t>(s, xd::kIoreqFlags).store(STATE_IOREQ_NONE, std::memory_order_release);
        return std::unexpected(sig.error());
    }
    const int64_t deadline = now_ms() + timeout_ms_;
    bool notified = false;
    for (;;) {
        if (notified && slot_state(s) == STATE_IORESP_READY) {
            const uint64_t data = field<uint64_t>(s, xd::kIoreqData).load(std::memory_order_acquire);
            field<uint8_t>(s, xd::kIoreqFlags).store(STATE_IOREQ_NONE, std::memory_order_release);
            return r.read ? data & all_ones(r.size) : 0;
        }
        const int64_t left = deadline - now_ms();
        if (left <= 0) {
            const uint8_t st = slot_state(s);
            return fail("{} on vCPU {}: no answer within {} ms (slot state {}{})", r.what, vcpu, timeout_ms_, st,
                        st == STATE_IORESP_READY ? ": answered but the device model never notified the port" : "");
        }
        pollfd pfd{ports_[vcpu].get(), POLLIN, 0};
        int n = ::poll(&pfd, 1, static_cast<int>(left));
        if (n < 0 && errno != EINTR) return fail_errno("{}: poll", r.what);
        if (n > 0) {
            uint32_t port = 0;
            if (::recv(ports_[vcpu].get(), &port, sizeof port, MSG_DONTWAIT) == sizeof port) notified = true;
        }
    }
}

// Xen sets the device model's bound port pending. On a port nobody bound
// Xen drops the event and the vCPU would wait forever; the test is told now.
Result<void> IoreqGuest::signal(unsigned vcpu, const std::string& what) {
    const xd::DmBinding& b = dm().bindings[vcpu];
    const uint32_t state = std::atomic_ref<const uint32_t>(b.state).load(std::memory_order_acquire);
    const uint32_t local = std::atomic_ref<const uint32_t>(b.local_port).load(std::memory_order_acquire);
    const uint32_t handle = std::atomic_ref<const uint32_t>(b.handle).load(std::memory_order_acquire);
    if (state != xd::kPortBound)
        return fail("{} on vCPU {}: the device model has not bound port {} (wait_ready() first?)", what, vcpu,
                    xd::kGuestPortBase + vcpu);
    sockaddr_un addr;
    const std::string path = xd::dm_handle_socket(dir_, handle);
    if (!make_address(path, addr)) return fail("socket path {} too long", path);
    // A full queue means the device model has events to read: this one coalesces.
    if (::sendto(ports_[vcpu].get(), &local, sizeof local, MSG_NOSIGNAL | MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != sizeof local &&
        errno != EAGAIN)
        return fail_errno("{} on vCPU {}: the device model's event channel handle {} is gone", what, vcpu, handle);
    return {};
}

}  // namespace xenvhost::frontend
