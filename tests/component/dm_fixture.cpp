#include "dm_fixture.hpp"

#include "frontend/xen_guest_memory.hpp"
#include "frontend/xen_worker.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace xenvhost::component {

namespace xd = xendouble;

namespace {

// Variables for a worker spawned while it lives (BackendProcess passes this
// process's environment on), restored after.
class ScopedEnv {
public:
    void set(const std::string& name, const std::string& value) {
        const char* old = std::getenv(name.c_str());
        saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
            else ::unsetenv(it->first.c_str());
        }
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The double is not instrumented: a sanitizer runtime must not insist on being first.
std::string asan_options() {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return std::string(asan && *asan ? asan : "") + (asan && *asan ? ":" : "") + "verify_asan_link_order=0";
}

std::string device_arg(const DmDeviceSpec& d, const std::string& socket) {
    const std::string regions = d.regions.empty() ? "" : ",regions=" + d.regions;
    if (d.mmio)
        return fmt::format("name={},socket={},transport=mmio,base={:#x},irq={}{}", d.name, socket, d.base, d.irq,
                           regions);
    return fmt::format("name={},socket={},transport=pci,slot={}{}", d.name, socket, d.slot, regions);
}

}  // namespace

void DmTest::SetUp() {
    ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("xenvhost-dm"));
    dir_ = std::make_unique<TempDir>(std::move(dir));
    ASSERT_OK_AND_ASSIGN(auto files, frontend::XenDoubleFiles::create(dir_->path(), kGuestBytes / 4096, kDomid));
    files_ = std::make_unique<frontend::XenDoubleFiles>(std::move(files));
    ASSERT_OK_AND_ASSIGN(guest_, frontend::IoreqGuest::create(dir_->path(), kDomid, kVcpus));
    const std::vector<RegionLayout> ram{{0, kLowEnd}, {kHighStart, kGuestBytes - kHighStart}};
    ASSERT_OK_AND_ASSIGN(mem_, frontend::make_xen_guest_memory(*files_, ram));

    const auto specs = devices();
    std::vector<std::string> args{"--domid", std::to_string(kDomid), "--vcpus", std::to_string(kVcpus), "--ram",
                                  fmt::format("0x0-{:#x},{:#x}-{:#x}", kLowEnd - 1, kHighStart, kGuestBytes - 1),
                                  "--privcmd-path", "/dev/zero", "--gntdev-path", "/dev/null"};
    for (size_t i = 0; i < specs.size(); ++i) {
        sockets_.push_back(dir_->file(fmt::format("vhost-{}.sock", i)));
        images_.push_back(dir_->file(fmt::format("disk-{}.img", i)));
        ASSERT_OK(create_image(images_[i], kImageSize, 0x5eed + i));
        workers_.emplace_back();
        ASSERT_NO_FATAL_FAILURE(start_worker(i));
        args.insert(args.end(), {"--device", device_arg(specs[i], sockets_[i])});
    }
    DmLaunch launch{dm_program(XENVHOST_BUILD_BIN), args, guest_->environment(), dir_->file("dm.log")};
    launch.env.emplace_back("LD_PRELOAD", frontend::xen_worker_defaults(XENVHOST_BUILD_BIN).double_lib);
    launch.env.emplace_back("ASAN_OPTIONS", asan_options());
    ASSERT_OK_AND_ASSIGN(dm_, DmProcess::start(launch));
    ASSERT_OK_AND_ASSIGN(ready_, dm_->ready_report());
    ASSERT_TRUE(ready_.starts_with("ioreq-server ") && ready_.ends_with("\nready\n")) << ready_;
    ASSERT_OK(guest_->wait_ready());
}

void DmTest::TearDown() {
    if (dm_ && dm_->alive()) stop_dm_clean();
    for (auto& w : workers_)
        if (w && w->alive()) (void)w->stop();
    if (HasFailure()) std::cout << logs();
}

std::string DmTest::logs() const {
    std::string out = "---- xenvhost-dm log ----\n" + (dm_ ? dm_->log() : std::string("(not started)\n"));
    for (const auto& path : worker_logs_) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        out += "---- " + path + " ----\n" + text.str();
    }
    if (guest_) out += "---- double: " + guest_->server().describe() + "\n";
    return out + "----\n";
}

