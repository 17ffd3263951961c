#include "tests/xenstore/proc_status.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include <fstream>

namespace xenvhost::xstest {

std::map<std::string, std::string> proc_status(pid_t pid) {
    std::map<std::string, std::string> out;
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = value;
    }
    return out;
}

std::string first_word(const std::string& s) { return s.substr(0, s.find_first_of(" \t")); }

std::string uid_of(pid_t pid) { return first_word(proc_status(pid)["Uid"]); }

std::string namespace_of(const std::string& pid, const char* kind) {
    std::error_code ec;
    return std::filesystem::read_symlink(fmt::format("/proc/{}/ns/{}", pid, kind), ec).string();
}

void expect_sandboxed(pid_t pid, unsigned domid) {
    ASSERT_GT(pid, 0);
    auto st = proc_status(pid);
    const std::string uid = std::to_string(kTestUidRangeBase + domid);
    EXPECT_EQ(first_word(st["Uid"]), uid) << st["Uid"];
    EXPECT_EQ(st["Uid"], fmt::format("{0}\t{0}\t{0}\t{0}", uid));
    EXPECT_EQ(st["Gid"], fmt::format("{0}\t{0}\t{0}\t{0}", uid));
    EXPECT_EQ(st["Groups"], "");
    for (auto set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) EXPECT_EQ(st[set], "0000000000000000") << set;
    EXPECT_EQ(st["NoNewPrivs"], "1");
    EXPECT_EQ(st["Seccomp"], "2");  // filter mode
    // Its own mount namespace, and its own network namespace (io_uring can make sockets past the filter).
    for (auto kind : {"net", "mnt"}) {
        std::string theirs = namespace_of(std::to_string(pid), kind);
        EXPECT_FALSE(theirs.empty()) << kind;
        EXPECT_NE(theirs, namespace_of("self", kind)) << kind;
    }
}

}  // namespace xenvhost::xstest
