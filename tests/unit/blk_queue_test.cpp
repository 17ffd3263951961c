// The virtio-blk queue handler doing real I/O on a temporary image, with
// iovecs over local buffers standing in for guest memory: through io_uring on
// /tmp, copied in the queue thread on tmpfs (/dev/shm), and through io_uring
// on tmpfs when asked (io-path uring).

#include "devices/blk/blk_config.hpp"
#include "devices/blk/blk_device.hpp"
#include "devices/blk/blk_disk.hpp"
#include "devices/blk/blk_queue.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace blk = xenvhost::devices::blk;
using xenvhost::devices::CompletionSink;
using xenvhost::devices::QueueHandler;

namespace {

constexpr off_t kImageSize = 16 << 20;

class TempDir {
public:
    explicit TempDir(const std::string& parent = "/tmp") {
        std::string tmpl = parent + "/xenvhost-blkq-XXXXXX";
        if (!::mkdtemp(tmpl.data())) std::abort();
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string make_image(const std::string& dir, off_t size) {
    std::string p = dir + "/disk.img";
    int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::ftruncate(fd, size) != 0) std::abort();
    ::close(fd);
    return p;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x = x * 1103515245u + 12345u;
        b = static_cast<uint8_t>(x >> 16);
    }
    return v;
}

std::vector<uint8_t> file_bytes(const std::string& path, off_t off, size_t n) {
    std::vector<uint8_t> v(n);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::pread(fd, v.data(), n, off) != static_cast<ssize_t>(n)) v.clear();
    if (fd >= 0) ::close(fd);
    return v;
}

void file_write(const std::string& path, off_t off, const std::vector<uint8_t>& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), off), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
}

uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ~uint64_t{0};
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Whether this process holds an O_DIRECT fd on `path` (from /proc/self/fdinfo).
bool has_direct_fd(const std::string& path) {
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        if (std::filesystem::read_symlink(e.path(), ec) != path) continue;
        std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
        std::string key;
        while (info >> key) {
            if (key != "flags:") continue;
            unsigned long flags = 0;
            info >> std::oct >> flags;
            if (flags & O_DIRECT) return true;
            break;
        }
    }
    return false;
}

struct Sink : CompletionSink {
    std::map<uint16_t, uint32_t> done;
    unsigned duplicates = 0;
    void complete(uint16_t slot, uint32_t written) override {
        if (!done.emplace(slot, written).second) ++duplicates;
    }
};

