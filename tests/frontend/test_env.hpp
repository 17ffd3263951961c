#pragma once
// Scratch space for tests and the load generator: a private temporary
// directory removed on destruction, and disk images filled with a pattern
// that can be recomputed for any byte offset.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xenvhost::frontend {

class TempDir {
public:
    TempDir() = default;
    TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    TempDir& operator=(TempDir&&) = delete;
    ~TempDir();
    // mkdtemp under `parent` (default $TMPDIR or /tmp).
    static Result<TempDir> create(const std::string& prefix, const std::string& parent = {});
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    // Keeps the directory (to look at logs after a failure).
    void keep() { keep_ = true; }

private:
    std::string path_;
    bool keep_ = false;
};

// The pattern byte at `offset` of an image made with `seed`.
uint8_t pattern_byte(uint64_t seed, uint64_t offset);
void fill_pattern(uint64_t seed, uint64_t offset, std::span<uint8_t> out);
std::vector<uint8_t> pattern(uint64_t seed, uint64_t offset, size_t len);

// Creates (or truncates) an image of `size` bytes filled with the pattern.
Result<void> create_image(const std::string& path, uint64_t size, uint64_t seed);
Result<std::vector<uint8_t>> pread_file(const std::string& path, uint64_t offset, size_t len);
Result<void> pwrite_file(const std::string& path, uint64_t offset, std::span<const uint8_t> data);

}  // namespace xenvhost::frontend
