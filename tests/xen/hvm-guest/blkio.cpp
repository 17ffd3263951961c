// xen-hvm-blkio: the block I/O the test HVM guest's checks need, and the
// same patterns for dom0 to prepare and compare disk images. Statically
// linked: the guest's initramfs has no libraries.
//
//   xen-hvm-blkio fill      DEV OFFSET LEN SEED   write the pattern SEED
//   xen-hvm-blkio check     DEV OFFSET LEN SEED   read and compare with it
//   xen-hvm-blkio roundtrip DEV OFFSET LEN SEED   fill, then check
//   xen-hvm-blkio rofail    DEV OFFSET            a write must be refused,
//                                                 a read must work
//   xen-hvm-blkio perf      DEV OFFSET LEN SECONDS
//                                   sequential 1 MiB write and read over the
//                                   range, then 4 KiB random reads and writes
//                                   in it for SECONDS each
//   xen-hvm-blkio writer    DEV OFFSET LEN SECONDS SEED
//                                   writes 4 KiB blocks over the range in
//                                   passes for SECONDS, then verifies every
//                                   block against the last pass that wrote it
//
// OFFSET and LEN are bytes (multiples of 4096). I/O is O_DIRECT, so the
// guest's page cache never answers a read; where the file does not take
// O_DIRECT (an image on dom0's tmpfs) it is plain I/O. Prints one line
// "PASS <detail>" or "FAIL <detail>" and exits 0 or 1; perf prints
// "<name> <value> <unit>" lines. The pattern's 8-byte word at byte offset
// o depends on o and SEED, so data written to the wrong place is caught.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kChunk = 1 << 20;

uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t word_at(uint64_t seed, uint64_t offset) { return mix(mix(seed) ^ (offset >> 3)); }

void fill_pattern(uint8_t* buf, size_t len, uint64_t offset, uint64_t seed) {
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = word_at(seed, offset + i);
        std::memcpy(buf + i, &w, 8);
    }
}

// Offset of the first byte of BUF that differs from the pattern, or -1.
long long first_mismatch(const uint8_t* buf, size_t len, uint64_t offset, uint64_t seed) {
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = word_at(seed, offset + i);
        if (std::memcmp(buf + i, &w, 8) != 0) return static_cast<long long>(offset + i);
    }
    return -1;
}

double now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int result(bool pass, const std::string& detail) {
    std::printf("%s %s\n", pass ? "PASS" : "FAIL", detail.c_str());
    return pass ? 0 : 1;
}

std::string errno_text(int err) { return std::string(strerrorname_np(err) ? strerrorname_np(err) : "?") + " (" + std::strerror(err) + ")"; }

// Opens DEV with O_DIRECT, or without it where the file system refuses it.
int open_dev(const char* dev, int flags) {
    int fd = open(dev, flags | O_DIRECT);
    if (fd < 0 && errno == EINVAL) fd = open(dev, flags);
    return fd;
}

struct Buffer {
    uint8_t* p = nullptr;
    explicit Buffer(size_t len) {
        if (posix_memalign(reinterpret_cast<void**>(&p), kBlock, len) != 0) p = nullptr;
    }
    ~Buffer() { std::free(p); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};

bool full_pwrite(int fd, const uint8_t* buf, size_t len, uint64_t off) {
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, static_cast<off_t>(off));
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return false;
        }
        buf += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
    return true;
}

bool full_pread(int fd, uint8_t* buf, size_t len, uint64_t off) {
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, static_cast<off_t>(off));
        if (n <= 0) {
            if (n == 0) errno = EIO;  // past the end
            return false;
        }
        buf += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
    return true;
}

int fill(const char* dev, uint64_t off, uint64_t len, uint64_t seed) {
    int fd = open_dev(dev, O_WRONLY);
    if (fd < 0) return result(false, "open " + errno_text(errno));
    Buffer buf(kChunk);
    double t0 = now();
    for (uint64_t done = 0; done < len; done += kChunk) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, len - done));
        fill_pattern(buf.p, n, off + done, seed);
        if (!full_pwrite(fd, buf.p, n, off + done)) {
            int err = errno;
            close(fd);
            return result(false, "write at " + std::to_string(off + done) + ": " + errno_text(err));
        }
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return result(false, "fsync " + errno_text(err));
    }
    close(fd);
    char detail[128];
    std::snprintf(detail, sizeof detail, "wrote %llu bytes at %llu seed %llu in %.3f s",
                  static_cast<unsigned long long>(len), static_cast<unsigned long long>(off),
                  static_cast<unsigned long long>(seed), now() - t0);
    return result(true, detail);
}

