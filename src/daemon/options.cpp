#include "daemon/options.hpp"

#include <boost/program_options.hpp>

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace po = boost::program_options;

namespace xenvhost::daemon {
namespace {

po::options_description file_options() {
    po::options_description d("Options (also accepted as key=value lines in the --config file)");
    d.add_options()
        ("run-dir", po::value<std::string>()->value_name("DIR"), "directory for sockets and runtime files (default /run/xenvhost)")
        ("worker", po::value<std::string>()->value_name("PATH"), "xenvhost-worker binary (default: next to xenvhostd)")
        ("device-model", po::value<std::string>()->value_name("PATH"), "xenvhost-dm binary for HVM guests (default: next to xenvhostd)")
        ("dm-first-pci-slot", po::value<unsigned>()->value_name("N"), "first PCI slot of bus 0 given to an HVM guest's virtio-pci devices (default 16)")
        ("log-level", po::value<std::string>()->value_name("LEVEL"), "debug, info, warn or error (default info)")
        ("xenstored-path", po::value<std::string>()->value_name("PATH"), "xenstored socket; the default is $XENSTORED_PATH, then libxenstore's")
        ("max-restarts", po::value<unsigned>()->value_name("N"), "worker deaths tolerated within --restart-window (default 5)")
        ("restart-window", po::value<unsigned>()->value_name("SECONDS"), "window for --max-restarts (default 60)")
        ("restart-backoff", po::value<unsigned>()->value_name("MS"), "first restart delay, doubled per death up to --restart-backoff-max (default 100)")
        ("restart-backoff-max", po::value<unsigned>()->value_name("MS"), "longest restart delay (default 5000)")
        ("external-backend", po::value<std::vector<std::string>>()->value_name("'TYPE SOCKET'"),
         "serve generic virtio devices of TYPE (virtio,device<N>, N in hex) with the vhost-user back-end already "
         "listening on SOCKET (absolute; %d is the guest's domid) instead of a worker; repeatable")
        ("virtio-disk-keys", po::value<std::vector<std::string>>()->value_name("'DEVID KEY=VALUE,...'"),
         "keys of every guest's virtio disk DEVID that the toolstack did not write: grant_usage=0|1, base=B,irq=I "
         "(a virtio-mmio window on x86); repeatable")
        ("guest-uid-range-base", po::value<std::string>()->value_name("USER|UID[:GID]"),
         "a guest's worker runs as this user's uid and gid plus the guest's domid; empty for no range "
         "(default xenvhost-range-base)")
        ("guest-user", po::value<std::string>()->value_name("USER|UID[:GID]"),
         "the shared user guests' workers run as when the range base does not exist; empty for none "
         "(default xenvhost)")
        ("run-as-root", po::value<std::string>()->value_name("yes|no"),
         "yes: when neither user exists, run guests' workers as root instead of refusing to start them "
         "(default no)");
    return d;
}

po::options_description cli_options() {
    po::options_description d = file_options();
    d.add_options()
        ("config", po::value<std::string>()->value_name("FILE"), "read options from FILE")
        ("help,h", "print this help and exit")
        ("version", "print the version and exit");
    return d;
}

}  // namespace

std::string usage() {
    std::ostringstream s;
    s << "Usage: xenvhostd [OPTIONS]\n"
         "Serves the virtio devices that the Xen toolstack declares in xenstore for this\n"
         "domain, running one xenvhost-worker per guest. Runs in the foreground.\n\n"
      << cli_options();
    return s.str();
}

std::string program_next_to_us(const std::string& name) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return name;
    std::string self(buf, static_cast<size_t>(n));
    auto slash = self.rfind('/');
    return self.substr(0, slash + 1) + name;
}

std::string default_worker_path() { return program_next_to_us("xenvhost-worker"); }

