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
    std::vector<std::string> backends = {"worker", "null", "qsd"};  // which run, in this order
    unsigned depth = 32;
    uint16_t queue_size = 128;
    unsigned rounds = 1;
};

// The parsed options; none after printing why they are wrong (or after
// --help, with `exit_code` 0).
std::optional<Config> parse_config(int argc, char** argv, const std::string& default_worker, int& exit_code);

}  // namespace xenvhost::bench
