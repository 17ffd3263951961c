#include "daemon/status_publisher.hpp"

#include "xen/xs_transaction.hpp"

namespace xenvhost::daemon {

bool is_own_key(std::string_view key) { return key == kKeySocket || key.starts_with("xenvhost-"); }

Result<bool> StatusPublisher::apply(const std::string& dir, const StatusUpdate& update) {
    auto& cached = cache_[dir];
    std::vector<std::pair<std::string, std::optional<std::string>>> todo;
    for (auto& [k, v] : update.keys) {
        auto it = cached.find(k);
        if (it == cached.end() || it->second != v) todo.emplace_back(k, v);
    }
    if (todo.empty() && !update.state) return true;

    for (int attempt = 0; attempt < 20; ++attempt) {
        auto t = xen::XsTransaction::start(xs_);
        if (!t) return std::unexpected(t.error());
        auto state = xs_.read(dir + "/state", t->id());
        if (!state) return std::unexpected(state.error());
        if (!*state) return false;  // gone; the transaction aborts
        bool write_state = false;
        if (update.state) {
            auto want = update.state->first;
            write_state = !want || **state == std::to_string(*want);
        }
        for (auto& [k, v] : todo) {
            auto r = v ? xs_.write(dir + "/" + k, *v, t->id()) : xs_.remove(dir + "/" + k, t->id());
            if (!r) return std::unexpected(r.error());
        }
        if (write_state) {
            if (auto r = xs_.write(dir + "/state", std::to_string(update.state->second), t->id()); !r)
                return std::unexpected(r.error());
        }
        auto committed = t->commit();
        if (!committed) return std::unexpected(committed.error());
        if (!*committed) continue;  // conflict with the toolstack: read and write again
        for (auto& [k, v] : todo) cached[k] = v;
        return true;
    }
    return fail("xenstore transaction on {} kept conflicting", dir);
}

}  // namespace xenvhost::daemon
