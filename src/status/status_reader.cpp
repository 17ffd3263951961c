#include "status/status_reader.hpp"

#include "xen/xs_transaction.hpp"

#include <algorithm>
#include <charconv>

namespace xenvhost::status {

namespace {

std::optional<unsigned> parse_domid(const std::string& text) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

// A node this caller may not read is as good as absent (a driver domain
// reads its own back-end directories, not every guest's name).
bool unreadable(const Error& e) { return e.err == EACCES || e.err == EPERM || e.err == ENOENT; }

// Devids sort as numbers (51712 before 51728; virtio's 0, 1, 10).
void sort_numerically(std::vector<std::string>& names) {
    std::ranges::sort(names, [](const std::string& a, const std::string& b) {
        auto na = parse_domid(a), nb = parse_domid(b);
        if (na && nb) return *na < *nb;
        return a < b;
    });
}

}  // namespace

bool selected(const Selection& selection, unsigned domid, const std::string& name) {
    if (selection.guests.empty()) return true;
    for (const auto& g : selection.guests) {
        if (parse_domid(g) == domid) return true;
        if (!name.empty() && g == name) return true;
    }
    return false;
}

Result<std::string> StatusReader::value(const std::string& path, xs_transaction_t t) const {
    auto v = xs_.read(path, t);
    if (!v) {
        if (unreadable(v.error())) return std::string();
        return std::unexpected(v.error());
    }
    return v->value_or(std::string());
}

Result<std::vector<std::string>> StatusReader::list(const std::string& path, xs_transaction_t t) const {
    auto v = xs_.directory(path, t);
    if (!v) {
        if (unreadable(v.error())) return std::vector<std::string>();
        return std::unexpected(v.error());
    }
    auto names = v->value_or(std::vector<std::string>());
    sort_numerically(names);
    return names;
}

Result<std::vector<unsigned>> StatusReader::backends(const Selection& selection, xs_transaction_t t) const {
    if (selection.backend) return std::vector<unsigned>{*selection.backend};
    std::vector<unsigned> out;
    auto listing = xs_.directory("/local/domain", t);
    if (listing && *listing) {
        for (const auto& d : **listing)
            if (auto id = parse_domid(d)) out.push_back(*id);
        std::ranges::sort(out);
        if (!out.empty()) return out;
    }
    // A driver domain: relative paths name its own home.
    auto self = xs_.read("domid", t);
    if (self && *self) {
        if (auto id = parse_domid(**self)) return std::vector<unsigned>{*id};
    }
    if (!listing && !self) return fail_as(ErrorKind::kPeerGone, "{}", listing.error().message);
    return std::vector<unsigned>{0};
}

Result<> StatusReader::read_backend(unsigned backend, const Selection& selection, xs_transaction_t t,
                                    std::vector<DeviceRow>& rows) const {
    for (const char* kind : kKinds) {
        const std::string root = fmt::format("/local/domain/{}/backend/{}", backend, kind);
        auto guests = list(root, t);
        if (!guests) return std::unexpected(guests.error());
        for (const auto& g : *guests) {
            auto domid = parse_domid(g);
            if (!domid) continue;  // not a guest's directory
            auto name = value(fmt::format("/local/domain/{}/name", *domid), t);
            if (!name) return std::unexpected(name.error());
            if (!selected(selection, *domid, *name)) continue;
            auto devids = list(root + "/" + g, t);
            if (!devids) return std::unexpected(devids.error());
            for (const auto& devid : *devids) {
                const std::string dir = root + "/" + g + "/" + devid;
                DeviceRow row;
                row.guest = *name;
                row.domid = *domid;
                row.backend = backend;
                row.kind = kind;
                row.devid = devid;
                const std::pair<const char*, std::string*> keys[] = {
                    {"dev", &row.dev},
                    {"params", &row.params},
                    {"state", &row.state},
                    {"online", &row.online},
                    {"vhost-user-socket", &row.socket},
                    {"xenvhost-worker-pid", &row.worker_pid},
                    {"xenvhost-connected", &row.connected},
                    {"xenvhost-mapping", &row.mapping},
                    {"xenvhost-transport", &row.transport},
                    {"xenvhost-backend", &row.external_backend},
                    {"xenvhost-restarts", &row.restarts},
                    {"xenvhost-counters", &row.counters},
                    {"xenvhost-error", &row.error},
                };
                for (auto [key, field] : keys) {
                    auto v = value(dir + "/" + key, t);
                    if (!v) return std::unexpected(v.error());
                    *field = std::move(*v);
                }
                rows.push_back(std::move(row));
            }
        }
    }
    return {};
}

Result<std::vector<DeviceRow>> StatusReader::read(const Selection& selection) const {
    // Read-only: the transaction is aborted when it goes out of scope; it
    // only makes the reads one snapshot.
    auto tx = xen::XsTransaction::start(xs_);
    if (!tx) return std::unexpected(tx.error());
    auto list = backends(selection, tx->id());
    if (!list) return std::unexpected(list.error());
    std::vector<DeviceRow> rows;
    for (unsigned b : *list) {
        if (auto r = read_backend(b, selection, tx->id(), rows); !r) return std::unexpected(r.error());
    }
    return rows;
}

}  // namespace xenvhost::status