void DmTest::start_worker(size_t i) {
    const auto defaults = frontend::xen_worker_defaults(XENVHOST_BUILD_BIN);
    BackendOptions b;
    b.program = defaults.program;
    b.socket_path = sockets_[i];
    b.image_path = images_[i];
    b.log_path = dir_->file(fmt::format("worker-{}.{}.log", i, worker_logs_.size()));
    worker_logs_.push_back(b.log_path);
    b.num_queues = 1;
    b.serial = fmt::format("xenvhost-dm-{}", i);
    b.extra_args = {"--domid", std::to_string(kDomid)};
    ScopedEnv env;
    env.set("LD_PRELOAD", defaults.double_lib);
    for (const auto& [k, v] : files_->environment()) env.set(k, v);
    env.set("ASAN_OPTIONS", asan_options());
    ASSERT_OK_AND_ASSIGN(workers_[i], BackendProcess::start(b));
}

void DmTest::kill_worker(size_t i) { ASSERT_OK(workers_.at(i)->kill_now()); }

void DmTest::stop_dm_clean() {
    auto st = dm_->stop();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << describe_wait_status(*st);
    const auto s = guest_->server();
    EXPECT_FALSE(s.exists || s.enabled) << s.describe();
    EXPECT_TRUE(s.mmio.empty() && s.pcidevs.empty()) << s.describe();
    EXPECT_EQ(s.page_maps, 0u) << s.describe();
    for (auto b : s.bindings) EXPECT_EQ(b, xd::kPortClosed) << s.describe();
}

std::unique_ptr<PciGuest> DmTest::pci_device(size_t i, uint64_t bar) {
    auto p = std::make_unique<PciGuest>(*guest_, devices().at(i).slot);
    const auto caps = p->walk_capabilities();
    EXPECT_TRUE(caps.common_bar == 0 && caps.notify_bar == 0 && caps.isr_bar == 0 && caps.device_bar == 0)
        << "virtio capabilities not all found in BAR 0";
    p->place_bar(bar);
    return p;
}

std::unique_ptr<MmioGuest> DmTest::mmio_device(size_t i) {
    const DmDeviceSpec d = devices().at(i);  // a copy: devices() returns a temporary
    return std::make_unique<MmioGuest>(*guest_, d.base, d.irq);
}

std::vector<uint8_t> DmTest::image_bytes(size_t dev, uint64_t offset, size_t len) {
    auto b = pread_file(images_.at(dev), offset, len);
    EXPECT_TRUE(b) << b.error().message;
    return b ? *b : std::vector<uint8_t>{};
}

void DmTest::verified_batch(BlkGuest& g, size_t dev, const std::vector<std::pair<uint64_t, uint32_t>>& requests,
                            uint64_t seed) {
    std::vector<std::vector<uint8_t>> data;
    std::vector<BlkCommand> writes, reads;
    for (size_t i = 0; i < requests.size(); ++i) {
        data.push_back(random_bytes(seed + i, requests[i].second));
        writes.push_back(BlkCommand::out(requests[i].first, data.back()));
        writes.back().tag = i;
        reads.push_back(BlkCommand::in(requests[i].first, requests[i].second));
        reads.back().tag = i;
    }
    ASSERT_OK(g.submit(writes));
    ASSERT_OK_AND_ASSIGN(auto written, g.collect(writes.size()));
    ASSERT_EQ(written.size(), writes.size());
    for (const auto& c : written) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "write " << c.tag;
    for (size_t i = 0; i < requests.size(); ++i)
        EXPECT_EQ(first_difference(image_bytes(dev, requests[i].first * kSectorSize, requests[i].second), data[i]), -1)
            << "image differs after write " << i;
    ASSERT_OK(g.submit(reads));
    ASSERT_OK_AND_ASSIGN(auto read, g.collect(reads.size()));
    ASSERT_EQ(read.size(), reads.size());
    for (const auto& c : read) {
        EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "read " << c.tag;
        ASSERT_OK_AND_ASSIGN(auto back, g.blk().data(c));
        EXPECT_EQ(first_difference(back, data.at(c.tag)), -1) << "read-back " << c.tag << " differs";
    }
}

bool DmTest::claimed(uint64_t first, uint64_t last) const {
    for (const auto& r : guest_->server().mmio)
        if (r.start <= first && last <= r.end) return true;
    return false;
}

}  // namespace xenvhost::component
