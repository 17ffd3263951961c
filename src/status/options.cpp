#include "status/options.hpp"

#include "base/version.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <charconv>
#include <sstream>

namespace po = boost::program_options;

namespace xenvhost::status {

namespace {

constexpr const char* kUsage = R"(Usage: xenvhost-status [OPTIONS] [GUEST...]
Lists the virtio devices (kinds virtio_disk and virtio) declared in
xenstore under /local/domain/<backend>/backend/<kind>/<domid>/<devid>, with
what xenvhostd publishes there: xenbus state, vhost-user socket, worker pid,
whether a front-end is connected, how guest memory is mapped, the guest's
transport, worker restarts and the last error. GUEST is a domid or a name;
the default is every guest. Everything is read over one xenstore
connection, as one snapshot.

Options)";

constexpr const char* kExitStatus =
    "\nExit status: 0 listed (possibly nothing), 1 xenstore cannot be read, 2 bad usage.\n";

Exit usage_error(const std::string& what) {
    return Exit{2, fmt::format("xenvhost-status: {}\nTry 'xenvhost-status --help'.\n", what)};
}

}  // namespace

std::variant<Options, Exit> parse_options(int argc, const char* const* argv) {
    Options o;
    std::string backend;
    std::vector<std::string> guests;
    po::options_description d(kUsage);
    d.add_options()("backend,b", po::value(&backend)->value_name("DOMID"),
                    "only devices served by this back-end domain (the default is every domain whose "
                    "directory can be read, or this domain alone when /local/domain cannot be listed)")(
        "json,j", po::bool_switch(&o.json), "print a JSON array instead of a table")(
        "watch,w", po::bool_switch(&o.watch),
        "print again whenever a device's keys change, until interrupted (with --json: one array per line)")(
        "help,h", "print this help and exit")("version", "print the version and exit");
    po::options_description hidden;
    hidden.add_options()("guest", po::value(&guests));
    po::options_description all;
    all.add(d).add(hidden);
    po::positional_options_description pos;
    pos.add("guest", -1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return usage_error(e.what());
    }
    if (vm.count("help")) {
        std::ostringstream text;
        text << d << kExitStatus;
        return Exit{0, text.str()};
    }
    if (vm.count("version")) return Exit{0, version_line("xenvhost-status")};
    if (vm.count("backend")) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(backend.data(), backend.data() + backend.size(), v);
        if (backend.empty() || ec != std::errc() || end != backend.data() + backend.size() || v > 0x7fef)
            return usage_error(fmt::format("--backend must be a domid, not '{}'", backend));
        o.selection.backend = v;
    }
    o.selection.guests = std::move(guests);
    return o;
}

}  // namespace xenvhost::status
