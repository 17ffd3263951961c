// The seed file writer and the byte helpers of seed_writer.hpp.

#include "seeds/seed_writer.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace xenvhost::fuzz::seeds {
namespace fs = std::filesystem;

namespace {
fs::path g_root;
int g_written = 0;
}  // namespace

void set_corpus_root(const fs::path& root) { g_root = root; }

int seeds_written() { return g_written; }

void write_seed(const std::string& target, const std::string& name, const ByteWriter& w,
                const std::string& prefix) {
    fs::path dir = g_root / target;
    fs::create_directories(dir);
    std::ofstream f(dir / (prefix == "crash" ? name + ".bin" : prefix + "-" + name + ".bin"),
                    std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(w.data().data()), static_cast<std::streamsize>(w.data().size()));
    if (!f) {
        std::fprintf(stderr, "make-seeds: cannot write %s/%s\n", dir.c_str(), name.c_str());
        std::exit(1);
    }
    ++g_written;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

}  // namespace xenvhost::fuzz::seeds
