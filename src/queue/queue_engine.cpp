#include "queue/queue_engine.hpp"

#include "base/eventfd.hpp"
#include "base/log.hpp"

namespace xenvhost::queue {

QueueEngine::QueueEngine(virtio::SplitRing ring, const EngineSetup& s,
                         std::shared_ptr<const memory::GuestMemory> memory,
                         std::unique_ptr<devices::QueueHandler> handler, QueueStats& stats)
    : ring_(std::move(ring)),
      index_(s.index),
      features_(s.features),
      err_(s.err),
      memory_(std::move(memory)),
      handler_(std::move(handler)),
      stats_(stats),
      walker_(ring_.size(), s.indirect),
      slots_(ring_.size()),
      answers_(ring_.size()),
      in_flight_(ring_.size(), 0),
      inflight_area_(s.inflight),
      verify_(s.verify_writes) {
    if (verify_) written_bufs_.resize(ring_.size());
    if (ring_.attached()) setup_inflight();
}

void QueueEngine::attach() {
    if (ring_.attached() || broken_) return;
    if (!memory_) return mark_broken("no guest memory");
    if (auto r = ring_.attach(*memory_); !r) return mark_broken(r.error().message);
    setup_inflight();
}

void QueueEngine::setup_inflight() {
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

std::string QueueEngine::describe() const {
    if (!ring_.attached()) return fmt::format("queue {}: not attached{}", index_, broken_ ? ", broken" : "");
    // The indexes read again through mappings made now: if they differ from
    // the ring's own, the long-lived mapping no longer shows the guest's frames.
    const auto& a = ring_.addresses();
    uint16_t avail = 0, used = 0;
    std::string fresh = "unreadable";
    if (memory_ && memory_->read_fresh(a.avail + 2, {reinterpret_cast<uint8_t*>(&avail), 2}) &&
        memory_->read_fresh(a.used + 2, {reinterpret_cast<uint8_t*>(&used), 2}))
        fresh = fmt::format("avail {} used {}", avail, used);
    return fmt::format("queue {}: driver's avail idx {}, taken up to {}, used idx {} (published {}), {} in flight{}{}; "
                       "through a new mapping: {} (rings at {:#x} {:#x} {:#x})",
                       index_, ring_.avail_idx(), ring_.last_avail(), ring_.used_idx(), ring_.published_used(),
                       handler_->in_flight(), broken_ ? ", broken" : "", stopped_ ? ", stopped" : "", fresh, a.desc,
                       a.avail, a.used);
}

void QueueEngine::mark_broken(std::string_view why) {
    if (broken_) return;
    broken_ = true;
    stats_.broken_queues++;
    log::warn("queue {}: guest error, queue stopped: {}", index_, why);
    if (err_ && err_->valid()) eventfd_signal(err_->get());
}

Result<> QueueEngine::set_memory(std::shared_ptr<const memory::GuestMemory> memory) {
    memory_ = std::move(memory);
    if (!ring_.attached()) return {};
    if (!memory_) {
        // Keep no mapping of removed memory (a grant must not outlive REM_MEM_REG).
        mark_broken("guest memory removed while the ring runs");
        ring_.detach();
        return {};
    }
    if (auto r = ring_.remap(*memory_); !r) {
        mark_broken(r.error().message);
        return r;
    }
    return {};
}

void QueueEngine::complete(uint16_t slot, uint32_t written) {
    if (slot >= in_flight_.size() || !in_flight_[slot]) {
        log::error("queue {}: completion for slot {} that is not in flight", index_, slot);
        return;
    }
    // Copied buffers go back to the guest only while the ring runs on its
    // memory: after the memory went, a grant ref may name another page.
    if (auto f = ring_.attached() ? slots_[slot].finish() : Result<>{}; !f) {
        log::warn("queue {}: request {}: {}", index_, slot, f.error().message);
        if (!answering_ && answer_failed_finish(slot)) return;  // completed again from inside
        written = 0;  // nothing reliable reached the guest
    }
    if (verify_) verify_writes(slot);
    // The mapping goes before the guest can see the completion (grants
    // must be unmapped before the front-end may revoke them).
    slots_[slot].release();
    in_flight_[slot] = 0;
    if (!ring_.attached()) return;  // the ring's memory is gone: nowhere to publish
    ring_.push_used(slot, written);
    if (inflight_) inflight_->used(slot);
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
}

bool QueueEngine::answer_failed_finish(uint16_t slot) {
    auto& bufs = slots_[slot];
    bufs.release();
    const auto& answer = answers_[slot];
    if (!answer || !memory_ || !memory_->map_buffers({&*answer, 1}, bufs)) return false;
    // The device completes it at once (through complete(), which copies the
    // status byte back); answering_ keeps a second failure from looping.
    answering_ = true;
    handler_->start(slot, devices::Request{bufs.out, bufs.in, true}, *this);
    answering_ = false;
    return !in_flight_[slot];
}

void QueueEngine::verify_writes(uint16_t slot) {
    if (slot >= written_bufs_.size() || written_bufs_[slot].empty()) return;
    const auto* mem = static_cast<const memory::GuestMemory*>(slots_[slot].keep.get());
    if (!mem) return;
    // What the device wrote, in chain order, as the long-lived mapping holds it.
    std::vector<uint8_t> wrote;
    for (const iovec& v : slots_[slot].in)
        wrote.insert(wrote.end(), static_cast<const uint8_t*>(v.iov_base),
                     static_cast<const uint8_t*>(v.iov_base) + v.iov_len);
    std::vector<uint8_t> fresh;
    size_t at = 0;
    for (const auto& b : written_bufs_[slot]) {
        fresh.resize(b.len);
        stats_.write_checks.fetch_add(1, std::memory_order_relaxed);
        if (!mem->read_fresh(b.gpa, fresh) || at + b.len > wrote.size()) {
            at += b.len;
            continue;  // across regions, or not mappable now: nothing to compare
        }
        size_t first = b.len;
        for (size_t i = 0; i < b.len; ++i)
            if (fresh[i] != wrote[at + i]) {
                first = i;
                break;
            }
        if (first != b.len) {
            stats_.write_mismatches.fetch_add(1, std::memory_order_relaxed);
            log::error("queue {}: request {}: buffer at gpa {:#x} ({} bytes) differs through a new mapping from byte {} "
                       "on: the guest would not see what the device wrote",
                       index_, slot, b.gpa, b.len, first);
        }
        at += b.len;
    }
    written_bufs_[slot].clear();
}

bool QueueEngine::publish() {
    if (!ring_.attached() || !ring_.has_unpublished()) return false;
    const bool notify = ring_.publish();
    if (inflight_) inflight_->published(ring_.used_idx());
    return notify;
}

uint16_t QueueEngine::stop() {
    stopped_ = true;
    return ring_.last_avail();
}

void QueueEngine::process_available(unsigned rounds) {
    if (broken_ || stopped_ || !memory_ || !ring_.attached()) return;
    bool started_any = false;
    // What an earlier back-end had taken but not completed goes first, in order.
    for (size_t i = 0; i < resubmit_.size() && !broken_; ++i) started_any |= submit(resubmit_[i]);
    resubmit_.clear();
    for (unsigned round = 0; round < rounds && !broken_;) {
        auto avail = ring_.available();
        if (!avail) {
            mark_broken(avail.error().message);
            break;
        }
        if (*avail == 0) {
            if (!ring_.arm_kick()) break;
            ++round;
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

bool QueueEngine::submit(uint16_t head) {
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
        // A mapping that failed (a revoked grant, a missing frame) fails this
        // request only: the device answers it through the bytes it names, if any.
        log::warn("queue {}: request {}: {}", index_, head, mapped.error().message);
        const auto answer = handler_->answer_unmapped(chain_.buffers);
        if (!answer || !memory_->map_buffers({&*answer, 1}, bufs)) {
            bufs.release();
            in_flight_[head] = 1;
            complete(head, 0);
            return false;
        }
    }
    in_flight_[head] = 1;
    answers_[head] = mapped ? handler_->answer_unmapped(chain_.buffers) : std::nullopt;
    if (verify_) {
        auto& w = written_bufs_[head];
        w.clear();
        if (mapped)
            for (const auto& b : chain_.buffers)
                if (b.writable) w.push_back(b);
    }
    handler_->start(head, devices::Request{bufs.out, bufs.in, !mapped}, *this);
    return true;
}

}  // namespace xenvhost::queue