// Reaps until `n` requests have completed; false after 20 s without them.
bool wait_for(QueueHandler& q, Sink& sink, size_t n) {
    q.flush();
    for (int i = 0; i < 2000 && sink.done.size() < n; ++i) {
        pollfd p{q.completion_fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        q.reap(sink);
    }
    return sink.done.size() == n;
}

// One request's descriptors; it holds the header, segment and status that
// the iovecs point at, so it never moves once built.
struct Req {
    virtio_blk_outhdr hdr{};
    virtio_blk_discard_write_zeroes seg{};
    uint8_t status = 0xff;
    std::vector<iovec> out;
    std::vector<iovec> in;

    Req(uint32_t type, uint64_t sector) {
        hdr.type = type;
        hdr.sector = sector;
        out.push_back({&hdr, sizeof hdr});
    }
    Req(const Req&) = delete;
    Req& operator=(const Req&) = delete;
    xenvhost::devices::Request view() const { return {out, in}; }
};

class Requests {
public:
    Req& read(uint64_t sector, std::span<uint8_t> buf, size_t pieces = 1) {
        Req& r = make(VIRTIO_BLK_T_IN, sector);
        add_pieces(r.in, buf, pieces);
        r.in.push_back({&r.status, 1});
        return r;
    }
    Req& write(uint64_t sector, std::span<uint8_t> buf, size_t pieces = 1) {
        Req& r = make(VIRTIO_BLK_T_OUT, sector);
        add_pieces(r.out, buf, pieces);
        r.in.push_back({&r.status, 1});
        return r;
    }
    Req& simple(uint32_t type, std::span<uint8_t> in_data = {}) {
        Req& r = make(type, 0);
        if (!in_data.empty()) r.in.push_back({in_data.data(), in_data.size()});
        r.in.push_back({&r.status, 1});
        return r;
    }
    Req& segment(uint32_t type, uint64_t sector, uint32_t count, uint32_t flags) {
        Req& r = make(type, 0);
        r.seg.sector = sector;
        r.seg.num_sectors = count;
        r.seg.flags = flags;
        r.out.push_back({&r.seg, sizeof r.seg});
        r.in.push_back({&r.status, 1});
        return r;
    }

private:
    Req& make(uint32_t type, uint64_t sector) { return all_.emplace_back(type, sector); }
    static void add_pieces(std::vector<iovec>& v, std::span<uint8_t> buf, size_t pieces) {
        size_t step = buf.size() / pieces;
        for (size_t i = 0; i < pieces; ++i) {
            size_t len = i + 1 == pieces ? buf.size() - i * step : step;
            v.push_back({buf.data() + i * step, len});
        }
    }
    std::deque<Req> all_;
};

bool on_tmpfs(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

// Where the image lives and how the queue reaches it.
struct Placement {
    const char* parent;
    blk::IoPath io_path;
    const char* name;
};

class BlkQueueTest : public ::testing::TestWithParam<Placement> {
protected:
    void open(blk::BlkOptions o = {}) {
        image_ = make_image(dir_.path(), kImageSize);
        o.path = image_;
        o.io_path = GetParam().io_path;
        if (o.serial.empty()) o.serial = "xenvhost-serial-0001";
        auto d = blk::make_blk_device(o);
        ASSERT_TRUE(d) << d.error().message;
        device_ = std::move(*d);
        queue_ = device_->make_queue_handler(0, o.queue_size);
        ASSERT_TRUE(queue_);
    }
    // The queue copies in its own thread: requests complete inside start().
    static bool inline_io() { return GetParam().io_path == blk::IoPath::kAuto && on_tmpfs(GetParam().parent); }
    // Starts one request and waits for it; returns the used length.
    uint32_t run(Req& r, uint16_t slot = 0) {
        Sink sink;
        queue_->start(slot, r.view(), sink);
        EXPECT_TRUE(wait_for(*queue_, sink, 1));
        EXPECT_EQ(queue_->in_flight(), 0u);
        return sink.done.count(slot) ? sink.done[slot] : ~0u;
    }

    TempDir dir_{GetParam().parent};
    std::string image_;
    std::unique_ptr<xenvhost::devices::Device> device_;
    std::unique_ptr<QueueHandler> queue_;
    Requests reqs_;
};

}  // namespace

TEST_P(BlkQueueTest, WriteThenReadBack) {
    open();
    auto data = pattern(65536, 1);
    Req& w = reqs_.write(128, data, 3);
    EXPECT_EQ(run(w), 1u);
    EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 128 * 512, data.size()), data);

    std::vector<uint8_t> back(65536, 0);
    Req& r = reqs_.read(128, back, 5);
    EXPECT_EQ(run(r), 65536u + 1);  // data plus the status byte
    EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(back, data);
}

TEST_P(BlkQueueTest, ReadsWhatTheImageHolds) {
    open();
    auto data = pattern(8192, 2);
    file_write(image_, kImageSize - 8192, data);
    std::vector<uint8_t> back(8192);
    Req& r = reqs_.read(kImageSize / 512 - 16, back);
    EXPECT_EQ(run(r), 8193u);
    EXPECT_EQ(back, data);
}

TEST_P(BlkQueueTest, Flush) {
    open();
    Req& f = reqs_.simple(VIRTIO_BLK_T_FLUSH);
    EXPECT_EQ(run(f), 1u);
    EXPECT_EQ(f.status, VIRTIO_BLK_S_OK);
}

