#include "tests/xenstore/harness.hpp"

#include "xen/xs_transaction.hpp"

#include <algorithm>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace xenvhost::xstest {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
    size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    return s.substr(i);
}

std::string substitute(const std::string& text, const Vars& vars) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, 2, "${") == 0) {
            size_t end = text.find('}', i);
            std::string name = text.substr(i + 2, end - i - 2);
            auto it = vars.find(name);
            out += it != vars.end() ? it->second : "${" + name + "}";
            i = end + 1;
        } else {
            out += text[i++];
        }
    }
    return out;
}

}  // namespace

std::string build_bin(const std::string& program) { return std::string(XENVHOST_BUILD_BIN) + "/" + program; }
std::string source_dir() { return XENVHOST_SOURCE_DIR; }

bool pid_alive(pid_t pid) {
    if (pid <= 0) return false;
    std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
    if (stat.empty()) return false;
    auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

Result<> make_image(const std::string& path, uint64_t size, uint8_t seed) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return fail("cannot create {}", path);
    std::vector<char> block(4096);
    for (uint64_t off = 0; off < size; off += block.size()) {
        for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>((off + i) * 7 + seed);
        out.write(block.data(), static_cast<std::streamsize>(std::min<uint64_t>(block.size(), size - off)));
    }
    if (!out) return fail("cannot write {}", path);
    return {};
}

// ---------------------------------------------------------------- Process

Result<std::unique_ptr<Process>> Process::spawn(const std::vector<std::string>& argv, const std::string& log_path,
                                                const std::vector<std::string>& env) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (auto& e : env) env_strings.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    auto p = std::unique_ptr<Process>(new Process());
    int rc = posix_spawn(&p->pid_, argv[0].c_str(), &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return fail("cannot start {}: {}", argv[0], std::strerror(rc));
    p->log_path_ = log_path;
    return p;
}

Process::~Process() {
    if (!exited_ && pid_ > 0) stop(SIGKILL, 0);
}

bool Process::alive() {
    if (exited_) return false;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        exited_ = true;
        status_ = st;
        return false;
    }
    return true;
}

std::optional<int> Process::wait_exit(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (alive()) {
        if (Clock::now() > deadline) return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
    return status_;
}

int Process::stop(int sig, int grace_ms) {
    if (!alive()) return status_;
    ::kill(pid_, sig);
    if (auto st = wait_exit(grace_ms)) return *st;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    exited_ = true;
    return status_;
}

std::string Process::log() const { return read_file(log_path_); }

// ---------------------------------------------------------------- trees

TreeSection* Tree::find(std::string_view part) {
    for (auto& s : sections)
        if (s.path.find(part) != std::string::npos) return &s;
    return nullptr;
}

void Tree::set(std::string_view part, const std::string& key, std::optional<std::string> value) {
    TreeSection* s = find(part);
    if (!s) return;
    auto it = std::find_if(s->keys.begin(), s->keys.end(), [&](auto& kv) { return kv.first == key; });
    if (!value) {
        if (it != s->keys.end()) s->keys.erase(it);
    } else if (it != s->keys.end()) {
        it->second = *value;
    } else {
        s->keys.emplace_back(key, *value);
    }
}

Result<Tree> load_tree(const std::string& name, const Vars& vars) {
    std::string path = source_dir() + "/xenstore/examples/" + name;
    std::ifstream in(path);
    if (!in) return fail("cannot read fixture {}", path);
    Tree tree;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        line = trim(substitute(line, vars));
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '[') {
            auto close = line.find(']');
            if (close == std::string::npos) return fail("{}:{}: unterminated section", path, lineno);
            TreeSection s;
            s.path = line.substr(1, close - 1);
            std::istringstream perms(line.substr(close + 1));
            std::string p;
            while (perms >> p) s.perms.push_back(p);
            tree.sections.push_back(std::move(s));
            continue;
        }
        auto eq = line.find('=');
        if (eq == std::string::npos || tree.sections.empty()) return fail("{}:{}: expected key = value", path, lineno);
        std::string value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        tree.sections.back().keys.emplace_back(trim(line.substr(0, eq)), value);
    }
    return tree;
}

// ---------------------------------------------------------------- XenstoreEnv

