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
                                                        devices::Device& device, QueueStats& stats) {
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
                         std::unique_ptr<devices::QueueHandler> handler, QueueStats& stats,
                         UniqueFd epoll, UniqueFd wake)
    : ring_(std::move(ring)),
      index_(s.index),
      kick_fd_(s.kick_fd),
      err_(s.err),
      memory_(s.memory),
      handler_(std::move(handler)),
      stats_(stats),
      epoll_(std::move(epoll)),
      wake_(std::move(wake)),
      walker_(s.size, s.indirect),
      slots_(s.size),
      in_flight_(s.size, 0),
      inflight_area_(s.inflight),
      features_(s.features),
      call_(s.call) {
    if (ring_.attached()) setup_inflight();
}

void QueueThread::setup_inflight() {
    if (!inflight_area_) return;
    uint8_t* area = inflight_area_->queue(index_, ring_.size());
    if (!area) {
        log::warn("queue {}: the inflight area ({} queues of {}) does not cover this ring of {}; "
                  "in-flight requests will not survive a restart",
                  index_, inflight_area_->num_queues, inflight_area_->queue_size, ring_.size());
        return;
    }
    inflight_.emplace(area, ring_.size());
    if (auto heads = inflight_->recover(ring_.used_idx(), features_)) {
        // Every head the previous back-end took is either used or still in flight.
        ring_.set_last_avail(static_cast<uint16_t>(ring_.used_idx() + heads->size()));
        resubmit_ = std::move(*heads);
        if (!resubmit_.empty())
            log::info("queue {}: resubmitting {} requests in flight before the restart", index_, resubmit_.size());
    }
}

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
    return ring_.last_avail();
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

void QueueThread::handle_commands() {
    std::lock_guard lock(cmd_mutex_);
    if (memory_pending_) {
        memory_pending_ = false;
        memory_ = std::move(new_memory_);
        if (!memory_ && ring_.attached()) {
            // The memory was removed under a running ring: keep no mapping of
            // it (a grant must not outlive REM_MEM_REG).
            mark_broken("guest memory removed while the ring runs");
            ring_.detach();
        } else if (memory_ && ring_.attached()) {
            if (auto r = ring_.remap(*memory_); !r) {
                memory_result_ = r.error();
                mark_broken(r.error().message);
            }
        }
        memory_applied_ = memory_generation_;
        cmd_done_.notify_all();
    }
}

void QueueThread::mark_broken(std::string_view why) {
    if (broken_) return;
    broken_ = true;
    stats_.broken_queues++;
    log::warn("queue {}: guest error, queue stopped: {}", index_, why);
    if (err_ && err_->valid()) eventfd_signal(err_->get());
}

void QueueThread::complete(uint16_t slot, uint32_t written) {
    if (slot >= in_flight_.size() || !in_flight_[slot]) {
        log::error("queue {}: completion for slot {} that is not in flight", index_, slot);
        return;
    }
    // The mapping goes before the guest can see the completion (grants
    // must be unmapped before the front-end may revoke them).
    slots_[slot].release();
    in_flight_[slot] = 0;
    if (!ring_.attached()) return;  // the ring's memory is gone: nowhere to publish
    ring_.push_used(slot, written);
    if (inflight_) inflight_->used(slot);
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
}

void QueueThread::publish() {
    if (!ring_.attached() || !ring_.has_unpublished()) return;
    const bool notify = ring_.publish();
    if (inflight_) inflight_->published(ring_.used_idx());
    if (notify) {
        std::lock_guard lock(call_mutex_);
        if (call_ && call_->valid()) {
            eventfd_signal(call_->get());
            stats_.notifications.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void QueueThread::process_available() {
    if (broken_ || !memory_ || !ring_.attached()) return;
    bool started_any = false;
    // What an earlier back-end had taken but not completed goes first, in order.
    for (size_t i = 0; i < resubmit_.size() && !broken_; ++i) started_any |= submit(resubmit_[i]);
    resubmit_.clear();
    for (;;) {
        if (broken_) break;
        auto avail = ring_.available();
        if (!avail) {
            mark_broken(avail.error().message);
            break;
        }
        if (*avail == 0) {
            if (!ring_.arm_kick()) break;
            continue;
        }
        for (uint16_t i = 0; i < *avail && !broken_; ++i) {
            const uint16_t head = ring_.pop();
            if (head < in_flight_.size() && !in_flight_[head] && inflight_) inflight_->taken(head);
            started_any |= submit(head);
        }
    }
    if (started_any) handler_->flush();
}

bool QueueThread::submit(uint16_t head) {
    if (head >= in_flight_.size()) {
        mark_broken("head index out of range");
        return false;
    }
    if (in_flight_[head]) {
        mark_broken("head made available again while in flight");
        return false;
    }
    if (auto w = walker_.walk(ring_.desc_table(), head, *memory_, chain_); !w) {
        mark_broken(virtio::describe(w.error()));
        return false;
    }
    auto& bufs = slots_[head];
    const auto mapped = memory_->map_buffers(chain_.buffers, bufs);
    if (!mapped) {
        bufs.release();
        if (mapped.error().kind == ErrorKind::kGuestFault) {  // outside guest memory
            mark_broken(mapped.error().message);
            return false;
        }
        // A mapping that failed (a revoked grant, a missing frame) fails
        // this request only.
        log::warn("queue {}: request {}: {}", index_, head, mapped.error().message);
        if (!map_status_only(bufs)) {
            in_flight_[head] = 1;
            complete(head, 0);
            return false;
        }
    }
    in_flight_[head] = 1;
    handler_->start(head, devices::Request{bufs.out, bufs.in, !mapped}, *this);
    return true;
}

bool QueueThread::map_status_only(memory::MappedBuffers& bufs) {
    // The device answers a request it cannot read with an error in the last
    // device-writable byte, so map just that byte.
    for (auto it = chain_.buffers.rbegin(); it != chain_.buffers.rend(); ++it) {
        if (!it->writable) continue;
        memory::GuestBuffer status{it->gpa + it->len - 1, 1, true};
        if (!memory_->map_buffers({&status, 1}, bufs)) {
            bufs.release();
            return false;
        }
        return true;
    }
    return false;
}

void QueueThread::run() {
    // While a translation waits for the front-end (an IOTLB MISS), the
    // requests already started still complete: an invalidation may be
    // waiting for them, and the front-end answers the MISS only after it.
    memory::WaitWork reap_meanwhile([this] {
        handler_->flush();
        handler_->reap(*this);
        publish();
    });
    if (!ring_.attached()) {
        if (auto r = ring_.attach(*memory_); !r) mark_broken(r.error().message);
        else setup_inflight();
    }
    // Entries may already be waiting (a kick that came before this thread).
    process_available();
    publish();
    std::array<epoll_event, 8> events;
    bool stopping = false;
    for (;;) {
        if (stopping && handler_->in_flight() == 0) break;
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
                case kTagCompletion: handler_->reap(*this); break;
                case kTagWake: {
                    eventfd_drain(wake_.get());
                    handle_commands();
                    std::lock_guard lock(cmd_mutex_);
                    if (stop_requested_) stopping = true;
                    break;
                }
            }
        }
        if (kicked && !stopping) process_available();
        publish();
    }
    publish();
    std::lock_guard lock(cmd_mutex_);
    stopped_ = true;
    cmd_done_.notify_all();
}

}  // namespace xenvhost::worker
