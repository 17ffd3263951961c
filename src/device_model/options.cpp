#include "device_model/options.hpp"

#include "sandbox/sandbox.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <set>
#include <sstream>

namespace po = boost::program_options;

namespace xenvhost::device_model {
namespace {

// Numbers in any base strtoull accepts (0x… as libxl writes them), whole text only.
Result<uint64_t> number(std::string_view key, std::string_view text) {
    uint64_t v = 0;
    int base = 10;
    if (text.starts_with("0x") || text.starts_with("0X")) {
        text.remove_prefix(2);
        base = 16;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        return fail("{}: '{}' is not a number", key, text);
    return v;
}

Result<> set_key(DmDevice& d, std::string_view key, std::string_view value) {
    auto num = [&](uint64_t max) -> Result<uint64_t> {
        auto v = number(key, value);
        if (v && *v > max) return fail("{}: {} is over {}", key, *v, max);
        return v;
    };
    if (key == "name") d.name = value;
    else if (key == "socket") d.socket_path = value;
    else if (key == "transport") {
        if (value == "pci") d.transport = TransportKind::kPci;
        else if (value == "mmio") d.transport = TransportKind::kMmio;
        else return fail("transport: '{}' is neither pci nor mmio", value);
    } else if (key == "regions") {
        if (value == "foreign") d.regions = RegionKind::kForeign;
        else if (value == "grant") d.regions = RegionKind::kGrant;
        else return fail("regions: '{}' is neither foreign nor grant", value);
    } else if (key == "virtio-id") {
        auto v = num(0xffff);
        if (!v) return pass(v.error());
        d.virtio_id = static_cast<uint32_t>(*v);
    } else if (key == "slot") {
        auto v = num(31);
        if (!v) return pass(v.error());
        d.pci_slot = static_cast<uint8_t>(*v);
    } else if (key == "base") {
        auto v = num(UINT64_MAX);
        if (!v) return pass(v.error());
        d.mmio_base = *v;
    } else if (key == "irq") {
        auto v = num(1019);
        if (!v) return pass(v.error());
        d.irq = static_cast<uint32_t>(*v);
    } else {
        return fail("unknown key '{}'", key);
    }
    return {};
}

Result<> check_device(const DmDevice& d) {
    if (d.name.empty()) return fail("name= is required");
    if (d.socket_path.empty()) return fail("socket= is required");
    if (d.virtio_id == 0) return fail("virtio-id 0 is no device");
    if (d.transport == TransportKind::kPci && d.pci_slot == 0)
        return fail("slot= (1..31) is required for a PCI device (slot 0 is the host bridge)");
    if (d.transport == TransportKind::kMmio) {
        if (d.mmio_base == 0 || d.mmio_base % 0x200 != 0) return fail("base= must be a non-zero multiple of 0x200");
        if (d.irq == 0) return fail("irq= is required for a virtio-mmio device");
#if defined(__x86_64__) || defined(__i386__)
        // An x86 guest's line without a PCI function is an ISA IRQ (xen/device_model.hpp).
        if (d.irq >= 16) return fail("irq={} is no ISA IRQ (1..15), the only lines a device model drives on x86", d.irq);
#endif
    }
    return {};
}

}  // namespace

Result<DmDevice> parse_dm_device(std::string_view text) {
    DmDevice d;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos) return fail("'{}' is not key=value", item);
        if (auto ok = set_key(d, item.substr(0, eq), item.substr(eq + 1)); !ok) return pass(ok.error());
    }
    if (auto ok = check_device(d); !ok) return pass(ok.error());
    return d;
}

Result<std::vector<RamRange>> parse_ram(std::string_view text) {
    std::vector<RamRange> ranges;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const size_t dash = item.find('-');
        if (dash == std::string_view::npos) return fail("--ram: '{}' is not first-last", item);
        auto first = number("--ram", item.substr(0, dash));
        auto last = number("--ram", item.substr(dash + 1));
        if (!first) return pass(first.error());
        if (!last) return pass(last.error());
        if (*last < *first) return fail("--ram: {:#x}-{:#x} ends before it starts", *first, *last);
        if (!ranges.empty() && *first <= ranges.back().last)
            return fail("--ram: {:#x}-{:#x} is not above the range before it", *first, *last);
        ranges.push_back({*first, *last});
    }
    if (ranges.empty()) return fail("--ram: no range");
    return ranges;
}

