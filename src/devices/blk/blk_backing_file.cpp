#include "devices/blk/blk_backing_file.hpp"

#include "base/log.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <bit>

namespace xenvhost::devices::blk {

namespace {

constexpr uint32_t kSectorSize = 512;

Result<UniqueFd> open_image(const std::string& path, bool read_only, bool direct) {
    int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
    int fd = ::open(path.c_str(), flags);
    if (fd < 0)
        return fail_errno("open '{}' {}{}", path, read_only ? "read-only" : "read-write",
                          direct ? " with O_DIRECT" : "");
    return UniqueFd(fd);
}

Result<> probe_block_device(BackingFile& f) {
    int fd = f.fd.get();
    uint64_t size = 0;
    int logical = 0;
    unsigned physical = 0, io_min = 0, io_opt = 0;
    int align_off = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) < 0) return fail_errno("BLKGETSIZE64 on '{}'", f.path);
    if (::ioctl(fd, BLKSSZGET, &logical) < 0) return fail_errno("BLKSSZGET on '{}'", f.path);
    // The rest are hints; a kernel that lacks one leaves the default.
    if (::ioctl(fd, BLKPBSZGET, &physical) < 0) physical = 0;
    if (::ioctl(fd, BLKIOMIN, &io_min) < 0) io_min = 0;
    if (::ioctl(fd, BLKIOOPT, &io_opt) < 0) io_opt = 0;
    if (::ioctl(fd, BLKALIGNOFF, &align_off) < 0 || align_off < 0) align_off = 0;

    if (logical < static_cast<int>(kSectorSize) || logical > 65536 ||
        !std::has_single_bit(static_cast<unsigned>(logical)))
        return fail("'{}' reports a logical block size of {} bytes", f.path, logical);
    f.size_bytes = size;
    f.logical_block_size = static_cast<uint32_t>(logical);
    f.physical_block_size =
        (physical >= f.logical_block_size && std::has_single_bit(physical)) ? physical
                                                                           : f.logical_block_size;
    f.min_io_size = io_min;
    f.opt_io_size = io_opt;
    f.alignment_offset = static_cast<uint32_t>(align_off);
    return {};
}

// Fills dio_* from statx; returns false if the file says it cannot do O_DIRECT.
bool probe_dio_alignment(BackingFile& f) {
    f.dio_mem_align = kSectorSize;
    f.dio_offset_align = f.logical_block_size;
    struct statx stx {};
    if (::statx(f.fd.get(), "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return true;
    if (!(stx.stx_mask & STATX_DIOALIGN)) return true;  // older kernel: assume the defaults
    if (stx.stx_dio_offset_align == 0) return false;
    f.dio_mem_align = std::max<uint32_t>(stx.stx_dio_mem_align, 1);
    f.dio_offset_align = stx.stx_dio_offset_align;
    return true;
}

bool on_memory_file_system(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) < 0) return false;
    return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

}  // namespace

uint64_t BackingFile::capacity_sectors() const {
    return size_bytes / logical_block_size * (logical_block_size / kSectorSize);
}

// An image opened by someone else (xenvhostd, for a deprivileged worker).
Result<UniqueFd> adopt_image(const std::string& path, bool read_only, int given_fd) {
    int flags = ::fcntl(given_fd, F_GETFL);
    if (flags < 0) return fail_errno("image fd for '{}'", path);
    if (!read_only && (flags & O_ACCMODE) != O_RDWR) return fail("image fd for '{}' is not open read-write", path);
    UniqueFd fd(::fcntl(given_fd, F_DUPFD_CLOEXEC, 3));
    if (!fd) return fail_errno("duplicate the image fd for '{}'", path);
    return fd;
}

Result<BackingFile> open_backing_file(const std::string& path, bool read_only, CacheMode cache, int given_fd) {
    BackingFile f;
    f.path = path;
    f.read_only = read_only;
    // O_DIRECT belongs to the open file description, which the giver shares.
    bool want_direct = cache == CacheMode::kNone && given_fd < 0;

    auto fd = given_fd >= 0 ? adopt_image(path, read_only, given_fd) : open_image(path, read_only, want_direct);
    if (!fd && want_direct && fd.error().err == EINVAL) {
        // tmpfs and some FUSE file systems refuse O_DIRECT at open time.
        log::info("blk: '{}' does not support O_DIRECT; using the page cache", path);
        want_direct = false;
        fd = open_image(path, read_only, false);
    }
    if (!fd) return std::unexpected(fd.error());
    f.fd = std::move(*fd);
    f.direct = want_direct;

    struct stat st {};
    if (::fstat(f.fd.get(), &st) < 0) return fail_errno("fstat '{}'", path);
    if (S_ISBLK(st.st_mode)) {
        f.block_device = true;
        if (auto r = probe_block_device(f); !r) return std::unexpected(r.error());
    } else if (S_ISREG(st.st_mode)) {
        f.size_bytes = static_cast<uint64_t>(st.st_size);
        f.memory_backed = on_memory_file_system(f.fd.get());
    } else {
        return fail("'{}' is neither a regular file nor a block device", path);
    }

    if (f.size_bytes < f.logical_block_size)
        return fail("'{}' is smaller than one {}-byte block ({} bytes)", path,
                    f.logical_block_size, f.size_bytes);
    if (f.size_bytes % f.logical_block_size != 0)
        log::warn("blk: '{}' is {} bytes, not a multiple of {}; the last {} bytes are not served",
                  path, f.size_bytes, f.logical_block_size, f.size_bytes % f.logical_block_size);

    if (f.direct) {
        if (!probe_dio_alignment(f)) {
            log::info("blk: '{}' reports no O_DIRECT support; using the page cache", path);
            auto buffered = open_image(path, read_only, false);
            if (!buffered) return std::unexpected(buffered.error());
            f.fd = std::move(*buffered);
            f.direct = false;
        } else {
            auto buffered = open_image(path, read_only, false);
            if (!buffered) return std::unexpected(buffered.error());
            f.buffered_fd = std::move(*buffered);
            // Tell the guest the granularity that avoids the buffered path.
            if (!f.block_device && f.dio_offset_align > f.physical_block_size &&
                std::has_single_bit(f.dio_offset_align) && f.dio_offset_align <= 65536)
                f.physical_block_size = f.dio_offset_align;
        }
    }
    return f;
}

}  // namespace xenvhost::devices::blk

namespace xenvhost::devices::blk {

Result<uint64_t> current_size(const BackingFile& f) {
    if (f.block_device) {
        uint64_t size = 0;
        if (::ioctl(f.fd.get(), BLKGETSIZE64, &size) < 0) return fail_errno("BLKGETSIZE64 on '{}'", f.path);
        return size;
    }
    struct stat st{};
    if (::fstat(f.fd.get(), &st) < 0) return fail_errno("fstat '{}'", f.path);
    return static_cast<uint64_t>(st.st_size);
}

}  // namespace xenvhost::devices::blk