int check(const char* dev, uint64_t off, uint64_t len, uint64_t seed) {
    int fd = open_dev(dev, O_RDONLY);
    if (fd < 0) return result(false, "open " + errno_text(errno));
    Buffer buf(kChunk);
    double t0 = now();
    for (uint64_t done = 0; done < len; done += kChunk) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, len - done));
        if (!full_pread(fd, buf.p, n, off + done)) {
            int err = errno;
            close(fd);
            return result(false, "read at " + std::to_string(off + done) + ": " + errno_text(err));
        }
        long long bad = first_mismatch(buf.p, n, off + done, seed);
        if (bad >= 0) {
            close(fd);
            return result(false, "byte " + std::to_string(bad) + " differs from pattern " + std::to_string(seed));
        }
    }
    close(fd);
    char detail[128];
    std::snprintf(detail, sizeof detail, "read %llu bytes at %llu = pattern %llu in %.3f s",
                  static_cast<unsigned long long>(len), static_cast<unsigned long long>(off),
                  static_cast<unsigned long long>(seed), now() - t0);
    return result(true, detail);
}

int rofail(const char* dev, uint64_t off) {
    Buffer buf(kBlock);
    std::memset(buf.p, 0xa5, kBlock);
    std::string how;
    int fd = open_dev(dev, O_WRONLY);
    if (fd < 0) {
        how = "open for writing refused: " + errno_text(errno);
    } else {
        ssize_t n = pwrite(fd, buf.p, kBlock, static_cast<off_t>(off));
        int err = errno;
        if (n >= 0 && fsync(fd) != 0) {
            n = -1;
            err = errno;
        }
        close(fd);
        if (n >= 0) return result(false, "a 4 KiB write at " + std::to_string(off) + " succeeded");
        if (err != EROFS && err != EPERM && err != EACCES && err != EIO)
            return result(false, "write failed with an unexpected " + errno_text(err));
        how = "write refused: " + errno_text(err);
    }
    fd = open_dev(dev, O_RDONLY);
    if (fd < 0) return result(false, how + "; but open for reading failed: " + errno_text(errno));
    bool ok = full_pread(fd, buf.p, kBlock, off);
    int err = errno;
    close(fd);
    if (!ok) return result(false, how + "; but a read failed: " + errno_text(err));
    return result(true, how + "; read works");
}

struct Rng {
    uint64_t s;
    uint64_t next() { return s = mix(s); }
};

void print_rate(const char* name, double bytes, double ops, double secs) {
    std::printf("%s-MBps %.2f MB/s\n", name, bytes / secs / 1e6);
    if (ops > 0) std::printf("%s-iops %.0f op/s\n", name, ops / secs);
}

int perf(const char* dev, uint64_t off, uint64_t len, double seconds) {
    int fd = open_dev(dev, O_RDWR);
    if (fd < 0) return result(false, "open " + errno_text(errno));
    Buffer buf(kChunk);
    std::memset(buf.p, 0x5a, kChunk);
    double t0 = now();
    for (uint64_t done = 0; done + kChunk <= len; done += kChunk) {
        if (!full_pwrite(fd, buf.p, kChunk, off + done)) return result(false, "seq write " + errno_text(errno));
    }
    if (fsync(fd) != 0) return result(false, "fsync " + errno_text(errno));
    print_rate("seq-write-1M", static_cast<double>(len), 0, now() - t0);
    t0 = now();
    for (uint64_t done = 0; done + kChunk <= len; done += kChunk) {
        if (!full_pread(fd, buf.p, kChunk, off + done)) return result(false, "seq read " + errno_text(errno));
    }
    print_rate("seq-read-1M", static_cast<double>(len), 0, now() - t0);
    Rng rng{len};
    uint64_t blocks = len / kBlock;
    for (int write = 0; write < 2; ++write) {
        double start = now(), t = start;
        uint64_t ops = 0;
        while (t - start < seconds) {
            uint64_t at = off + (rng.next() % blocks) * kBlock;
            bool ok = write ? full_pwrite(fd, buf.p, kBlock, at) : full_pread(fd, buf.p, kBlock, at);
            if (!ok) return result(false, std::string(write ? "random write " : "random read ") + errno_text(errno));
            ++ops;
            t = now();
        }
        print_rate(write ? "rand-write-4k" : "rand-read-4k", static_cast<double>(ops * kBlock),
                   static_cast<double>(ops), t - start);
    }
    close(fd);
    return result(true, "perf done");
}