Result<std::unique_ptr<XenstoreEnv>> XenstoreEnv::start() {
    std::string base = std::getenv("XENVHOST_TEST_TMP") ? std::getenv("XENVHOST_TEST_TMP") : "/tmp";
    std::string tmpl = base + "/xenvhost-xs.XXXXXX";
    if (!::mkdtemp(tmpl.data())) return fail_errno("mkdtemp {}", tmpl);
    auto env = std::unique_ptr<XenstoreEnv>(new XenstoreEnv());
    env->dir_ = tmpl;
    ::mkdir((env->dir_ + "/xenvhost").c_str(), 0755);
    if (auto r = env->launch_xenstored(); !r) return std::unexpected(r.error());
    return env;
}

Result<> XenstoreEnv::restart_xenstored() {
    xs_.reset();
    if (xenstored_) xenstored_->stop(SIGKILL, 0);
    // Nothing of the old instance survives: its socket directory and the shim's state.
    std::error_code ec;
    for (auto sub : {"/xs-run", "/xs-state"}) std::filesystem::remove_all(dir_ + sub, ec);
    return launch_xenstored();
}

Result<> XenstoreEnv::launch_xenstored() {
    for (auto sub : {"/xs-run", "/xs-state"}) ::mkdir((dir_ + sub).c_str(), 0755);
    std::string socket = dir_ + "/xs-run/socket";
    ::setenv("XENSTORED_PATH", socket.c_str(), 1);
    std::vector<std::string> argv = {"/usr/lib/xen-4.17/bin/xenstored", "-N"};
    if (std::getenv("XENVHOST_XS_TRACE")) argv.insert(argv.end(), {"-T", dir_ + "/xenstored.trace"});
    auto p = Process::spawn(argv,
                            dir_ + "/xenstored.log",
                            {"LD_PRELOAD=" XENVHOST_FAKEXEN, "XENSTORED_RUNDIR=" + dir_ + "/xs-run",
                             "XENSTORED_PATH=" + socket, "FAKEXEN_DIR=" + dir_ + "/xs-state"});
    if (!p) return std::unexpected(p.error());
    xenstored_ = std::move(*p);
    if (!wait_file(socket, true, 5000)) return fail("xenstored did not create {}: {}", socket, xenstored_->log());
    // xenstored binds its socket before it listens: retry a refused connection.
    auto xs = xen::Xenstore::open();
    for (int i = 0; !xs && i < 500; ++i) {
        std::this_thread::sleep_for(10ms);
        xs = xen::Xenstore::open();
    }
    if (!xs) return std::unexpected(xs.error());
    xs_ = std::make_unique<xen::Xenstore>(std::move(*xs));
    // What xen-init-dom0 writes.
    if (auto r = xs_->write("/local/domain/0/name", "Domain-0"); !r) return std::unexpected(r.error());
    if (auto r = xs_->write("/local/domain/0/domid", "0"); !r) return std::unexpected(r.error());
    return {};
}

XenstoreEnv::~XenstoreEnv() {
    xs_.reset();
    if (xenstored_) xenstored_->stop();
    if (!std::getenv("XENVHOST_TEST_KEEP")) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

Result<> XenstoreEnv::create_domain(unsigned domid, const std::string& name) {
    std::string home = fmt::format("/local/domain/{}", domid);
    for (;;) {
        auto t = xen::XsTransaction::start(*xs_);
        if (!t) return std::unexpected(t.error());
        if (auto r = xs_->mkdir(home, t->id()); !r) return r;
        xs_permissions perms[] = {{0, XS_PERM_NONE}, {domid, XS_PERM_READ}};
        if (auto r = xs_->set_permissions(home, perms, t->id()); !r) return r;
        if (auto r = xs_->write(home + "/name", name, t->id()); !r) return r;
        if (auto r = xs_->write(home + "/domid", std::to_string(domid), t->id()); !r) return r;
        auto c = t->commit();
        if (!c) return std::unexpected(c.error());
        if (*c) break;
    }
    return xs_->introduce_domain(domid, 0x1000 + domid, 3);
}

Result<> XenstoreEnv::kill_domain(unsigned domid) {
    std::string state = dir_ + "/xs-state";
    std::ofstream(fmt::format("{}/dead-{}", state, domid)) << "";
    int fd = ::open((state + "/evtchn").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail_errno("open evtchn FIFO");
    uint32_t port = 1;  // VIRQ_DOM_EXC
    bool ok = ::write(fd, &port, sizeof port) == sizeof port;
    ::close(fd);
    if (!ok) return fail("cannot write to the evtchn FIFO");
    return {};
}

Result<> XenstoreEnv::write_tree(const Tree& tree) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto t = xen::XsTransaction::start(*xs_);
        if (!t) return std::unexpected(t.error());
        for (auto& s : tree.sections) {
            if (auto r = xs_->remove(s.path, t->id()); !r) return r;
            if (auto r = xs_->mkdir(s.path, t->id()); !r) return r;
            std::vector<xs_permissions> perms;
            for (auto& p : s.perms) {
                auto perm = xen::parse_permission(p);
                if (!perm) return std::unexpected(perm.error());
                perms.push_back(*perm);
            }
            if (!perms.empty())
                if (auto r = xs_->set_permissions(s.path, perms, t->id()); !r) return r;
            for (auto& [k, v] : s.keys)
                if (auto r = xs_->write(s.path + "/" + k, v, t->id()); !r) return r;
        }
        auto c = t->commit();
        if (!c) return std::unexpected(c.error());
        if (*c) return {};
    }
    return fail("transaction kept conflicting");
}