TEST_P(BlkQueueTest, GetId) {
    open();
    std::vector<uint8_t> id(VIRTIO_BLK_ID_BYTES, 0xee);
    Sink sink;
    Req& r = reqs_.simple(VIRTIO_BLK_T_GET_ID, id);
    queue_->start(0, r.view(), sink);  // answered at once, no I/O
    ASSERT_EQ(sink.done.size(), 1u);
    EXPECT_EQ(sink.done[0], 21u);
    EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(std::string(id.begin(), id.end()), "xenvhost-serial-0001");

    std::vector<uint8_t> small(8, 0xee);
    Req& s = reqs_.simple(VIRTIO_BLK_T_GET_ID, small);
    queue_->start(1, s.view(), sink);
    EXPECT_EQ(sink.done[1], 9u);
    EXPECT_EQ(std::string(small.begin(), small.end()), "xenvhost");
}

TEST_P(BlkQueueTest, ShortSerialIsZeroPadded) {
    open({.serial = "abc"});
    std::vector<uint8_t> id(VIRTIO_BLK_ID_BYTES, 0xee);
    Sink sink;
    queue_->start(0, reqs_.simple(VIRTIO_BLK_T_GET_ID, id).view(), sink);
    std::vector<uint8_t> want(VIRTIO_BLK_ID_BYTES, 0);
    std::memcpy(want.data(), "abc", 3);
    EXPECT_EQ(id, want);
}