// Writes block b of pass p (pattern SEED + p) until SECONDS have passed and
// every block was written once (on a slow host that takes longer; at most 4
// times SECONDS); a failed write is counted and the loop goes on (a back-end
// restart may fail a request only if the device model gives up on it). Then
// every block is read back and compared with the pattern of the last pass
// that wrote it.
int writer(const char* dev, uint64_t off, uint64_t len, double seconds, uint64_t seed) {
    int fd = open_dev(dev, O_RDWR);
    if (fd < 0) return result(false, "open " + errno_text(errno));
    Buffer buf(kBlock);
    uint64_t blocks = len / kBlock;
    std::vector<uint64_t> last(blocks, 0);  // 0: never written
    uint64_t writes = 0, errors = 0, first_err = 0;
    double worst = 0, start = now(), t = start;
    for (uint64_t i = 0; t - start < seconds || (i < blocks && t - start < 4 * seconds); ++i) {
        uint64_t b = i % blocks, pass = i / blocks + 1, at = off + b * kBlock;
        fill_pattern(buf.p, kBlock, at, seed + pass);
        double t1 = now();
        if (full_pwrite(fd, buf.p, kBlock, at)) {
            last[b] = pass;
        } else {
            if (errors++ == 0) first_err = static_cast<uint64_t>(errno);
            last[b] = 0;  // its content is unknown now
        }
        t = now();
        worst = std::max(worst, t - t1);
        ++writes;
    }
    double elapsed = t - start;
    bool synced = fsync(fd) == 0;
    uint64_t verified = 0, bad = 0, unwritten = 0;
    long long first_bad = -1;
    for (uint64_t b = 0; b < blocks; ++b) {
        if (last[b] == 0) {
            ++unwritten;
            continue;
        }
        uint64_t at = off + b * kBlock;
        if (!full_pread(fd, buf.p, kBlock, at) || first_mismatch(buf.p, kBlock, at, seed + last[b]) >= 0) {
            if (bad++ == 0) first_bad = static_cast<long long>(at);
            continue;
        }
        ++verified;
    }
    close(fd);
    char detail[320];
    std::snprintf(detail, sizeof detail,
                  "writes=%llu in %.1f s, io_errors=%llu%s%s, longest_write_ms=%.0f, fsync=%s, blocks "
                  "verified=%llu bad=%llu unwritten=%llu of %llu%s",
                  static_cast<unsigned long long>(writes), elapsed, static_cast<unsigned long long>(errors),
                  errors ? " first=" : "", errors ? strerrorname_np(static_cast<int>(first_err)) : "", worst * 1000,
                  synced ? "ok" : "FAILED", static_cast<unsigned long long>(verified),
                  static_cast<unsigned long long>(bad), static_cast<unsigned long long>(unwritten),
                  static_cast<unsigned long long>(blocks),
                  first_bad >= 0 ? (" first_bad=" + std::to_string(first_bad)).c_str() : "");
    return result(errors == 0 && bad == 0 && unwritten == 0 && synced, detail);
}

bool number(const char* s, uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') return false;
    out = v;
    return true;
}

int usage() {
    std::fprintf(stderr,
                 "usage: xen-hvm-blkio fill|check|roundtrip DEV OFFSET LEN SEED\n"
                 "       xen-hvm-blkio rofail DEV OFFSET\n"
                 "       xen-hvm-blkio perf DEV OFFSET LEN SECONDS\n"
                 "       xen-hvm-blkio writer DEV OFFSET LEN SECONDS SEED\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) return usage();
    std::string cmd = argv[1];
    const char* dev = argv[2];
    std::vector<uint64_t> n;
    for (int i = 3; i < argc; ++i) {
        uint64_t v = 0;
        if (!number(argv[i], v)) return usage();
        n.push_back(v);
    }
    if (cmd == "rofail" && n.size() == 1) return rofail(dev, n[0]);
    if (n.size() < 3 || n[0] % kBlock != 0 || n[1] % kBlock != 0 || n[1] == 0) return usage();
    if (cmd == "fill" && n.size() == 3) return fill(dev, n[0], n[1], n[2]);
    if (cmd == "check" && n.size() == 3) return check(dev, n[0], n[1], n[2]);
    if (cmd == "roundtrip" && n.size() == 3) {
        int rc = fill(dev, n[0], n[1], n[2]);
        return rc != 0 ? rc : check(dev, n[0], n[1], n[2]);
    }
    if (cmd == "perf" && n.size() == 3) return perf(dev, n[0], n[1], static_cast<double>(n[2]));
    if (cmd == "writer" && n.size() == 4) return writer(dev, n[0], n[1], static_cast<double>(n[2]), n[3]);
    return usage();
}
