#include "worker/queue_thread.hpp"

#include "base/eventfd.hpp"
#include "base/log.hpp"
#include "memory/wait_work.hpp"

#include <sys/epoll.h>

#include <array>
#include <cstring>

namespace xenvhost::worker {
namespace {
enum : uint64_t { kTagKick = 1, kTagWake = 2, kTagCompletion = 3 };

Result<> watch(int epfd, int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return fail_errno("epoll_ctl");
    return {};
}
}  // namespace

Result<std::unique_ptr<QueueThread>> QueueThread::start(const vhost_user::VringStart& s,
                                                        devices::Device& device, queue::QueueStats& stats) {
    if (!s.memory) return fail("no guest memory");
    auto ring = s.map_on_ring_thread ? virtio::SplitRing::make(s.size, s.addrs, s.event_idx, s.last_avail)
                                     : virtio::SplitRing::map(*s.memory, s.size, s.addrs, s.event_idx, s.last_avail);
    if (!ring) return std::unexpected(ring.error());
    auto handler = device.make_queue_handler(s.index, s.size);
    if (!handler) return fail("device refused queue {}", s.index);
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return fail_errno("epoll_create1");
    UniqueFd epoll(ep);
    auto wake = make_eventfd();
    if (!wake) return std::unexpected(wake.error());
    if (auto r = watch(ep, s.kick_fd, kTagKick); !r) return std::unexpected(r.error());
    if (auto r = watch(ep, wake->get(), kTagWake); !r) return std::unexpected(r.error());
    if (handler->completion_fd() >= 0)
        if (auto r = watch(ep, handler->completion_fd(), kTagCompletion); !r) return std::unexpected(r.error());
    auto q = std::make_unique<QueueThread>(std::move(*ring), s, std::move(handler), stats, std::move(epoll),
                                           std::move(*wake));
    q->thread_ = std::thread([p = q.get()] { p->run(); });
    return q;
}

QueueThread::QueueThread(virtio::SplitRing ring, const vhost_user::VringStart& s,
                         std::unique_ptr<devices::QueueHandler> handler, queue::QueueStats& stats,
                         UniqueFd epoll, UniqueFd wake)
    : engine_(std::move(ring), queue::EngineSetup{s.index, s.indirect, s.features, s.err, s.inflight, s.verify_guest_writes}, s.memory,
              std::move(handler), stats),
      index_(s.index),
      kick_fd_(s.kick_fd),
      stats_(stats),
      epoll_(std::move(epoll)),
      wake_(std::move(wake)),
      call_(s.call) {}

QueueThread::~QueueThread() {
    if (thread_.joinable()) stop();
}

uint16_t QueueThread::stop() {
    {
        std::lock_guard lock(cmd_mutex_);
        stop_requested_ = true;
    }
    eventfd_signal(wake_.get());
    if (thread_.joinable()) thread_.join();
    return next_avail_;
}

void QueueThread::set_call(std::shared_ptr<UniqueFd> call) {
    std::lock_guard lock(call_mutex_);
    call_ = std::move(call);
}

Result<> QueueThread::set_memory(std::shared_ptr<const memory::GuestMemory> memory) {
    std::unique_lock lock(cmd_mutex_);
    new_memory_ = std::move(memory);
    memory_pending_ = true;
    const uint64_t generation = ++memory_generation_;
    eventfd_signal(wake_.get());
    cmd_done_.wait(lock, [&] { return memory_applied_ >= generation || stopped_; });
    if (memory_result_) {
        Error e = *memory_result_;
        memory_result_.reset();
        return std::unexpected(e);
    }
    return {};
}

void QueueThread::report(std::string prefix) {
    {
        std::lock_guard lock(cmd_mutex_);
        report_prefix_ = std::move(prefix);
    }
    eventfd_signal(wake_.get());
}

void QueueThread::handle_commands() {
    std::lock_guard lock(cmd_mutex_);
    if (report_prefix_) {
        log::info("{}{}", *report_prefix_, engine_.describe());
        report_prefix_.reset();
    }
    if (memory_pending_) {
        memory_pending_ = false;
        if (auto r = engine_.set_memory(std::move(new_memory_)); !r) memory_result_ = r.error();
        memory_applied_ = memory_generation_;
        cmd_done_.notify_all();
    }
}

void QueueThread::publish() {
    if (!engine_.publish()) return;
    std::lock_guard lock(call_mutex_);
    if (call_ && call_->valid()) {
        eventfd_signal(call_->get());
        stats_.notifications.fetch_add(1, std::memory_order_relaxed);
    }
}

void QueueThread::run() {
    // While a translation waits for the front-end (an IOTLB MISS), the
    // requests already started still complete: an invalidation may be
    // waiting for them, and the front-end answers the MISS only after it.
    memory::WaitWork reap_meanwhile([this] {
        engine_.flush();
        engine_.reap();
        publish();
    });
    engine_.attach();
    // Entries may already be waiting (a kick that came before this thread).
    engine_.process_available();
    publish();
    std::array<epoll_event, 8> events;
    bool stopping = false;
    for (;;) {
        if (stopping && engine_.in_flight() == 0) break;
        int n = ::epoll_wait(epoll_.get(), events.data(), events.size(), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            log::error("queue {}: epoll_wait: {}", index_, std::strerror(errno));
            break;
        }
        bool kicked = false;
        for (int i = 0; i < n; ++i) {
            switch (events[i].data.u64) {
                case kTagKick:
                    eventfd_drain(kick_fd_);
                    kicked = true;
                    break;
                case kTagCompletion: engine_.reap(); break;
                case kTagWake: {
                    eventfd_drain(wake_.get());
                    handle_commands();
                    std::lock_guard lock(cmd_mutex_);
                    if (stop_requested_) stopping = true;
                    break;
                }
            }
        }
        if (kicked && !stopping) engine_.process_available();
        publish();
    }
    publish();
    next_avail_ = engine_.stop();
    std::lock_guard lock(cmd_mutex_);
    stopped_ = true;
    cmd_done_.notify_all();
}

}  // namespace xenvhost::worker