TEST_P(BlkQueueTest, RefusedRequestsCompleteAtOnce) {
    open();
    Sink sink;
    std::vector<uint8_t> buf(4096);
    Req& past_end = reqs_.read(kImageSize / 512 - 4, buf);
    queue_->start(0, past_end.view(), sink);
    Req& unknown = reqs_.simple(2 /* SCSI_CMD */);
    queue_->start(1, unknown.view(), sink);
    Req& two_segments = reqs_.segment(VIRTIO_BLK_T_DISCARD, 0, 8, 0);
    two_segments.out.push_back({&two_segments.seg, sizeof two_segments.seg});
    queue_->start(2, two_segments.view(), sink);
    Req& no_status = reqs_.write(0, buf);
    no_status.in.clear();
    queue_->start(3, no_status.view(), sink);

    EXPECT_EQ(queue_->in_flight(), 0u);
    ASSERT_EQ(sink.done.size(), 4u);
    EXPECT_EQ(past_end.status, VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(sink.done[0], 1u);
    EXPECT_EQ(unknown.status, VIRTIO_BLK_S_UNSUPP);
    EXPECT_EQ(sink.done[1], 1u);
    EXPECT_EQ(two_segments.status, VIRTIO_BLK_S_UNSUPP);
    EXPECT_EQ(sink.done[3], 0u);  // nothing could be written
    EXPECT_EQ(file_bytes(image_, 0, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_P(BlkQueueTest, DiscardPunchesHoles) {
    open();
    file_write(image_, 1 << 20, pattern(1 << 20, 3));
    const uint64_t before = allocated_bytes(image_);
    ASSERT_GE(before, 1u << 20);
    Req& d = reqs_.segment(VIRTIO_BLK_T_DISCARD, 2048, 2048, 0);
    EXPECT_EQ(run(d), 1u);
    EXPECT_EQ(d.status, VIRTIO_BLK_S_OK);
    EXPECT_LE(allocated_bytes(image_), before - (1u << 20));
    EXPECT_EQ(file_bytes(image_, 1 << 20, 1 << 20), std::vector<uint8_t>(1 << 20, 0));
}

TEST_P(BlkQueueTest, WriteZeroes) {
    open();
    const auto orig = pattern(4 << 20, 4);
    file_write(image_, 0, orig);
    const uint64_t before = allocated_bytes(image_);

    Req& keep = reqs_.segment(VIRTIO_BLK_T_WRITE_ZEROES, 0, 4096, 0);
    EXPECT_EQ(run(keep), 1u);
    EXPECT_EQ(keep.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 0, 2 << 20), std::vector<uint8_t>(2 << 20, 0));
    EXPECT_EQ(file_bytes(image_, 2 << 20, 2 << 20),
              std::vector<uint8_t>(orig.begin() + (2 << 20), orig.end()));

    Req& unmap = reqs_.segment(VIRTIO_BLK_T_WRITE_ZEROES, 4096, 4096, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    EXPECT_EQ(run(unmap), 1u);
    EXPECT_EQ(unmap.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 2 << 20, 2 << 20), std::vector<uint8_t>(2 << 20, 0));
    EXPECT_LE(allocated_bytes(image_), before - (2u << 20));  // the unmapped half is freed
}

TEST_P(BlkQueueTest, ManyInFlight) {
    open();
    constexpr int kCount = 200;
    std::vector<std::vector<uint8_t>> data, back;
    Sink sink;
    for (int i = 0; i < kCount; ++i) data.push_back(pattern(4096, 100 + i));
    for (int i = 0; i < kCount; ++i)
        queue_->start(static_cast<uint16_t>(i), reqs_.write(uint64_t(i) * 16, data[i]).view(), sink);
    EXPECT_EQ(queue_->in_flight(), inline_io() ? 0u : unsigned(kCount));
    ASSERT_TRUE(wait_for(*queue_, sink, kCount));
    EXPECT_EQ(queue_->in_flight(), 0u);
    EXPECT_EQ(sink.duplicates, 0u);
    for (auto& [slot, written] : sink.done) EXPECT_EQ(written, 1u);

    Sink rsink;
    back.assign(kCount, std::vector<uint8_t>(4096));
    std::vector<Req*> reads;
    for (int i = 0; i < kCount; ++i) {
        reads.push_back(&reqs_.read(uint64_t(i) * 16, back[i], 2));
        queue_->start(static_cast<uint16_t>(i), reads.back()->view(), rsink);
    }
    ASSERT_TRUE(wait_for(*queue_, rsink, kCount));
    for (int i = 0; i < kCount; ++i) {
        EXPECT_EQ(reads[i]->status, VIRTIO_BLK_S_OK);
        EXPECT_EQ(rsink.done[i], 4097u);
        EXPECT_EQ(back[i], data[i]) << "request " << i;
    }
}

TEST_P(BlkQueueTest, FullSubmissionQueueIsBackPressureNotLoss) {
    open();
    // A ring of 4 entries fed 64 requests before a single flush().
    auto small = device_->make_queue_handler(0, 4);
    ASSERT_TRUE(small);
    constexpr int kCount = 64;
    std::vector<std::vector<uint8_t>> data;
    for (int i = 0; i < kCount; ++i) data.push_back(pattern(8192, 500 + i));
    Sink sink;
    for (int i = 0; i < kCount; ++i)
        small->start(static_cast<uint16_t>(i), reqs_.write(uint64_t(i) * 16, data[i]).view(), sink);
    ASSERT_TRUE(wait_for(*small, sink, kCount));
    EXPECT_EQ(small->in_flight(), 0u);
    for (int i = 0; i < kCount; ++i)
        EXPECT_EQ(file_bytes(image_, off_t(i) * 16 * 512, 8192), data[i]) << "request " << i;
}

TEST_P(BlkQueueTest, MoreBuffersThanIovMax) {
    open();
    auto data = pattern(1 << 20, 7);
    Req& w = reqs_.write(0, data, 2048);  // 2048 buffers of 512 bytes
    EXPECT_EQ(run(w), 1u);
    EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 0, data.size()), data);

    std::vector<uint8_t> back(1 << 20);
    Req& r = reqs_.read(0, back, 4096);  // 4096 buffers of 256 bytes
    EXPECT_EQ(run(r), (1u << 20) + 1);
    EXPECT_EQ(back, data);
}

// A small request in many tiny buffers (a guest may send that): copied in
// the queue thread on tmpfs, IOV_MAX buffers per call.
TEST_P(BlkQueueTest, SmallRequestInMoreBuffersThanIovMax) {
    open();
    auto data = pattern(32768, 17);
    Req& w = reqs_.write(64, data, 2048);  // 2048 buffers of 16 bytes
    EXPECT_EQ(run(w), 1u);
    EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 64 * 512, data.size()), data);
    std::vector<uint8_t> back(32768);
    Req& r = reqs_.read(64, back, 4096);  // 4096 buffers of 8 bytes
    EXPECT_EQ(run(r), 32768u + 1);
    EXPECT_EQ(back, data);
}

