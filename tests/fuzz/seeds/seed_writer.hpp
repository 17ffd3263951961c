#pragma once
// Writing seed files: where the corpus is, one file per seed, and the byte
// helpers every target's seeds are built from.

#include "common/bytes.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace xenvhost::fuzz::seeds {

void set_corpus_root(const std::filesystem::path& root);
int seeds_written();

// Writes <root>/<target>/<prefix>-<name>.bin, or <name>.bin for a crash
// reproducer (its name already says crash-); exits on failure.
void write_seed(const std::string& target, const std::string& name, const ByteWriter& w,
                const std::string& prefix = "seed");

template <typename T>
std::vector<uint8_t> raw(const T& v) {
    std::vector<uint8_t> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts);

}  // namespace xenvhost::fuzz::seeds
