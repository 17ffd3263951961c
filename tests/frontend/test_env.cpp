#include "frontend/test_env.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace xenvhost::frontend {

TempDir::~TempDir() {
    if (path_.empty() || keep_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

Result<TempDir> TempDir::create(const std::string& prefix, const std::string& parent) {
    std::string base = parent;
    if (base.empty()) {
        const char* t = std::getenv("TMPDIR");
        base = (t && *t) ? t : "/tmp";
    }
    std::string templ = base + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return fail_errno("mkdtemp {}", templ);
    TempDir d;
    d.path_ = buf.data();
    return d;
}

static uint64_t mix(uint64_t x) {
    // splitmix64 finaliser: every 8-byte word of the image differs.
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint8_t pattern_byte(uint64_t seed, uint64_t offset) {
    return static_cast<uint8_t>(mix(seed ^ (offset >> 3)) >> (8 * (offset & 7)));
}

void fill_pattern(uint64_t seed, uint64_t offset, std::span<uint8_t> out) {
    size_t i = 0;
    while (i < out.size() && ((offset + i) & 7)) {
        out[i] = pattern_byte(seed, offset + i);
        ++i;
    }
    for (; i + 8 <= out.size(); i += 8) {
        uint64_t w = mix(seed ^ ((offset + i) >> 3));
        std::memcpy(out.data() + i, &w, 8);
    }
    for (; i < out.size(); ++i) out[i] = pattern_byte(seed, offset + i);
}

std::vector<uint8_t> pattern(uint64_t seed, uint64_t offset, size_t len) {
    std::vector<uint8_t> v(len);
    fill_pattern(seed, offset, v);
    return v;
}

Result<void> create_image(const std::string& path, uint64_t size, uint64_t seed) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return fail_errno("create {}", path);
    std::vector<uint8_t> chunk(1 << 20);
    for (uint64_t off = 0; off < size; off += chunk.size()) {
        size_t n = std::min<uint64_t>(chunk.size(), size - off);
        fill_pattern(seed, off, std::span(chunk).first(n));
        if (::pwrite(fd.get(), chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n))
            return fail_errno("write {}", path);
    }
    return {};
}

Result<std::vector<uint8_t>> pread_file(const std::string& path, uint64_t offset, size_t len) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open {}", path);
    std::vector<uint8_t> buf(len);
    ssize_t n = ::pread(fd.get(), buf.data(), len, static_cast<off_t>(offset));
    if (n < 0) return fail_errno("pread {}", path);
    if (static_cast<size_t>(n) != len) return fail("short read of {} at {}", path, offset);
    return buf;
}

Result<void> pwrite_file(const std::string& path, uint64_t offset, std::span<const uint8_t> data) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open {}", path);
    ssize_t n = ::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(data.size())) return fail_errno("pwrite {}", path);
    return {};
}

}  // namespace xenvhost::frontend