TEST_P(BlkQueueTest, CacheNoneWithAlignedAndMisalignedBuffers) {
    open({.cache = blk::CacheMode::kNone});
    // Where the file system takes O_DIRECT, the image must be open with it.
    if (int probe = ::open(image_.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC); probe >= 0) {
        ::close(probe);
        EXPECT_TRUE(has_direct_fd(image_));
    }
    // 4 KiB-aligned memory, and the same memory shifted by 8 bytes.
    std::unique_ptr<uint8_t, decltype(&std::free)> mem(
        static_cast<uint8_t*>(std::aligned_alloc(4096, 3 * 65536)), &std::free);
    ASSERT_TRUE(mem);
    auto data = pattern(65536, 8);
    std::span<uint8_t> aligned(mem.get(), 65536);
    std::span<uint8_t> misaligned(mem.get() + 65536 + 8, 65536);
    std::memcpy(aligned.data(), data.data(), data.size());
    Req& w1 = reqs_.write(0, aligned, 4);
    EXPECT_EQ(run(w1), 1u);
    EXPECT_EQ(w1.status, VIRTIO_BLK_S_OK);
    Req& r1 = reqs_.read(0, misaligned, 3);
    EXPECT_EQ(run(r1), 65537u);
    EXPECT_EQ(r1.status, VIRTIO_BLK_S_OK);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), misaligned.begin()));

    auto data2 = pattern(65536, 9);
    std::memcpy(misaligned.data(), data2.data(), data2.size());
    Req& w2 = reqs_.write(256, misaligned, 5);
    EXPECT_EQ(run(w2), 1u);
    std::span<uint8_t> aligned2(mem.get() + 2 * 65536, 65536);
    Req& r2 = reqs_.read(256, aligned2, 2);
    EXPECT_EQ(run(r2), 65537u);
    EXPECT_TRUE(std::equal(data2.begin(), data2.end(), aligned2.begin()));
    EXPECT_EQ(file_bytes(image_, 256 * 512, 65536), data2);
}

TEST_P(BlkQueueTest, ReadOnlyDisk) {
    open({.read_only = true});
    std::vector<uint8_t> buf(4096, 1);
    Req& w = reqs_.write(0, buf);
    EXPECT_EQ(run(w), 1u);
    EXPECT_EQ(w.status, VIRTIO_BLK_S_IOERR);
    Req& z = reqs_.segment(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0);
    EXPECT_EQ(run(z), 1u);
    EXPECT_EQ(z.status, VIRTIO_BLK_S_IOERR);
    Req& r = reqs_.read(0, buf);
    EXPECT_EQ(run(r), 4097u);
    EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
    Req& f = reqs_.simple(VIRTIO_BLK_T_FLUSH);
    EXPECT_EQ(run(f), 1u);
    EXPECT_EQ(f.status, VIRTIO_BLK_S_OK);
}

