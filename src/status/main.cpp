// xenvhost-status: what xenvhostd's status keys say about every virtio
// device of every guest, as a table or as JSON, once or on every change.
// Reads xenstore only.

#include "event/signal_fd.hpp"
#include "status/options.hpp"
#include "status/status_output.hpp"
#include "status/status_reader.hpp"
#include "xen/xenstore.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>

using namespace xenvhost;
using namespace xenvhost::status;

namespace {

constexpr const char* kCannotRead = "xenvhost-status: cannot read xenstore (is xenstored running, and may we read it?)";

std::string no_rows_text(const Selection& s) {
    std::string text = "no virtio devices";
    for (size_t i = 0; i < s.guests.size(); ++i) text += (i ? " " : " for ") + s.guests[i];
    return text;
}

// Prints one snapshot; false (after saying why) when xenstore cannot be read.
bool print_once(const StatusReader& reader, const Options& o) {
    auto rows = reader.read(o.selection);
    if (!rows) {
        fmt::print(stderr, "{}: {}\n", kCannotRead, rows.error().message);
        return false;
    }
    std::string out = o.json ? format_json(*rows, o.watch) : format_table(*rows, no_rows_text(o.selection));
    if (o.watch && !o.json) out = fmt::format("--- {:%F %T}\n", fmt::localtime(std::time(nullptr))) + out;
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return true;
}

// Watches the back-end directories (and guests coming and going), prints a
// snapshot after each burst of changes, until SIGINT or SIGTERM.
int watch(const xen::Xenstore& xs, const StatusReader& reader, const Options& o, UniqueFd signals) {
    auto tx_free = reader.backends(o.selection, XBT_NULL);
    if (!tx_free) {
        fmt::print(stderr, "{}: {}\n", kCannotRead, tx_free.error().message);
        return 1;
    }
    for (unsigned b : *tx_free) {
        // A back-end directory that does not exist yet can be watched.
        if (auto r = xs.watch(fmt::format("/local/domain/{}/backend", b), "backend"); !r) {
            fmt::print(stderr, "{}: {}\n", kCannotRead, r.error().message);
            return 1;
        }
    }
    for (const char* special : {"@introduceDomain", "@releaseDomain"}) (void)xs.watch(special, "domains");
    auto wfd = xs.watch_fd();
    if (!wfd) {
        fmt::print(stderr, "{}: {}\n", kCannotRead, wfd.error().message);
        return 1;
    }
    if (!print_once(reader, o)) return 1;
    bool dirty = false;
    for (;;) {
        pollfd fds[2] = {{*wfd, POLLIN, 0}, {signals.get(), POLLIN, 0}};
        // A burst of writes (a device coming up) is shown once, 200 ms after it calmed.
        int n = ::poll(fds, 2, dirty ? 200 : -1);
        if (n < 0 && errno != EINTR) return 1;
        if (fds[1].revents) return 0;
        if (n == 0 && dirty) {
            dirty = false;
            if (!print_once(reader, o)) return 1;
            continue;
        }
        if (fds[0].revents & (POLLHUP | POLLERR)) {
            fmt::print(stderr, "xenvhost-status: lost the connection to xenstored\n");
            return 1;
        }
        while (xs.next_event()) dirty = true;
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_options(argc, argv);
    if (auto* exit = std::get_if<Exit>(&parsed)) {
        std::fputs(exit->text.c_str(), exit->status == 0 ? stdout : stderr);
        return exit->status;
    }
    const Options& o = std::get<Options>(parsed);
    // Before libxenstore starts its reader thread for watches.
    UniqueFd signals;
    if (o.watch) {
        auto fd = event::block_into_signalfd({SIGINT, SIGTERM});
        if (!fd) {
            fmt::print(stderr, "xenvhost-status: {}\n", fd.error().message);
            return 1;
        }
        signals = std::move(*fd);
    }
    auto xs = xen::Xenstore::open();
    if (!xs) {
        fmt::print(stderr, "{}: {}\n", kCannotRead, xs.error().message);
        return 1;
    }
    StatusReader reader(*xs);
    if (o.watch) return watch(*xs, reader, o, std::move(signals));
    return print_once(reader, o) ? 0 : 1;
}
