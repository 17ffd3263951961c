#include "xendouble/ioreq_state.hpp"

#include "xendouble/guest_state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace xenvhost::xendouble {

IoreqState::Lock::Lock(const IoreqState& s) : s_(s), guard_(s.mutex_) {
    // EINTR only: the fd is ours and open, so the lock is eventually granted.
    while (::flock(s_.lock_fd_.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
}

IoreqState::Lock::~Lock() { ::flock(s_.lock_fd_.get(), LOCK_UN); }

std::shared_ptr<IoreqState> IoreqState::open_from_env(const char* caller) {
    auto s = std::make_shared<IoreqState>();
    if (!dir_and_domid_from_env(caller, s->dir_, s->domid_)) return nullptr;
    const std::string path = s->dir_ + "/" + kDmStateFile;
    s->lock_fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!s->lock_fd_) {
        int e = errno;
        note(true, "%s: cannot open %s (did the test create the ioreq state?): %s", caller, path.c_str(),
             std::strerror(e));
        errno = e;
        return nullptr;
    }
    if (!map_file(s->dir_, kDmStateFile, sizeof(DmState), PROT_READ | PROT_WRITE, s->dm_) ||
        !map_file(s->dir_, kIoreqFile, 4096, PROT_READ | PROT_WRITE, s->page_))
        return nullptr;
    const DmState& dm = s->dm();
    s->vcpus_ = std::atomic_ref<const uint32_t>(dm.vcpus).load(std::memory_order_acquire);
    if (std::atomic_ref<const uint32_t>(dm.magic).load(std::memory_order_acquire) != kDmStateMagic ||
        s->vcpus_ == 0 || s->vcpus_ > kMaxVcpus) {
        note(true, "%s: %s is not an ioreq state file (magic or vCPU count wrong)", caller, path.c_str());
        errno = EINVAL;
        return nullptr;
    }
    if (const char* v = std::getenv(kVcpusEnv); v && *v && std::strtoul(v, nullptr, 10) != s->vcpus_) {
        note(true, "%s: %s=%s but %s was made for %u vCPUs", caller, kVcpusEnv, v, path.c_str(), s->vcpus_);
        errno = EINVAL;
        return nullptr;
    }
    s->ioreq_ = UniqueFd(::open((s->dir_ + "/" + kIoreqFile).c_str(), O_RDWR | O_CLOEXEC));
    if (!s->ioreq_) return nullptr;
    note(false, "%s: ioreq state in %s, domain %u, %u vCPUs", caller, s->dir_.c_str(), s->domid_, s->vcpus_);
    return s;
}

int domain_error(uint32_t guest, int64_t restricted, uint32_t domid) {
    if (restricted >= 0 && (static_cast<uint32_t>(restricted) != domid || domid != guest)) return EPERM;
    if (domid != guest) return ESRCH;
    return 0;
}

}  // namespace xenvhost::xendouble
