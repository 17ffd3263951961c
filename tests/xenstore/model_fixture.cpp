#include "tests/xenstore/model_fixture.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace xenvhost::xstest {
namespace {

using namespace std::chrono_literals;
namespace xdl = xendouble;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// ---------------------------------------------------------------- the double

Result<std::unique_ptr<DoubleGuest>> DoubleGuest::create(const std::string& dir, unsigned domid, unsigned vcpus,
                                                         uint64_t ram_kib) {
    if (::mkdir(dir.c_str(), 0700) != 0) return fail_errno("mkdir {}", dir);
    auto g = std::make_unique<DoubleGuest>();
    // The device model's foreign handle and the worker map the RAM the daemon
    // passes (--ram, from static-max): the memory file covers all of it (sparse).
    auto files = frontend::XenDoubleFiles::create(dir, ram_kib * 1024 / xdl::kPageSize, domid);
    if (!files) return std::unexpected(files.error());
    g->files_.emplace(std::move(*files));
    auto guest = frontend::IoreqGuest::create(dir, domid, vcpus);
    if (!guest) return std::unexpected(guest.error());
    g->guest_ = std::move(*guest);
    return g;
}

std::vector<std::string> DoubleGuest::daemon_env() const {
    std::vector<std::string> env = {std::string("LD_PRELOAD=") + XENVHOST_XENDOUBLE};
    for (const auto& [k, v] : guest_->environment()) env.push_back(k + "=" + v);
    return env;
}

bool DoubleGuest::wait_server(const std::function<bool(const frontend::IoreqServerState&)>& pred,
                              int timeout_ms) const {
    return guest_->wait_for(pred, "ioreq server state", timeout_ms).has_value();
}

// ---------------------------------------------------------------- fixture

void DeviceModelLevel::TearDown() {
    if (HasFailure() && xd) std::cerr << "---- double: " << xd->server().describe() << "\n";
    XenstoreLevel::TearDown();
    xd.reset();
}

void DeviceModelLevel::guest(std::optional<std::string> type) {
    XS_ASSERT_OK(env->create_domain(kGuest, "guest5"));
    std::string home = fmt::format("/local/domain/{}", kGuest);
    if (type) XS_ASSERT_OK(env->xs().write(fmt::format("/libxl/{}/type", kGuest), *type));
    XS_ASSERT_OK(env->xs().write(home + "/memory/static-max", std::to_string(kGuestRamKib)));
    for (unsigned v = 0; v < kGuestVcpus; ++v)
        XS_ASSERT_OK(env->xs().write(fmt::format("{}/cpu/{}/availability", home, v), "online"));
}

void DeviceModelLevel::hvm_guest_with_double(const std::vector<std::string>& daemon_args) {
    ASSERT_NO_FATAL_FAILURE(guest("hvm"));
    auto g = DoubleGuest::create(env->dir() + "/xendouble", kGuest, kGuestVcpus, kGuestRamKib);
    ASSERT_TRUE(g.has_value()) << g.error().message;
    xd = std::move(*g);
    ASSERT_NO_FATAL_FAILURE(start_daemon(daemon_args, xd->daemon_env()));
}

Tree DeviceModelLevel::x86_disk(unsigned devid, const std::string& image_path) {
    Tree t = disk(kGuest, devid, image_path);
    t.set("/backend/", "base", "0");
    t.set("/backend/", "irq", "0");
    return t;
}

std::string DeviceModelLevel::script(const std::string& name, const std::string& body) {
    std::string path = env->dir() + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
}

pid_t DeviceModelLevel::model_pid(const std::string& be_dir) {
    auto v = env->read(be_dir + "/xenvhost-dm-pid");
    return v ? std::stoi(*v) : -1;
}

std::vector<pid_t> DeviceModelLevel::daemon_children(const std::string& name) {
    std::vector<pid_t> out;
    if (!daemon) return out;
    for (pid_t p : children_of(daemon->pid()))
        if (name.empty() || process_name(p) == name) out.push_back(p);
    return out;
}

// ---------------------------------------------------------------- /proc

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string n = e.path().filename();
        if (n.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string stat = slurp("/proc/" + n + "/stat");
        auto paren = stat.rfind(')');
        if (paren == std::string::npos) continue;
        std::istringstream in(stat.substr(paren + 2));
        char state;
        pid_t ppid = 0;
        if (in >> state >> ppid && ppid == parent) out.push_back(std::stoi(n));
    }
    return out;
}

std::string process_name(pid_t pid) {
    std::string comm = slurp(fmt::format("/proc/{}/comm", pid));
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

std::vector<std::string> process_args(pid_t pid) {
    std::string raw = slurp(fmt::format("/proc/{}/cmdline", pid));
    std::vector<std::string> args;
    for (size_t i = 0; i < raw.size();) {
        size_t end = raw.find('\0', i);
        if (end == std::string::npos) end = raw.size();
        args.push_back(raw.substr(i, end - i));
        i = end + 1;
    }
    return args;
}

bool process_gone(pid_t pid) {
    struct stat st{};
    return pid > 0 && ::stat(fmt::format("/proc/{}", pid).c_str(), &st) != 0;
}

bool wait_for(const std::function<bool()>& pred, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (pred()) return true;
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

std::vector<std::string> option_values(const std::vector<std::string>& args, const std::string& option) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == option) out.push_back(args[i + 1]);
    return out;
}

}  // namespace xenvhost::xstest