Result<Options> parse_options(int argc, const char* const* argv) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(cli_options()).run(), vm);
        if (vm.count("config")) {
            std::string path = vm["config"].as<std::string>();
            std::ifstream in(path);
            if (!in) return fail("cannot read config file {}: {}", path, std::strerror(errno));
            po::store(po::parse_config_file(in, file_options(), false), vm);
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        return fail("{}", e.what());
    }

    Options o;
    if (vm.count("help") || vm.count("version")) {
        o.help = vm.count("help");
        o.version = !o.help;
        return o;
    }
    if (vm.count("config")) o.config_file = vm["config"].as<std::string>();
    if (vm.count("run-dir")) o.run_dir = vm["run-dir"].as<std::string>();
    if (o.run_dir.empty() || o.run_dir[0] != '/') return fail("--run-dir must be an absolute path, not '{}'", o.run_dir);
    while (o.run_dir.size() > 1 && o.run_dir.back() == '/') o.run_dir.pop_back();
    o.worker = vm.count("worker") ? vm["worker"].as<std::string>() : default_worker_path();
    if (::access(o.worker.c_str(), X_OK) != 0)
        return fail("worker {} is not executable: {}", o.worker, std::strerror(errno));
    // Checked when a guest needs it: a host of PV guests runs without one.
    o.device_model = vm.count("device-model") ? vm["device-model"].as<std::string>() : program_next_to_us("xenvhost-dm");
    if (vm.count("dm-first-pci-slot")) {
        o.dm_first_pci_slot = vm["dm-first-pci-slot"].as<unsigned>();
        if (o.dm_first_pci_slot < 3 || o.dm_first_pci_slot > 31)
            return fail("--dm-first-pci-slot {} is not a free slot of bus 0 (3..31)", o.dm_first_pci_slot);
    }
    if (vm.count("log-level")) {
        auto text = vm["log-level"].as<std::string>();
        if (!log::parse_level(text, o.log_level))
            return fail("--log-level must be debug, info, warn or error, not '{}'", text);
    }
    if (vm.count("xenstored-path")) {
        // libxenstore reads the environment, so the option simply sets it.
        ::setenv("XENSTORED_PATH", vm["xenstored-path"].as<std::string>().c_str(), 1);
    }
    if (vm.count("max-restarts")) o.max_restarts = vm["max-restarts"].as<unsigned>();
    if (vm.count("restart-window")) o.restart_window_s = vm["restart-window"].as<unsigned>();
    if (vm.count("restart-backoff")) o.backoff_initial_ms = vm["restart-backoff"].as<unsigned>();
    if (vm.count("restart-backoff-max")) o.backoff_max_ms = vm["restart-backoff-max"].as<unsigned>();
    if (o.restart_window_s == 0) return fail("--restart-window must be at least 1 second");
    if (o.backoff_initial_ms == 0 || o.backoff_max_ms < o.backoff_initial_ms)
        return fail("--restart-backoff must be at least 1 and no more than --restart-backoff-max");
    if (vm.count("guest-uid-range-base")) o.identity.range_base = vm["guest-uid-range-base"].as<std::string>();
    if (vm.count("guest-user")) o.identity.shared_user = vm["guest-user"].as<std::string>();
    for (auto [key, user] : {std::pair{"guest-uid-range-base", &o.identity.range_base},
                             std::pair{"guest-user", &o.identity.shared_user}}) {
        if (user->empty()) continue;
        if (auto r = sandbox::check_user_syntax(*user); !r) return fail("--{}: {}", key, r.error().message);
    }
    if (vm.count("run-as-root")) {
        auto text = vm["run-as-root"].as<std::string>();
        if (text != "yes" && text != "no") return fail("--run-as-root must be yes or no, not '{}'", text);
        o.identity.run_as_root = text == "yes";
    }
    if (vm.count("external-backend")) {
        auto backends = parse_external_backends(vm["external-backend"].as<std::vector<std::string>>(), o.run_dir);
        if (!backends) return std::unexpected(backends.error());
        o.external_backends = std::move(*backends);
    }
    if (vm.count("virtio-disk-keys")) {
        auto keys = parse_disk_keys_list(vm["virtio-disk-keys"].as<std::vector<std::string>>());
        if (!keys) return std::unexpected(keys.error());
        o.disk_keys = std::move(*keys);
    }
    return o;
}

}  // namespace xenvhost::daemon
