#include "options.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace xenvhost::grantfe {

const char* usage() {
    return "Usage: xen-grant-frontend --socket PATH --image FILE [OPTIONS]\n"
           "A vhost-user-blk front-end for real Xen, run in dom0: its guest memory is pages it\n"
           "grants with gntalloc (to --domid, dom0 itself by default), its regions and descriptors\n"
           "carry grant addresses (1<<63 | ref<<12) as xen-vhost-frontend sends them. It checks\n"
           "writes, flushes and reads byte for byte against its buffers and the image, a buffer\n"
           "spanning five pages, and requests whose data grant is revoked or was never made; then\n"
           "times reads of each --loops size, reporting the worker's map and grant copy calls.\n"
           "\n"
           "Options:\n"
           "  --socket PATH        the worker's vhost-user socket (xenvhost-worker --domid D)\n"
           "  --image FILE         the image the worker serves (read back with pread)\n"
           "  --control PATH       the worker's --control-socket, for its map counters\n"
           "  --domid D            domain the pages are granted to; the worker's --domid (default 0)\n"
           "  --pages N            pages granted for guest memory, 64..1000 (default 256)\n"
           "  --queue-size N       virtqueue size, a power of two (default 128)\n"
           "  --depth N            requests in flight in the timed loops (default 1)\n"
           "  --seconds S          length of each timed read loop (default 5)\n"
           "  --warmup-seconds S   untimed 4 KiB reads before the timed loops (default 0.5)\n"
           "  --loops LIST         sizes of the timed read loops in KiB, 4..64 (default 4,64);\n"
           "                       above 4 KiB in 4 KiB descriptors\n"
           "  --trace-hook CMD     after each timed loop run CMD start NAME, the same reads for\n"
           "                       --trace-seconds (default 1), then CMD stop NAME (NAME: 4k, ...)\n"
           "  --trace-seconds S    length of each traced loop\n"
           "  --guest-domid G      use guest G's memory instead of dom0's own grants: with\n"
           "  --guest-grants LIST  the refs (A-B,C,...) G granted to dom0 (grant mode), or\n"
           "  --guest-pfns LIST    frames G holds for us (foreign mode: translated to machine\n"
           "                       frames with libxenguest, mapped through privcmd); the worker\n"
           "                       runs with --domid G\n"
           "  -h, --help           print this help and exit\n"
           "\n"
           "Exit status: 0 every check passed, 1 a check failed, 2 bad usage.\n";
}

namespace {

template <typename T>
Result<T> number(std::string_view opt, std::string_view v, T min, T max) {
    T n{};
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max)
        return fail("{}: '{}' is not a number in {}..{}", opt, v, min, max);
    return n;
}

Result<double> seconds(std::string_view opt, std::string_view v) {
    std::string s(v);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !(d > 0) || d > 3600) return fail("{}: '{}' is not a duration in seconds", opt, v);
    return d;
}

}  // namespace

Result<std::vector<uint64_t>> parse_ranges(std::string_view text) {
    std::vector<uint64_t> out;
    constexpr uint64_t kMaxCount = 1u << 20;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const size_t dash = item.find('-');
        auto first = number<uint64_t>("range", item.substr(0, dash), 0, uint64_t{1} << 40);
        if (!first) return std::unexpected(first.error());
        uint64_t last = *first;
        if (dash != std::string_view::npos) {
            auto l = number<uint64_t>("range", item.substr(dash + 1), *first, uint64_t{1} << 40);
            if (!l) return std::unexpected(l.error());
            last = *l;
        }
        if (out.size() + (last - *first) >= kMaxCount) return fail("more than {} numbers in the list", kMaxCount);
        for (uint64_t n = *first; n <= last; ++n) out.push_back(n);
    }
    if (out.empty()) return fail("an empty list");
    return out;
}

Result<Options> parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            o.help = true;
            return o;
        }
        std::string_view value;
        if (auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
            value = a.substr(eq + 1);
            a = a.substr(0, eq);
        } else if (a.starts_with("--")) {
            if (i + 1 >= argc) return fail("{} needs a value", a);
            value = argv[++i];
        } else {
            return fail("unexpected argument '{}'", a);
        }
        if (a == "--socket") {
            o.socket = value;
        } else if (a == "--image") {
            o.image = value;
        } else if (a == "--control") {
            o.control = std::string(value);
        } else if (a == "--domid") {
            auto n = number<uint32_t>(a, value, 0, 0x7fef);
            if (!n) return std::unexpected(n.error());
            o.domid = *n;
        } else if (a == "--pages") {
            auto n = number<uint32_t>(a, value, 64, 1000);
            if (!n) return std::unexpected(n.error());
            o.pages = *n;
        } else if (a == "--queue-size") {
            auto n = number<uint16_t>(a, value, 16, 1024);
            if (!n) return std::unexpected(n.error());
            if (*n & (*n - 1)) return fail("--queue-size: {} is not a power of two", *n);
            o.queue_size = *n;
        } else if (a == "--depth") {
            auto n = number<unsigned>(a, value, 1, 16);
            if (!n) return std::unexpected(n.error());
            o.depth = *n;
        } else if (a == "--seconds") {
            auto s = seconds(a, value);
            if (!s) return std::unexpected(s.error());
            o.seconds = *s;
        } else if (a == "--loops") {
            auto list = parse_ranges(value);
            if (!list || list->empty()) return fail("--loops: '{}' is not a list of sizes in KiB", value);
            o.loop_kib.clear();
            for (uint64_t k : *list) {
                if (k < 4 || k > 64 || k % 4) return fail("--loops: {} KiB is not a multiple of 4 in 4..64", k);
                o.loop_kib.push_back(static_cast<uint32_t>(k));
            }
        } else if (a == "--warmup-seconds") {
            auto s = seconds(a, value);
            if (!s) return std::unexpected(s.error());
            o.warmup_seconds = *s;
        } else if (a == "--trace-hook") {
            o.trace_hook = value;
        } else if (a == "--trace-seconds") {
            auto s = seconds(a, value);
            if (!s) return std::unexpected(s.error());
            o.trace_seconds = *s;
        } else if (a == "--guest-domid") {
            auto n = number<uint32_t>(a, value, 1, 0x7fef);
            if (!n) return std::unexpected(n.error());
            o.guest_domid = *n;
        } else if (a == "--guest-grants" || a == "--guest-pfns") {
            auto list = parse_ranges(value);
            if (!list) return fail("{}: {}", a, list.error().message);
            (a == "--guest-grants" ? o.guest_grants : o.guest_pfns) = std::move(*list);
        } else {
            return fail("unknown option {}", a);
        }
    }
    if (o.guest_domid.has_value() != (!o.guest_grants.empty() || !o.guest_pfns.empty()))
        return fail("--guest-domid goes with --guest-grants or --guest-pfns");
    if (!o.guest_grants.empty() && !o.guest_pfns.empty())
        return fail("--guest-grants and --guest-pfns exclude each other");
    if (o.socket.empty()) return fail("--socket is required");
    if (o.image.empty()) return fail("--image is required");
    return o;
}

}  // namespace xenvhost::grantfe
