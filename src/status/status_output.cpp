#include "status/status_output.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <vector>

namespace xenvhost::status {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::array kHeader = {"GUEST",  "DOMID",  "BACKEND",  "DEVICE", "STATE",  "CONNECTED",
                                "MAPPING", "TRANSPORT", "WORKER", "RESTARTS", "SOCKET", "ERROR"};

// Status keys hold text; control characters do not belong there and would
// break a table line.
std::string printable(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
    return out;
}

Json str(const std::string& s) { return s.empty() ? Json(nullptr) : Json(printable(s)); }

Json num(const std::string& s) {
    if (s.empty()) return nullptr;
    unsigned long long v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
    return printable(s);
}

// "requests=12 map-calls=3" as {"requests": 12, "map_calls": 3}: the worker's
// counters as of its device's last event. A pair that is not NAME=DIGITS
// (a key someone else wrote) is left out rather than guessed at.
Json counters(const std::string& s) {
    if (s.empty()) return nullptr;
    Json o = Json::object();
    size_t pos = 0;
    while (pos < s.size()) {
        size_t end = s.find(' ', pos);
        if (end == std::string::npos) end = s.size();
        std::string_view pair(s.data() + pos, end - pos);
        pos = end + 1;
        auto eq = pair.find('=');
        if (eq == 0 || eq == std::string_view::npos) continue;
        std::string name(pair.substr(0, eq));
        bool plain = true;
        for (char& c : name) {
            if (c == '-') c = '_';
            plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
        }
        auto digits = pair.substr(eq + 1);
        unsigned long long v = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (plain && !digits.empty() && ec == std::errc() && p == digits.data() + digits.size()) o[name] = v;
    }
    return o;
}

Json boolean(const std::string& s) {
    if (s == "1") return true;
    if (s == "0") return false;
    return str(s);
}

std::string dash(const std::string& s) { return s.empty() ? "-" : printable(s); }

}  // namespace

std::string state_text(const std::string& state) {
    static constexpr std::array kNames = {"Unknown",   "Initialising", "InitWait",     "Initialised", "Connected",
                                          "Closing",   "Closed",       "Reconfiguring", "Reconfigured"};
    if (state.size() == 1 && state[0] >= '0' && state[0] <= '8')
        return fmt::format("{} {}", state, kNames[static_cast<size_t>(state[0] - '0')]);
    return state;
}

std::string format_table(std::span<const DeviceRow> rows, std::string_view no_rows) {
    if (rows.empty()) return fmt::format("{}\n", no_rows);
    std::vector<std::array<std::string, kHeader.size()>> cells;
    cells.push_back({});
    for (size_t c = 0; c < kHeader.size(); ++c) cells[0][c] = kHeader[c];
    for (const auto& r : rows) {
        std::string label = r.kind + "/" + r.devid;
        if (!r.dev.empty()) label += " (" + printable(r.dev) + ")";
        std::string conn = r.connected == "1" ? "yes" : r.connected == "0" ? "no" : r.connected;
        // "none: why" keys: the table says none, the JSON says why.
        std::string transport = r.transport.starts_with("none:") ? "none" : r.transport;
        // An operator's own back-end has no worker pid: say whose it is.
        std::string worker = r.external_backend.starts_with("external") ? "external" : r.worker_pid;
        cells.push_back({dash(r.guest), std::to_string(r.domid), std::to_string(r.backend), label,
                         dash(state_text(r.state)), dash(conn), dash(r.mapping), dash(transport), dash(worker),
                         dash(r.restarts), dash(r.socket), dash(r.error)});
    }
    std::array<size_t, kHeader.size()> width{};
    for (const auto& line : cells)
        for (size_t c = 0; c < width.size(); ++c) width[c] = std::max(width[c], line[c].size());
    std::string out;
    for (const auto& line : cells) {
        for (size_t c = 0; c + 1 < width.size(); ++c) out += fmt::format("{:<{}}  ", line[c], width[c]);
        out += line.back();  // the last column is not padded
        out += '\n';
    }
    return out;
}

std::string format_json(std::span<const DeviceRow> rows, bool compact) {
    std::vector<std::string> items;
    for (const auto& r : rows) {
        std::string state = state_text(r.state);
        auto space = state.find(' ');
        Json o;
        o["guest"] = str(r.guest);
        o["domid"] = r.domid;
        o["backend"] = r.backend;
        o["kind"] = r.kind;
        o["devid"] = num(r.devid);
        o["dev"] = str(r.dev);
        o["params"] = str(r.params);
        o["state"] = num(r.state);
        o["state_name"] = str(space == std::string::npos ? std::string() : state.substr(space + 1));
        o["online"] = boolean(r.online);
        o["socket"] = str(r.socket);
        o["worker_pid"] = num(r.worker_pid);
        o["connected"] = boolean(r.connected);
        o["mapping"] = str(r.mapping);
        o["transport"] = str(r.transport);
        std::string ext = r.external_backend;
        if (ext.starts_with("external ")) ext = ext.substr(9);
        o["external_backend"] = str(ext);
        o["restarts"] = num(r.restarts);
        o["counters"] = counters(r.counters);
        o["error"] = str(r.error);
        // Invalid UTF-8 in a key becomes U+FFFD instead of an exception.
        items.push_back(o.dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        out += i ? "," : "";
        out += compact ? items[i] : "\n  " + items[i];
    }
    out += compact || items.empty() ? "]\n" : "\n]\n";
    return out;
}

}  // namespace xenvhost::status
