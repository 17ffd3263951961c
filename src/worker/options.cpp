#include "worker/options.hpp"

#include <boost/program_options.hpp>

#include <sstream>

namespace po = boost::program_options;

namespace xenvhost::worker {

Result<WorkerOptions> parse_worker_options(int argc, char** argv) {
    WorkerOptions opts;
    po::options_description desc(
        "Usage: xenvhost-worker [options]\n"
        "Serves virtio-blk over vhost-user; for Xen guests, maps guest memory through grants or "
        "foreign mappings.\n\nOptions");
    std::string socket_path, blk_file, serial, log_level, cache = "writeback", foreign_map = "whole";
    int fd = -1;
    unsigned num_queues = 1, queue_size = 256;
    long long domid = -1;
    std::vector<std::string> device_texts;
    // clang-format off
    desc.add_options()
        ("help,h", "print this help and exit")
        ("print-capabilities", "print the back-end capabilities as JSON and exit")
        ("socket-path,s", po::value(&socket_path), "listen for the front-end on this unix socket")
        ("fd", po::value(&fd), "use this already listening socket fd instead of --socket-path")
        ("blk-file,b", po::value(&blk_file), "disk image file or block device")
        ("read-only,r", "serve the disk read-only")
        ("num-queues", po::value(&num_queues), "number of request queues (default 1)")
        ("queue-size", po::value(&queue_size), "largest queue size the front-end may use (default 256)")
        ("serial", po::value(&serial), "disk serial returned by GET_ID (at most 20 bytes)")
        ("cache", po::value(&cache), "writeback (page cache, the default) or none (O_DIRECT)")
        ("device", po::value(&device_texts),
         "another device: name=N,socket=PATH,blk-file=IMG[,read-only=1][,num-queues=N][,queue-size=N]"
         "[,serial=S][,cache=none]")
        ("domid", po::value(&domid), "the Xen guest served: offer XEN_MMAP and accept its regions")
        ("xen", "offer XEN_MMAP without restricting the guest domid")
        ("foreign-map", po::value(&foreign_map),
         "whole (the default: foreign regions the front-end allows are mapped once, when they arrive) or "
         "per-request (every request's pages mapped and unmapped around it)")
        ("control-socket", po::value(&opts.control_socket), "listen for xenvhostd commands here")
        ("log-level", po::value(&log_level)->default_value("info"), "debug, info, warn or error");
    // clang-format on
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
    opts.print_capabilities = vm.count("print-capabilities");
    if (opts.help || opts.print_capabilities) return opts;

    if (!log::parse_level(log_level, opts.log_level)) return fail("--log-level: unknown level '{}'", log_level);
    if (domid >= 0) {
        if (domid >= 0x7ff0) return fail("--domid {} is not a guest domain id", domid);
        opts.domid = static_cast<uint32_t>(domid);
    }
    opts.xen = vm.count("xen") || opts.domid.has_value();
    if (foreign_map != "whole" && foreign_map != "per-request")
        return fail("--foreign-map: '{}' is neither whole nor per-request", foreign_map);
    opts.foreign_map_whole = foreign_map == "whole";

    const bool single = !socket_path.empty() || fd >= 0 || !blk_file.empty();
    if (single) {
        if (!socket_path.empty() && fd >= 0) return fail("--socket-path and --fd are mutually exclusive");
        if (socket_path.empty() && fd < 0) return fail("--socket-path or --fd is required");
        if (blk_file.empty()) return fail("--blk-file is required");
        control::DeviceSpec spec;
        spec.name = "disk0";
        spec.socket_path = socket_path;
        spec.socket_fd = fd;
        spec.blk_file = blk_file;
        spec.read_only = vm.count("read-only");
        if (num_queues > 64) return fail("--num-queues {} (1..64)", num_queues);
        if (queue_size > 32768) return fail("--queue-size {} (2..32768, a power of 2)", queue_size);
        spec.num_queues = static_cast<uint16_t>(num_queues);
        spec.queue_size = static_cast<uint16_t>(queue_size);
        spec.serial = serial;
        spec.cache = cache;
        if (auto ok = control::validate_device_spec(spec); !ok) return fail("{}", ok.error().message);
        opts.devices.push_back(std::move(spec));
    }
    for (const auto& text : device_texts) {
        auto spec = control::parse_device_spec(text);
        if (!spec) return fail("--device: {}", spec.error().message);
        opts.devices.push_back(std::move(*spec));
    }
    if (opts.devices.empty() && opts.control_socket.empty())
        return fail("nothing to serve: give --socket-path/--fd with --blk-file, --device, or --control-socket");
    return opts;
}

}  // namespace xenvhost::worker
