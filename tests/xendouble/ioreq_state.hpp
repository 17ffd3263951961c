#pragma once
// The device model's side of the ioreq state files (ioreq_layout.hpp): what
// Xen keeps in the hypervisor for one domain's ioreq server, shared between
// the devicemodel, evtchn and foreign-resource handles of the process that
// runs under the double and the test playing the guest. Each library handle
// opens its own view; changes go through lock() so that two handles, two
// threads or two processes never interleave a check and its update.

#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "xendouble/ioreq_layout.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace xenvhost::xendouble {

class IoreqState {
public:
    // Opens dm-state and ioreq named by the environment ($XENDOUBLE_DIR,
    // $XENDOUBLE_DOMID, $XENDOUBLE_VCPUS if set). nullptr with errno and the
    // reason on stderr if they are missing or do not agree.
    static std::shared_ptr<IoreqState> open_from_env(const char* caller);

    const std::string& dir() const { return dir_; }
    uint32_t domid() const { return domid_; }
    uint32_t vcpus() const { return vcpus_; }
    int ioreq_fd() const { return ioreq_.get(); }
    DmState& dm() const { return *reinterpret_cast<DmState*>(dm_.data()); }
    // The vCPU's slot in the ioreq page (this process's own view).
    uint8_t* slot(unsigned vcpu) const { return page_.data() + vcpu * kIoreqSize; }

    // Holds the state across processes (flock) and threads (a mutex: flock
    // does not exclude threads sharing one open file).
    class Lock {
    public:
        explicit Lock(const IoreqState& s);
        ~Lock();
        Lock(const Lock&) = delete;
        Lock& operator=(const Lock&) = delete;

    private:
        const IoreqState& s_;
        std::lock_guard<std::mutex> guard_;
    };
    Lock lock() const { return Lock(*this); }

    void count(DmCounter c, uint64_t n = 1) const {
        std::atomic_ref<uint64_t>(dm().counters[c]).fetch_add(n, std::memory_order_relaxed);
    }
    // A store the test side may read at any time.
    template <typename T>
    static void publish(T& field, T value) {
        std::atomic_ref<T>(field).store(value, std::memory_order_release);
    }

private:
    std::string dir_;
    uint32_t domid_ = 0;
    uint32_t vcpus_ = 0;
    UniqueFd lock_fd_, ioreq_;
    Mapping dm_, page_;
    mutable std::mutex mutex_;
};

// The errno checks every domain-directed call shares: a handle restricted
// to another domain gets EPERM; an unrestricted one naming a domain that is
// not the guest gets ESRCH. 0 if the call may go on.
int domain_error(uint32_t guest, int64_t restricted /* -1: none */, uint32_t domid);

}  // namespace xenvhost::xendouble