namespace {

struct Given {
    long long domid = -1;
    unsigned vcpus = 1;
    std::string ram, log_level, sandbox_user;
    std::vector<std::string> devices;
};

po::options_description describe(Given& g, DmOptions& o) {
    po::options_description desc(
        "Usage: xenvhost-dm --domid D --ram RANGES --device SPEC... [options]\n"
        "The device model of one Xen guest: an ioreq server that emulates virtio-pci or virtio-mmio for the\n"
        "guest's own drivers and drives each device's vhost-user back-end with XEN_MMAP memory regions.\n\nOptions");
    // clang-format off
    desc.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("domid", po::value(&g.domid), "the guest")
        ("vcpus", po::value(&g.vcpus), "the guest's vCPUs (event channels bound, one per vCPU; default 1)")
        ("ram", po::value(&g.ram), "the guest's RAM as inclusive first-last ranges, e.g. 0x0-0x9ffff,0xc0000-0xfffffff")
        ("device", po::value(&g.devices),
         "name=N,socket=PATH[,virtio-id=2][,transport=pci,slot=S | transport=mmio,base=B,irq=I][,regions=foreign|grant]")
        ("ready-fd", po::value(&o.ready_fd), "write the ready report here once every device is on the guest's bus")
        ("privcmd-path", po::value(&o.privcmd_path), "the privcmd device sent with foreign regions")
        ("gntdev-path", po::value(&o.gntdev_path), "the gntdev device sent with grant regions")
        ("sandbox-user", po::value(&g.sandbox_user),
         "UID:GID: once every device is on the guest's bus, enter a private root holding only the directories "
         "of the devices' sockets (--sandbox-root), become UID:GID with no groups and no capabilities, set "
         "no_new_privs, no core dumps, and install the syscall filter (needs root; xenvhostd passes it)")
        ("sandbox-root", po::value(&o.sandbox_root), "an existing directory the private root is mounted on "
         "(with --sandbox-user)")
        ("log-level", po::value(&g.log_level)->default_value("info"), "debug, info, warn or error");
    // clang-format on
    return desc;
}

Result<> check(const Given& g, DmOptions& o) {
    if (!log::parse_level(g.log_level, o.log_level)) return fail("--log-level: unknown level '{}'", g.log_level);
    if (g.domid <= 0 || g.domid >= 0x7ff0) return fail("--domid: a guest domain id is required");
    o.domid = static_cast<uint32_t>(g.domid);
    if (g.vcpus == 0 || g.vcpus > 128) return fail("--vcpus {} (1..128)", g.vcpus);
    o.vcpus = g.vcpus;
    auto ram = parse_ram(g.ram);
    if (!ram) return pass(ram.error());
    o.ram = std::move(*ram);
    std::set<std::string> names;
    for (const auto& text : g.devices) {
        auto d = parse_dm_device(text);
        if (!d) return fail("--device {}: {}", text, d.error().message);
        if (!names.insert(d->name).second) return fail("--device: name '{}' given twice", d->name);
        o.devices.push_back(std::move(*d));
    }
    if (o.devices.empty()) return fail("no --device given");
    if (!g.sandbox_user.empty()) {
        auto who = sandbox::parse_identity(g.sandbox_user);
        if (!who) return fail("--sandbox-user: {}", who.error().message);
        o.sandbox_user = *who;
        if (o.sandbox_root.empty() || o.sandbox_root[0] != '/')
            return fail("--sandbox-user needs --sandbox-root, an absolute path");
        for (const auto& d : o.devices)
            if (d.socket_path.empty() || d.socket_path[0] != '/')
                return fail("--device {}: with --sandbox-user its socket must be an absolute path", d.name);
    } else if (!o.sandbox_root.empty()) {
        return fail("--sandbox-root is only meaningful with --sandbox-user");
    }
    return {};
}

}  // namespace

std::vector<std::string> socket_directories(const std::vector<DmDevice>& devices) {
    std::set<std::string> dirs;
    for (const auto& d : devices) {
        const size_t slash = d.socket_path.rfind('/');
        if (slash == std::string::npos) continue;
        dirs.insert(slash == 0 ? "/" : d.socket_path.substr(0, slash));
    }
    return {dirs.begin(), dirs.end()};
}

Result<DmOptions> parse_dm_options(int argc, char** argv) {
    DmOptions o;
    Given g;
    const po::options_description desc = describe(g, o);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return fail("{}", e.what());
    }
    std::ostringstream help;
    help << desc;
    o.help_text = help.str();
    o.help = vm.count("help");
    o.version = vm.count("version");
    if (o.help || o.version) return o;
    if (auto ok = check(g, o); !ok) return pass(ok.error());
    return o;
}

}  // namespace xenvhost::device_model
