#include "worker/options.hpp"

#include "sandbox/sandbox.hpp"

#include <boost/program_options.hpp>

#include <sstream>

namespace po = boost::program_options;

namespace xenvhost::worker {
namespace {

// The command line as given, before it is checked.
struct Given {
    std::string socket_path, blk_file, serial, log_level, cache = "writeback", io_path = "auto", foreign_map = "whole", grant_access = "auto";
    std::string sandbox_user;
    int fd = -1;
    unsigned num_queues = 1, queue_size = 256;
    long long domid = -1;
    bool read_only = false, null_io = false;
    std::vector<std::string> device_texts;
};

po::options_description describe(Given& g, WorkerOptions& opts) {
    po::options_description desc(
        "Usage: xenvhost-worker [options]\n"
        "Serves virtio-blk over vhost-user; for Xen guests, maps guest memory through grants or "
        "foreign mappings.\n\nOptions");
    // clang-format off
    desc.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("print-capabilities", "print the back-end capabilities as JSON and exit")
        ("socket-path,s", po::value(&g.socket_path), "listen for the front-end on this unix socket")
        ("fd", po::value(&g.fd), "use this already listening socket fd instead of --socket-path")
        ("blk-file,b", po::value(&g.blk_file), "disk image file or block device")
        ("read-only,r", po::bool_switch(&g.read_only), "serve the disk read-only")
        ("num-queues", po::value(&g.num_queues), "number of request queues (default 1)")
        ("queue-size", po::value(&g.queue_size), "largest queue size the front-end may use (default 256)")
        ("serial", po::value(&g.serial), "disk serial returned by GET_ID (at most 20 bytes)")
        ("cache", po::value(&g.cache), "writeback (page cache, the default) or none (O_DIRECT)")
        ("io-path", po::value(&g.io_path),
         "auto (the default: an image on tmpfs or ramfs is copied in the queue thread, others go through io_uring) "
         "or uring (always io_uring)")
        ("null-io", po::bool_switch(&g.null_io),
         "benchmark limit: complete reads, writes, flushes and discards at once without I/O; "
         "data is not stored (the image only gives the size)")
        ("device", po::value(&g.device_texts),
         "another device: name=N,socket=PATH,blk-file=IMG[,read-only=1][,num-queues=N][,queue-size=N]"
         "[,serial=S][,cache=none][,io-path=uring][,null-io=1]")
        ("domid", po::value(&g.domid), "the Xen guest served: offer XEN_MMAP and accept its regions")
        ("xen", "offer XEN_MMAP without restricting the guest domid")
        ("foreign-map", po::value(&g.foreign_map),
         "whole (the default: foreign regions the front-end allows are mapped once, when they arrive) or "
         "per-request (every request's pages mapped and unmapped around it)")
        ("grant-access", po::value(&g.grant_access),
         "how request buffers in grant regions are reached: auto (the default: grant copy for requests of up to "
         "64 KiB of data, batched maps above), map (one batched map per direction), per-access (a map per buffer, as "
         "rust-vmm vm-memory does; for measurements) or copy (grant copy through bounce buffers, up to 256 KiB)")
        ("verify-guest-writes",
         "diagnostics: read every buffer a request wrote back through a new mapping before completing it, "
         "and log any difference (a map call per buffer)")
        ("control-socket", po::value(&opts.control_socket), "listen for xenvhostd commands here")
        ("sandbox-user", po::value(&g.sandbox_user),
         "UID:GID: once everything is open, restrict the Xen handles to --domid, enter an empty private root "
         "(--sandbox-root), become UID:GID with no groups and no capabilities, set no_new_privs, no core dumps, "
         "and install the syscall filter (needs root; xenvhostd passes it)")
        ("sandbox-root", po::value(&opts.sandbox_root), "an existing directory the empty root is mounted on "
         "(with --sandbox-user)")
        ("log-level", po::value(&g.log_level)->default_value("info"), "debug, info, warn or error");
    // clang-format on
    return desc;
}

// The device given by --socket-path/--fd and --blk-file, if any.
Result<std::optional<control::DeviceSpec>> single_device(const Given& g) {
    if (g.socket_path.empty() && g.fd < 0 && g.blk_file.empty()) {
        if (g.null_io) return fail("--null-io needs --socket-path/--fd and --blk-file (for --device: null-io=1)");
        return std::nullopt;
    }
    if (!g.socket_path.empty() && g.fd >= 0) return fail("--socket-path and --fd are mutually exclusive");
    if (g.socket_path.empty() && g.fd < 0) return fail("--socket-path or --fd is required");
    if (g.blk_file.empty()) return fail("--blk-file is required");
    if (g.num_queues > 64) return fail("--num-queues {} (1..64)", g.num_queues);
    if (g.queue_size > 32768) return fail("--queue-size {} (2..32768, a power of 2)", g.queue_size);
    control::DeviceSpec spec;
    spec.name = "disk0";
    spec.socket_path = g.socket_path;
    spec.socket_fd = g.fd;
    spec.blk_file = g.blk_file;
    spec.read_only = g.read_only;
    spec.num_queues = static_cast<uint16_t>(g.num_queues);
    spec.queue_size = static_cast<uint16_t>(g.queue_size);
    spec.serial = g.serial;
    spec.cache = g.cache;
    spec.null_io = g.null_io;
    spec.io_path = g.io_path;
    if (auto ok = control::validate_device_spec(spec); !ok) return fail("{}", ok.error().message);
    return spec;
}

// Everything but the devices: logging and how a Xen guest's memory is mapped.
Result<> check_service(const Given& g, bool xen_flag, WorkerOptions& opts) {
    if (!log::parse_level(g.log_level, opts.log_level)) return fail("--log-level: unknown level '{}'", g.log_level);
    if (g.domid >= 0) {
        if (g.domid >= 0x7ff0) return fail("--domid {} is not a guest domain id", g.domid);
        opts.domid = static_cast<uint32_t>(g.domid);
    }
    opts.xen = xen_flag || opts.domid.has_value();
    if (g.foreign_map != "whole" && g.foreign_map != "per-request")
        return fail("--foreign-map: '{}' is neither whole nor per-request", g.foreign_map);
    opts.foreign_map_whole = g.foreign_map == "whole";
    auto access = memory::parse_grant_access(g.grant_access);
    if (!access) return fail("--grant-access: {}", access.error().message);
    opts.grant_access = *access;
    if (!g.sandbox_user.empty()) {
        auto who = sandbox::parse_identity(g.sandbox_user);
        if (!who) return fail("--sandbox-user: {}", who.error().message);
        opts.sandbox_user = *who;
        if (opts.sandbox_root.empty() || opts.sandbox_root[0] != '/')
            return fail("--sandbox-user needs --sandbox-root, an absolute path");
    } else if (!opts.sandbox_root.empty()) {
        return fail("--sandbox-root is only meaningful with --sandbox-user");
    }
    return {};
}

void take_flags(const po::variables_map& vm, WorkerOptions& opts) {
    opts.verify_guest_writes = vm.count("verify-guest-writes");
}

}  // namespace

Result<WorkerOptions> parse_worker_options(int argc, char** argv) {
    WorkerOptions opts;
    Given g;
    const po::options_description desc = describe(g, opts);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return fail("{}", e.what());
    }
    std::ostringstream help;
    help << desc;
    opts.help_text = help.str();
    opts.help = vm.count("help");
    opts.version = vm.count("version");
    opts.print_capabilities = vm.count("print-capabilities");
    if (opts.help || opts.version || opts.print_capabilities) return opts;

    if (auto ok = check_service(g, vm.count("xen"), opts); !ok) return pass(ok.error());
    take_flags(vm, opts);
    auto single = single_device(g);
    if (!single) return pass(single.error());
    if (*single) opts.devices.push_back(std::move(**single));
    for (const auto& text : g.device_texts) {
        auto spec = control::parse_device_spec(text);
        if (!spec) return fail("--device: {}", spec.error().message);
        opts.devices.push_back(std::move(*spec));
    }
    if (opts.devices.empty() && opts.control_socket.empty())
        return fail("nothing to serve: give --socket-path/--fd with --blk-file, --device, or --control-socket");
    return opts;
}

}  // namespace xenvhost::worker