TEST_P(BlkQueueTest, WritethroughMode) {
    open();
    const uint8_t zero = 0;
    ASSERT_TRUE(device_->write_config(blk::kWceOffset, {&zero, 1}));
    auto data = pattern(16384, 10);
    Req& w = reqs_.write(64, data);
    EXPECT_EQ(run(w), 1u);
    EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 64 * 512, data.size()), data);
    Req& z = reqs_.segment(VIRTIO_BLK_T_WRITE_ZEROES, 64, 8, 0);  // fallocate, then datasync
    EXPECT_EQ(run(z), 1u);
    EXPECT_EQ(z.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image_, 64 * 512, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_P(BlkQueueTest, ReadPastAShrunkImageFails) {
    open();
    // The image loses its second half after the capacity was announced.
    ASSERT_EQ(::truncate(image_.c_str(), kImageSize / 2), 0);
    std::vector<uint8_t> buf(8192, 0xaa);
    Req& across = reqs_.read(kImageSize / 1024 - 8, buf);  // half inside, half past the end
    EXPECT_EQ(run(across), 1u);
    EXPECT_EQ(across.status, VIRTIO_BLK_S_IOERR);
    Req& inside = reqs_.read(0, buf);
    EXPECT_EQ(run(inside), 8193u);
    EXPECT_EQ(inside.status, VIRTIO_BLK_S_OK);
}

TEST_P(BlkQueueTest, DestroyedWithRequestsInFlight) {
    open();
    std::vector<std::vector<uint8_t>> bufs(100, std::vector<uint8_t>(65536));
    Sink sink;
    for (int i = 0; i < 100; ++i)
        queue_->start(static_cast<uint16_t>(i), reqs_.read(uint64_t(i) * 128, bufs[i]).view(), sink);
    queue_->flush();
    queue_.reset();  // waits for the kernel before the buffers could go away
    SUCCEED();
}

INSTANTIATE_TEST_SUITE_P(Placements, BlkQueueTest,
                         ::testing::Values(Placement{"/tmp", blk::IoPath::kAuto, "tmp"},
                                           Placement{"/dev/shm", blk::IoPath::kAuto, "shm_inline"},
                                           Placement{"/dev/shm", blk::IoPath::kUring, "shm_uring"}),
                         [](const auto& info) { return std::string(info.param.name); });

// On tmpfs the queue thread copies at once: the request is complete when
// start() returns, without a flush or a completion to reap. Asked for
// io_uring, or on a disk file system, it is not.
TEST(BlkQueueInline, MemoryBackedImageCompletesInsideStart) {
    for (const char* parent : {"/dev/shm", "/tmp"}) {
        for (auto io_path : {blk::IoPath::kAuto, blk::IoPath::kUring}) {
            SCOPED_TRACE(std::string(parent) + (io_path == blk::IoPath::kAuto ? " auto" : " uring"));
            TempDir dir(parent);
            std::string image = make_image(dir.path(), kImageSize);
            auto file = blk::open_backing_file(image, false, blk::CacheMode::kWriteback);
            ASSERT_TRUE(file) << file.error().message;
            EXPECT_EQ(file->memory_backed, on_tmpfs(parent));
            auto d = blk::make_blk_device({.path = image, .io_path = io_path});
            ASSERT_TRUE(d) << d.error().message;
            auto q = (*d)->make_queue_handler(0, 16);
            ASSERT_TRUE(q);
            Requests reqs;
            auto data = pattern(8192, 21);
            std::vector<uint8_t> back(8192);
            Req& w = reqs.write(8, data, 2);
            Req& r = reqs.read(8, back, 3);
            Sink sink;
            q->start(0, w.view(), sink);
            const bool inline_io = io_path == blk::IoPath::kAuto && on_tmpfs(parent);
            EXPECT_EQ(sink.done.count(0), inline_io ? 1u : 0u);
            ASSERT_TRUE(wait_for(*q, sink, 1));
            q->start(1, r.view(), sink);
            EXPECT_EQ(sink.done.count(1), inline_io ? 1u : 0u);
            ASSERT_TRUE(wait_for(*q, sink, 2));
            EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
            EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
            EXPECT_EQ(sink.done[1], 8193u);
            EXPECT_EQ(back, data);
        }
    }
}

// The zero-fill fallback, as taken on file systems without fallocate modes.
TEST(BlkQueueFallback, WriteZeroesByWritingZeroes) {
    TempDir dir;
    std::string image = make_image(dir.path(), kImageSize);
    auto file = blk::open_backing_file(image, false, blk::CacheMode::kWriteback);
    ASSERT_TRUE(file);
    auto disk = std::make_shared<blk::BlkDisk>();
    disk->file = std::move(*file);
    disk->limits = {.capacity_sectors = disk->file.capacity_sectors(),
                    .block_size = 512,
                    .read_only = false,
                    .max_discard_sectors = blk::kMaxDiscardSectors,
                    .max_write_zeroes_sectors = blk::kMaxWriteZeroesSectors};
    disk->capacity_sectors = disk->limits.capacity_sectors;
    disk->punch_hole = false;
    disk->zero_range = false;
    auto q = blk::BlkQueue::create(disk, 0, 16);
    ASSERT_TRUE(q) << q.error().message;

    auto data = pattern(8 << 20, 11);
    file_write(image, 0, data);
    Requests reqs;
    Sink sink;
    // 6000 sectors: not a whole number of zero chunks.
    Req& z = reqs.segment(VIRTIO_BLK_T_WRITE_ZEROES, 8, 6000, 0);
    Req& zu = reqs.segment(VIRTIO_BLK_T_WRITE_ZEROES, 8192, 32768 - 8192, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    Req& d = reqs.segment(VIRTIO_BLK_T_DISCARD, 8192, 8, 0);  // a no-op without hole punching
    (*q)->start(0, z.view(), sink);
    (*q)->start(1, zu.view(), sink);
    (*q)->start(2, d.view(), sink);
    ASSERT_TRUE(wait_for(**q, sink, 3));
    EXPECT_EQ(z.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(zu.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(d.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(file_bytes(image, 0, 4096), std::vector<uint8_t>(data.begin(), data.begin() + 4096));
    EXPECT_EQ(file_bytes(image, 4096, 6000 * 512), std::vector<uint8_t>(6000 * 512, 0));
    auto after = file_bytes(image, 4096 + 6000 * 512, 4096);
    EXPECT_TRUE(std::equal(after.begin(), after.end(), data.begin() + 4096 + 6000 * 512));
    EXPECT_EQ(file_bytes(image, 4 << 20, 12 << 20), std::vector<uint8_t>(12 << 20, 0));
    EXPECT_EQ((*q)->io_errors(), 0u);
}

// ENOSPC on a tiny tmpfs (mounted in a private mount namespace of a child
// process) must reach the guest as IOERR, and the queue keeps serving.
TEST(BlkQueueEnospc, ReachesTheGuestAsIoerr) {
    TempDir dir;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0) ::_exit(77);
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(77);
        if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=256k") != 0) ::_exit(77);
        std::string image = make_image(dir.path(), kImageSize);
        auto d = blk::make_blk_device({.path = image});
        if (!d) ::_exit(10);
        auto q = (*d)->make_queue_handler(0, 16);
        if (!q) ::_exit(11);
        Requests reqs;
        auto data = pattern(1 << 20, 12);
        Sink sink;
        // tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes falls back to writing zeroes.
        std::vector<uint8_t> back(4096);
        Req& pre = reqs.write(64, std::span(data).first(4096));
        Req& zero = reqs.segment(VIRTIO_BLK_T_WRITE_ZEROES, 64, 8, 0);
        Req& check = reqs.read(64, back);
        q->start(10, pre.view(), sink);
        if (!wait_for(*q, sink, 1)) ::_exit(20);
        q->start(11, zero.view(), sink);
        if (!wait_for(*q, sink, 2)) ::_exit(21);
        q->start(12, check.view(), sink);
        if (!wait_for(*q, sink, 3)) ::_exit(22);
        if (pre.status || zero.status || check.status) ::_exit(23);
        if (back != std::vector<uint8_t>(4096, 0)) ::_exit(24);
        sink.done.clear();

        Req& big = reqs.write(0, data);
        q->start(0, big.view(), sink);
        if (!wait_for(*q, sink, 1)) ::_exit(12);
        if (big.status != VIRTIO_BLK_S_IOERR || sink.done[0] != 1) ::_exit(13);
        // Still serving: a read, and an overwrite of space already allocated.
        Req& r = reqs.read(0, back);
        q->start(1, r.view(), sink);
        Req& w = reqs.write(0, std::span(data).first(4096));
        q->start(2, w.view(), sink);
        if (!wait_for(*q, sink, 3)) ::_exit(14);
        if (r.status != VIRTIO_BLK_S_OK || w.status != VIRTIO_BLK_S_OK) ::_exit(15);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no permission to mount a private tmpfs";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child check " << WEXITSTATUS(status) << " failed";
}

// A real block device (BLK* ioctls, fallocate on a bdev, BLKDISCARD). It
// overwrites the device, so it runs only when XENVHOST_TEST_BLOCK_DEVICE
// names a scratch device, e.g. a loop device set up for the purpose.
TEST(BlkQueueBlockDevice, ReadWriteZeroesDiscard) {
    const char* dev = std::getenv("XENVHOST_TEST_BLOCK_DEVICE");
    if (!dev || !*dev) GTEST_SKIP() << "XENVHOST_TEST_BLOCK_DEVICE is not set";
    for (auto cache : {blk::CacheMode::kWriteback, blk::CacheMode::kNone}) {
        auto d = blk::make_blk_device({.path = dev, .cache = cache});
        ASSERT_TRUE(d) << d.error().message;
        auto q = (*d)->make_queue_handler(0, 64);
        ASSERT_TRUE(q);
        auto cfg = (*d)->config();
        const uint32_t bs = cfg[20] | cfg[21] << 8 | cfg[22] << 16 | uint32_t(cfg[23]) << 24;
        const uint64_t per_block = bs / 512;
        ASSERT_GE(bs, 512u);

        std::unique_ptr<uint8_t, decltype(&std::free)> mem(
            static_cast<uint8_t*>(std::aligned_alloc(4096, 4 << 20)), &std::free);
        std::span<uint8_t> buf(mem.get(), 1 << 20), back(mem.get() + (2 << 20), 1 << 20);
        auto data = pattern(1 << 20, 13);
        std::copy(data.begin(), data.end(), buf.begin());
        Requests reqs;
        Sink sink;
        uint16_t slot = 0;
        auto run1 = [&](Req& r) {
            uint16_t s = slot++;
            q->start(s, r.view(), sink);
            EXPECT_TRUE(wait_for(*q, sink, slot));
            return r.status;
        };
        EXPECT_EQ(run1(reqs.write(0, buf, 7)), VIRTIO_BLK_S_OK);
        EXPECT_EQ(run1(reqs.read(0, back, 3)), VIRTIO_BLK_S_OK);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
        EXPECT_EQ(run1(reqs.simple(VIRTIO_BLK_T_FLUSH)), VIRTIO_BLK_S_OK);

        EXPECT_EQ(run1(reqs.segment(VIRTIO_BLK_T_WRITE_ZEROES, 0, 256, 0)), VIRTIO_BLK_S_OK);
        EXPECT_EQ(run1(reqs.segment(VIRTIO_BLK_T_WRITE_ZEROES, 256, 256,
                                    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)),
                  VIRTIO_BLK_S_OK);
        EXPECT_EQ(run1(reqs.read(0, back.first(256 * 1024))), VIRTIO_BLK_S_OK);
        EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 256 * 1024, [](uint8_t b) { return b == 0; }));
        EXPECT_EQ(run1(reqs.read(512, back.first(256 * 1024))), VIRTIO_BLK_S_OK);
        EXPECT_TRUE(std::equal(data.begin() + 256 * 1024, data.begin() + 512 * 1024, back.begin()));
        EXPECT_EQ(run1(reqs.segment(VIRTIO_BLK_T_DISCARD, 512, 512, 0)), VIRTIO_BLK_S_OK);
        if (per_block > 1) {  // misaligned for a 4 KiB-sector device
            EXPECT_EQ(run1(reqs.read(1, back.first(bs))), VIRTIO_BLK_S_IOERR);
        }
        EXPECT_EQ(q->in_flight(), 0u);
    }
}
