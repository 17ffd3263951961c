#include "frontend/backend_channel.hpp"

#include "base/eventfd.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

namespace xenvhost::frontend {

namespace vu = vhost_user;

const char* backend_request_name(uint32_t id) {
    switch (static_cast<BackendRequest>(id)) {
        case BackendRequest::kIotlbMsg: return "IOTLB_MSG";
        case BackendRequest::kConfigChangeMsg: return "CONFIG_CHANGE_MSG";
        case BackendRequest::kVringHostNotifierMsg: return "VRING_HOST_NOTIFIER_MSG";
        case BackendRequest::kVringCall: return "VRING_CALL";
        case BackendRequest::kVringErr: return "VRING_ERR";
        case BackendRequest::kSharedObjectAdd: return "SHARED_OBJECT_ADD";
        case BackendRequest::kSharedObjectRemove: return "SHARED_OBJECT_REMOVE";
        case BackendRequest::kSharedObjectLookup: return "SHARED_OBJECT_LOOKUP";
        case BackendRequest::kShmemMap: return "SHMEM_MAP";
        case BackendRequest::kShmemUnmap: return "SHMEM_UNMAP";
    }
    return "unknown";
}

Result<std::unique_ptr<BackendChannel>> BackendChannel::create() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return fail_errno("socketpair");
    std::unique_ptr<BackendChannel> c(new BackendChannel());
    c->conn_ = Connection(UniqueFd(sv[0]));
    c->backend_end_.reset(sv[1]);
    auto stop = make_eventfd();
    if (!stop) return std::unexpected(stop.error());
    c->stop_fd_ = std::move(*stop);
    return c;
}

BackendChannel::~BackendChannel() { stop(); }

void BackendChannel::on(BackendRequest id, Handler handler) {
    std::lock_guard lock(mutex_);
    handlers_[static_cast<uint32_t>(id)] = std::move(handler);
}

void BackendChannel::set_policy(BackendRequest id, ChannelPolicy policy) {
    std::lock_guard lock(mutex_);
    policies_[static_cast<uint32_t>(id)] = policy;
    changed_.notify_all();
}

ChannelPolicy BackendChannel::policy_of(uint32_t id) const {
    auto it = policies_.find(id);
    return it == policies_.end() ? ChannelPolicy::kAnswer : it->second;
}

void BackendChannel::release() {
    std::lock_guard lock(mutex_);
    ++release_generation_;
    changed_.notify_all();
}

Result<void> BackendChannel::start() {
    if (thread_.joinable()) return fail("the channel reader already runs");
    thread_ = std::thread([this] { run(); });
    return {};
}

void BackendChannel::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        changed_.notify_all();
    }
    if (stop_fd_) eventfd_signal(stop_fd_.get());
    if (thread_.joinable()) thread_.join();
}

void BackendChannel::run() {
    for (;;) {
        pollfd p[2] = {{conn_.fd(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            std::lock_guard lock(mutex_);
            errors_.push_back(fmt::format("poll: {}", std::strerror(errno)));
            return;
        }
        if (p[1].revents) return;
        // A message that starts must finish promptly; the back-end writes
        // each one with a single sendmsg.
        auto msg = conn_.receive(2000);
        std::unique_lock lock(mutex_);
        if (!msg) {
            if (frontend::peer_closed(msg.error())) peer_closed_ = true;
            else errors_.push_back(fmt::format("receiving a request: {}", msg.error().message));
            changed_.notify_all();
            return;
        }
        const vu::Header& h = msg->header;
        if ((h.flags & vu::kVersionMask) != vu::kVersion || (h.flags & ~(vu::kVersionMask | vu::kFlagNeedReply)))
            errors_.push_back(fmt::format("{} with flags {:#x}", backend_request_name(h.request), h.flags));
        ChannelRecord rec;
        rec.request = h.request;
        rec.flags = h.flags;
        rec.payload = msg->payload;
        rec.fds = msg->fds.size();
        rec.received = ChannelRecord::Clock::now();
        records_.push_back(std::move(rec));
        const size_t index = records_.size() - 1;
        changed_.notify_all();

        ChannelPolicy policy = policy_of(h.request);
        if (policy == ChannelPolicy::kHold) {
            const uint64_t generation = release_generation_;
            changed_.wait(lock, [&] {
                return stopping_ || release_generation_ != generation ||
                       policy_of(h.request) != ChannelPolicy::kHold;
            });
            if (stopping_) return;
            policy = policy_of(h.request);
        }
        if (policy == ChannelPolicy::kIgnore) continue;
        lock.unlock();
        process(*msg, index);
    }
}

void BackendChannel::process(Message& msg, size_t record) {
    Handler handler;
    {
        std::lock_guard lock(mutex_);
        auto it = handlers_.find(msg.header.request);
        if (it != handlers_.end()) handler = it->second;
    }
    // A request this front-end does not implement is refused, as QEMU does.
    const uint64_t verdict = handler ? handler(msg) : 1;
    const bool answer = msg.header.flags & vu::kFlagNeedReply;
    {
        // Recorded before it is sent: whoever sees the back-end act on the
        // answer finds it in the record.
        std::lock_guard lock(mutex_);
        ChannelRecord& rec = records_[record];
        rec.handled = true;
        rec.verdict = verdict;
        if (answer) rec.answer = verdict;
        rec.done = ChannelRecord::Clock::now();
        changed_.notify_all();
    }
    if (!answer) return;
    uint8_t body[sizeof verdict];
    std::memcpy(body, &verdict, sizeof verdict);
    if (auto r = conn_.send(msg.header.request, vu::kReplyFlags, body); !r) {
        std::lock_guard lock(mutex_);
        records_[record].answer.reset();
        errors_.push_back(fmt::format("answering {}: {}", backend_request_name(msg.header.request), r.error().message));
    }
}

std::vector<ChannelRecord> BackendChannel::records() const {
    std::lock_guard lock(mutex_);
    return records_;
}

size_t BackendChannel::count(BackendRequest id) const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& r : records_) n += r.request == static_cast<uint32_t>(id);
    return n;
}

bool BackendChannel::wait_count(BackendRequest id, size_t n, int timeout_ms) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
        size_t seen = 0;
        for (const auto& r : records_) seen += r.request == static_cast<uint32_t>(id);
        return seen >= n;
    });
}

bool BackendChannel::wait_handled(BackendRequest id, size_t n, int timeout_ms) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
        size_t seen = 0;
        for (const auto& r : records_) seen += r.request == static_cast<uint32_t>(id) && r.handled;
        return seen >= n;
    });
}

std::vector<std::string> BackendChannel::errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
}

bool BackendChannel::peer_closed() const {
    std::lock_guard lock(mutex_);
    return peer_closed_;
}

}  // namespace xenvhost::frontend