Result<> XenstoreEnv::close_backend(const std::string& be) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto t = xen::XsTransaction::start(*xs_);
        if (!t) return std::unexpected(t.error());
        if (auto r = xs_->write(be + "/online", "0", t->id()); !r) return r;
        if (auto r = xs_->write(be + "/state", "5", t->id()); !r) return r;
        auto c = t->commit();
        if (!c) return std::unexpected(c.error());
        if (*c) return {};
    }
    return fail("transaction kept conflicting");
}

std::optional<std::string> XenstoreEnv::read(const std::string& path) const {
    auto r = xs_->read(path);
    if (!r) return std::nullopt;
    return *r;
}

bool XenstoreEnv::wait_until(const std::string& watch_path, const std::function<bool()>& pred, int timeout_ms) const {
    // A handle of its own so the events do not mix with other waits.
    auto xs = xen::Xenstore::open();
    if (!xs) return false;
    static int counter = 0;
    std::string token = fmt::format("wait{}", ++counter);
    if (!xs->watch(watch_path, token)) return false;
    auto fd = xs->watch_fd();
    if (!fd) return false;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (pred()) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{*fd, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long>(left, 200)));  // re-check now and then for non-xenstore predicates
        while (xs->next_event()) {
        }
    }
}

bool XenstoreEnv::wait_value(const std::string& path, const std::string& value, int timeout_ms) const {
    return wait_until(path, [&] { return read(path) == value; }, timeout_ms);
}

bool XenstoreEnv::wait_file(const std::string& path, bool exists, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        struct stat st{};
        if ((::lstat(path.c_str(), &st) == 0) == exists) return true;
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

// ---------------------------------------------------------------- DaemonProcess

Result<std::unique_ptr<DaemonProcess>> DaemonProcess::start(const XenstoreEnv& env,
                                                            const std::vector<std::string>& extra_args,
                                                            const std::vector<std::string>& extra_env) {
    std::vector<std::string> argv = {build_bin("xenvhostd"), "--run-dir", env.run_dir()};
    if (std::find(extra_args.begin(), extra_args.end(), "--worker") == extra_args.end())
        argv.insert(argv.end(), {"--worker", build_bin("xenvhost-worker")});
    // Workers drop to uids of a test range that needs no passwd entry (the
    // same drop as on an installed system); a test may give its own.
    const bool own_identity = std::any_of(extra_args.begin(), extra_args.end(), [](const std::string& a) {
        return a == "--guest-uid-range-base" || a == "--guest-user" || a == "--run-as-root";
    });
    if (::geteuid() == 0 && !own_identity)
        argv.insert(argv.end(), {"--guest-uid-range-base", std::to_string(kTestUidRangeBase)});
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto d = std::make_unique<DaemonProcess>();
    static int counter = 0;
    auto p = Process::spawn(argv, fmt::format("{}/xenvhostd-{}.log", env.dir(), ++counter), extra_env);
    if (!p) return std::unexpected(p.error());
    d->process_ = std::move(*p);
    return d;
}

long proc_status_kib(pid_t pid, std::string_view field) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':')
            return std::stol(line.substr(field.size() + 1));
    return -1;
}

long DaemonProcess::rss_kib() const { return proc_status_kib(pid(), "VmRSS"); }

double DaemonProcess::cpu_ms() const {
    std::string stat = read_file(fmt::format("/proc/{}/stat", pid()));
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) return -1;
    std::istringstream in(stat.substr(paren + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    // Fields after the command: state is field 3; utime and stime are 14 and 15.
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoul(field);
        if (i == 15) stime = std::stoul(field);
    }
    return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace xenvhost::xstest
