#pragma once
// Supervises one guest's worker process: spawns it (or adopts the one an
// earlier xenvhostd left running), connects to its control socket, keeps the
// guest's devices added to it, restarts it with backoff when it dies
// (re-adding the devices on the same sockets) and gives up when it keeps
// dying. Process exit is seen through a pidfd on the event loop.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "control/client.hpp"
#include "control/device_spec.hpp"
#include "daemon/options.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::daemon {

class WorkerProcess {
public:
    struct Hooks {
        // Reply to add(): the device's socket is listening, or why not. Also
        // called again after each restart once the device is re-added.
        std::function<void(const std::string& name, const Result<>& result)> added;
        // remove() finished: the device is out of the worker (or the worker is gone).
        std::function<void(const std::string& name)> removed;
        std::function<void(const control::DeviceStatus&)> device_event;
        // The worker is running and connected (first start or restart).
        std::function<void(pid_t pid, unsigned restarts)> up;
        // It died unexpectedly and will be restarted.
        std::function<void(const std::string& reason, unsigned restarts)> died;
        // It kept dying; no more restarts.
        std::function<void(const std::string& reason)> given_up;
        // stop() finished.
        std::function<void()> stopped;
    };

    // kReplacing: a stale worker of an earlier xenvhostd is being stopped; ours starts once it is gone.
    enum class State { kStarting, kAdopting, kReplacing, kRunning, kBackoff, kGivenUp, kStopping, kStopped };

    // Adopts the guest's worker left running by an earlier xenvhostd when
    // there is one that answers on its control socket, else starts one.
    static Result<std::unique_ptr<WorkerProcess>> create(event::EventLoop& loop, const Options& options, unsigned domid,
                                                         Hooks hooks);
    // The pid in RUN/domD/worker.pid when it is a live worker started for
    // that control socket, else 0.
    static pid_t left_running(const Options& options, unsigned domid);
    ~WorkerProcess();

    // Asks for the device to be served; sent now if connected, else on connect.
    void add(const control::DeviceSpec& spec);
    // Takes the device out; `removed` follows (at once if the worker is not running).
    void remove(const std::string& name);
    // SIGTERM, SIGKILL after a grace period; `stopped` follows.
    void stop();
    // SIGTERM only: the caller holds one grace deadline for all the workers
    // it stops and kill()s those still running at its end; `stopped` follows.
    void terminate();
    // SIGKILL now if a process runs (a straggler, or the daemon is going).
    void kill();
    // Lets go of the worker without signalling it (xenstored is gone and we
    // exit): it keeps serving its guest, and its pid file stays for the next
    // xenvhostd to adopt it. No hook is called afterwards.
    void abandon();

    State state() const { return state_; }
    pid_t pid() const { return pid_; }
    // A process exists (not between a death and its restart).
    bool has_process() const { return static_cast<bool>(pidfd_); }
    bool adopted() const { return adopted_; }
    unsigned restarts() const { return restarts_; }
    bool serves(const std::string& name) const { return devices_.contains(name); }
    size_t device_count() const { return devices_.size(); }
    std::string dir() const;
    std::string control_path() const { return dir() + "/control"; }

private:
    WorkerProcess(event::EventLoop& loop, const Options& options, unsigned domid, Hooks hooks)
        : loop_(loop), options_(options), domid_(domid), hooks_(std::move(hooks)) {}
    Result<> spawn();
    // --sandbox-user and --sandbox-root for the guest's identity (none when
    // the daemon is not root, or runs workers as root by configuration), or
    // why the worker may not start.
    Result<std::vector<std::string>> sandbox_args() const;
    bool try_adopt();
    // A worker left by an earlier xenvhostd that was not adopted: SIGTERM,
    // and its exit awaited on the loop (SIGKILL after the grace) before ours
    // is spawned, so that many of them are replaced side by side. False when
    // there is none.
    bool replace_stale();
    // SIGTERM; false when there is no process to stop (`stopped` was called).
    bool begin_stop();
    void on_adopted(Result<std::vector<control::DeviceStatus>> found);
    control::Client::Callbacks client_callbacks();
    void try_connect();
    void on_exit();
    void on_lost(const std::string& reason);
    void send_add(const std::string& name);
    // Forgets a device and removes its socket.
    void erase_device(const std::string& name);
    void schedule_restart(const std::string& reason);
    void fire_timer();

    event::EventLoop& loop_;
    const Options& options_;
    unsigned domid_;
    Hooks hooks_;
    State state_ = State::kStarting;
    pid_t pid_ = -1;
    UniqueFd pidfd_;
    std::unique_ptr<control::Client> client_;
    std::unique_ptr<event::Timer> timer_;  // connect retries, restart backoff, stop and replacement grace
    std::chrono::steady_clock::time_point spawned_at_;
    std::chrono::milliseconds connect_delay_{0};
    unsigned restarts_ = 0;
    std::deque<std::chrono::steady_clock::time_point> deaths_;
    bool killed_for_timeout_ = false;
    bool adopted_ = false;  // not our child: its exit status goes to its new parent
    std::map<std::string, control::DeviceSpec> devices_;
    std::map<std::string, bool> removing_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace xenvhost::daemon
