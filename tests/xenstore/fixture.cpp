#include "tests/xenstore/fixture.hpp"

#include "frontend/blk_session.hpp"

#include <signal.h>

#include <fstream>
#include <iostream>

namespace xenvhost::xstest {

void XenstoreLevel::SetUp() {
    auto e = XenstoreEnv::start();
    ASSERT_TRUE(e.has_value()) << e.error().message;
    env = std::move(*e);
}

void XenstoreLevel::TearDown() {
    std::string log;
    if (daemon) {
        // Generous: the daemon first gives each worker 3 s to finish its I/O.
        daemon->process().stop(SIGTERM, 15000);
        log = daemon->log();
    }
    if (HasFailure()) {
        for (auto& l : old_logs) std::cerr << "---- earlier xenvhostd log\n" << l;
        std::cerr << "---- xenvhostd log\n" << log << "---- end of log\n";
    }
    daemon.reset();
    env.reset();
}

void XenstoreLevel::start_daemon(const std::vector<std::string>& extra, const std::vector<std::string>& extra_env) {
    if (daemon) stop_daemon();
    auto d = DaemonProcess::start(*env, extra, extra_env);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    daemon = std::move(*d);
}

void XenstoreLevel::stop_daemon(int sig) {
    if (!daemon) return;
    daemon->process().stop(sig, 15000);
    old_logs.push_back(daemon->log());
    daemon.reset();
}

std::string XenstoreLevel::image(const std::string& name, uint64_t size) {
    std::string path = env->dir() + "/" + name;
    auto r = make_image(path, size, static_cast<uint8_t>(name.size()));
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return path;
}

Tree XenstoreLevel::disk(unsigned domid, unsigned devid, const std::string& params, const std::string& mode,
                         std::optional<std::string> grant, unsigned backend) {
    Vars v = {{"B", std::to_string(backend)}, {"D", std::to_string(domid)}, {"DEVID", std::to_string(devid)},
              {"VDEV", "xvda"},  {"PARAMS", params},                      {"MODE", mode},
              {"DEVTYPE", "disk"}, {"REMOVABLE", "0"}, {"DISCARD", mode == "w" ? "1" : "0"},
              {"BASE", "33554432"}, {"IRQ", "33"}, {"GRANT", grant.value_or("")}};
    auto t = load_tree(grant ? "virtio_disk-4.19.tree" : "virtio_disk-4.17.tree", v);
    EXPECT_TRUE(t.has_value()) << t.error().message;
    return t.value_or(Tree{});
}

Tree XenstoreLevel::virtio(unsigned domid, unsigned devid, const std::string& type, std::optional<std::string> params,
                           unsigned backend) {
    Vars v = {{"B", std::to_string(backend)}, {"D", std::to_string(domid)}, {"DEVID", std::to_string(devid)},
              {"TYPE", type}, {"BASE", "0x2000200"}, {"IRQ", "34"}, {"GRANT", "1"}};
    auto t = load_tree("virtio-4.18.tree", v);
    EXPECT_TRUE(t.has_value()) << t.error().message;
    if (t && params) t->set("/backend/", "params", *params);
    return t.value_or(Tree{});
}

std::string XenstoreLevel::be(const std::string& kind, unsigned domid, unsigned devid, unsigned backend) const {
    return fmt::format("/local/domain/{}/backend/{}/{}/{}", backend, kind, domid, devid);
}

std::string XenstoreLevel::socket(const std::string& kind, unsigned domid, unsigned devid) const {
    return fmt::format("{}/dom{}/{}-{}.sock", env->run_dir(), domid, kind, devid);
}

bool XenstoreLevel::wait_state(const std::string& be_dir, const std::string& state, int timeout_ms) {
    return env->wait_value(be_dir + "/state", state, timeout_ms);
}

bool XenstoreLevel::wait_error(const std::string& be_dir, int timeout_ms) {
    return env->wait_until(be_dir, [&] { return env->read(be_dir + "/xenvhost-error").has_value(); }, timeout_ms);
}

pid_t XenstoreLevel::worker_pid(const std::string& be_dir) {
    auto v = env->read(be_dir + "/xenvhost-worker-pid");
    return v ? std::stoi(*v) : -1;
}

void XenstoreLevel::expect_io(const std::string& socket_path, const std::string& image_path, uint64_t sector) {
    frontend::SessionOptions opts;
    opts.memory_size = 16 << 20;
    auto s = frontend::BlkSession::connect(socket_path, opts);
    ASSERT_TRUE(s.has_value()) << "connect " << socket_path << ": " << s.error().message;
    auto started = (*s)->start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
    std::vector<uint8_t> data(4096);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + sector);
    auto w = (*s)->blk(0).write(sector, data);
    ASSERT_TRUE(w.has_value()) << "write: " << w.error().message;
    auto back = (*s)->blk(0).read(sector, static_cast<uint32_t>(data.size()));
    ASSERT_TRUE(back.has_value()) << "read: " << back.error().message;
    EXPECT_EQ(*back, data) << "read-back differs";
    std::ifstream in(image_path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(sector * 512));
    std::vector<uint8_t> file(data.size());
    in.read(reinterpret_cast<char*>(file.data()), static_cast<std::streamsize>(file.size()));
    EXPECT_EQ(file, data) << "the image file does not hold what the front-end wrote";
}

}  // namespace xenvhost::xstest
