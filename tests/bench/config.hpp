#pragma once
// The bench's command line.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::bench {

struct Config {
    double duration_s = 10;
    double warmup_s = 1;
    uint64_t image_mib = 1024;
    std::string dir = "/dev/shm";
    std::string worker;
    std::string qsd = "/usr/bin/qemu-storage-daemon";
    std::string qsd_aio = "io_uring";
    std::vector<std::string> backends;  // which run, in this order (backend_set.hpp)
    std::vector<std::string> skipped;   // why a default back-end is left out
    // The sandboxed worker's --sandbox-user: an identity no passwd entry
    // uses (main.cpp checks), as a guest's range would give.
    std::string sandbox_user = "3950000000:3950000000";
    unsigned depth = 32;
    uint16_t queue_size = 128;
    unsigned rounds = 1;
};

// The parsed options; none after printing why they are wrong (or after
// --help, with `exit_code` 0). `root`: whether the sandboxed worker can run.
std::optional<Config> parse_config(int argc, char** argv, const std::string& default_worker, bool root,
                                   int& exit_code);

}  // namespace xenvhost::bench
