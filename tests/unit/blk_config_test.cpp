// virtio-blk options, backing file, feature bits, config layout and the
// writable WCE byte, through the public factory.

#include "devices/blk/blk_backing_file.hpp"
#include "devices/blk/blk_config.hpp"
#include "devices/blk/blk_device.hpp"
#include "devices/blk/blk_options.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace blk = xenvhost::devices::blk;

namespace {

class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/xenvhost-blk-XXXXXX";
        if (!::mkdtemp(tmpl.data())) std::abort();
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name, off_t size) const {
        std::string p = path_ + "/" + name;
        int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0 || ::ftruncate(fd, size) != 0) std::abort();
        ::close(fd);
        return p;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

uint64_t le(std::span<const uint8_t> c, size_t off, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{c[off + i]} << (8 * i);
    return v;
}

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

std::unique_ptr<xenvhost::devices::Device> device(blk::BlkOptions o) {
    auto d = blk::make_blk_device(o);
    if (!d) ADD_FAILURE() << d.error().message;
    return d ? std::move(*d) : nullptr;
}

}  // namespace

TEST(BlkOptions, CacheMode) {
    EXPECT_EQ(*blk::parse_cache_mode("none"), blk::CacheMode::kNone);
    EXPECT_EQ(*blk::parse_cache_mode("writeback"), blk::CacheMode::kWriteback);
    auto bad = blk::parse_cache_mode("directsync");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("directsync"), std::string::npos);
    EXPECT_EQ(blk::cache_mode_name(blk::CacheMode::kNone), "none");
    EXPECT_EQ(blk::BlkOptions{}.cache, blk::CacheMode::kWriteback);  // as qemu-storage-daemon
}

TEST(BlkOptions, Validation) {
    blk::BlkOptions o{.path = "/x"};
    EXPECT_TRUE(blk::validate_options(o));
    auto refused = [](blk::BlkOptions b, const char* word) {
        auto r = blk::validate_options(b);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find(word), std::string::npos) << r.error().message;
    };
    refused({.path = ""}, "image");
    refused({.path = "/x", .num_queues = 0}, "num-queues");
    refused({.path = "/x", .num_queues = 65}, "num-queues");
    refused({.path = "/x", .queue_size = 100}, "queue-size");
    refused({.path = "/x", .queue_size = 2}, "queue-size");
    refused({.path = "/x", .serial = std::string(21, 'a')}, "serial");
    EXPECT_TRUE(blk::validate_options({.path = "/x", .queue_size = 32768, .serial = std::string(20, 'a')}));
}

TEST(BlkBackingFile, RegularFile) {
    TempDir t;
    auto f = blk::open_backing_file(t.file("img", 1 << 20), false, blk::CacheMode::kWriteback);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_FALSE(f->direct);
    EXPECT_FALSE(f->block_device);
    EXPECT_FALSE(f->buffered_fd.valid());
    EXPECT_EQ(f->size_bytes, 1u << 20);
    EXPECT_EQ(f->capacity_sectors(), 2048u);
    EXPECT_EQ(f->logical_block_size, 512u);
}

TEST(BlkBackingFile, CacheNoneUsesODirectWhereSupported) {
    TempDir t;
    auto f = blk::open_backing_file(t.file("img", 1 << 20), false, blk::CacheMode::kNone);
    ASSERT_TRUE(f) << f.error().message;
    int flags = ::fcntl(f->fd.get(), F_GETFL);
    if (f->direct) {
        EXPECT_TRUE(flags & O_DIRECT);
        EXPECT_TRUE(f->buffered_fd.valid());
        EXPECT_FALSE(::fcntl(f->buffered_fd.get(), F_GETFL) & O_DIRECT);
        EXPECT_GE(f->dio_offset_align, 512u);
    } else {
        EXPECT_FALSE(flags & O_DIRECT);  // the file system refused O_DIRECT
    }
}

TEST(BlkBackingFile, CapacityRoundsDown) {
    TempDir t;
    auto f = blk::open_backing_file(t.file("img", 1000), false, blk::CacheMode::kWriteback);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->capacity_sectors(), 1u);
}

TEST(BlkBackingFile, Refusals) {
    TempDir t;
    auto missing = blk::open_backing_file(t.path() + "/nope", false, blk::CacheMode::kWriteback);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
    EXPECT_EQ(missing.error().err, ENOENT);

    auto dir = blk::open_backing_file(t.path(), true, blk::CacheMode::kWriteback);
    ASSERT_FALSE(dir);

    auto tiny = blk::open_backing_file(t.file("tiny", 511), false, blk::CacheMode::kWriteback);
    ASSERT_FALSE(tiny);
    EXPECT_NE(tiny.error().message.find("smaller"), std::string::npos);

    auto fifo_path = t.path() + "/fifo";
    ASSERT_EQ(::mkfifo(fifo_path.c_str(), 0600), 0);
    int keep = ::open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);  // so open() does not block
    auto fifo = blk::open_backing_file(fifo_path, true, blk::CacheMode::kWriteback);
    ::close(keep);
    ASSERT_FALSE(fifo);
    EXPECT_NE(fifo.error().message.find("neither"), std::string::npos);
}

TEST(BlkBackingFile, ReadOnlyOpen) {
    TempDir t;
    std::string p = t.file("img", 4096);
    auto f = blk::open_backing_file(p, true, blk::CacheMode::kWriteback);
    ASSERT_TRUE(f);
    EXPECT_EQ(::fcntl(f->fd.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
}

TEST(BlkConfig, FeatureBits) {
    TempDir t;
    auto rw = device({.path = t.file("img", 1 << 20)});
    ASSERT_TRUE(rw);
    const uint64_t base = bit(VIRTIO_F_VERSION_1) | bit(28) /* INDIRECT_DESC */ |
                          bit(29) /* EVENT_IDX */ | bit(VIRTIO_BLK_F_SIZE_MAX) |
                          bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) |
                          bit(VIRTIO_BLK_F_TOPOLOGY) | bit(VIRTIO_BLK_F_FLUSH) |
                          bit(VIRTIO_BLK_F_CONFIG_WCE);
    EXPECT_EQ(rw->features(), base | bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES));
    EXPECT_EQ(rw->type(), "block");
    EXPECT_EQ(rw->num_queues(), 1);
    EXPECT_EQ(rw->max_queue_size(), 256);

    auto mq = device({.path = t.file("img", 1 << 20), .num_queues = 4, .queue_size = 128});
    ASSERT_TRUE(mq);
    EXPECT_EQ(mq->features(),
              base | bit(VIRTIO_BLK_F_MQ) | bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES));
    EXPECT_EQ(mq->num_queues(), 4);
    EXPECT_EQ(mq->max_queue_size(), 128);

    auto ro = device({.path = t.file("img", 1 << 20), .read_only = true});
    ASSERT_TRUE(ro);
    EXPECT_EQ(ro->features(), base | bit(VIRTIO_BLK_F_RO));
}

TEST(BlkConfig, Layout) {
    TempDir t;
    auto d = device({.path = t.file("img", (1 << 20) + 100), .num_queues = 3, .queue_size = 64});
    ASSERT_TRUE(d);
    auto c = d->config();
    ASSERT_EQ(c.size(), 72u);  // virtio_blk_config up to the secure-erase fields
    EXPECT_EQ(le(c, 0, 8), 2048u);            // capacity
    EXPECT_EQ(le(c, 8, 4), 1u << 20);         // size_max
    EXPECT_EQ(le(c, 12, 4), 62u);             // seg_max = queue size - 2
    EXPECT_EQ(le(c, 16, 4), 0u);              // geometry (not offered)
    EXPECT_EQ(le(c, 20, 4), 512u);            // blk_size
    EXPECT_EQ(c[24], 0);                      // physical_block_exp
    EXPECT_EQ(c[25], 0);                      // alignment_offset
    EXPECT_EQ(le(c, 26, 2), 1u);              // min_io_size (blocks)
    EXPECT_EQ(le(c, 28, 4), 0u);              // opt_io_size
    EXPECT_EQ(c[32], 1);                      // writeback
    EXPECT_EQ(le(c, 34, 2), 3u);              // num_queues
    EXPECT_EQ(le(c, 36, 4), 32768u);          // max_discard_sectors
    EXPECT_EQ(le(c, 40, 4), 1u);              // max_discard_seg
    EXPECT_EQ(le(c, 44, 4), 1u);              // discard_sector_alignment
    EXPECT_EQ(le(c, 48, 4), 32768u);          // max_write_zeroes_sectors
    EXPECT_EQ(le(c, 52, 4), 1u);              // max_write_zeroes_seg
    EXPECT_EQ(c[56], 1);                      // write_zeroes_may_unmap
    for (size_t i = 57; i < 72; ++i) EXPECT_EQ(c[i], 0) << "byte " << i;
    EXPECT_EQ(blk::kWceOffset, 32u);
}

TEST(BlkConfig, TopologyFromShape) {
    blk::DiskShape s;
    s.capacity_sectors = 8;
    s.logical_block_size = 512;
    s.physical_block_size = 4096;
    s.min_io_size = 0;
    s.opt_io_size = 65536;
    s.alignment_offset = 1024;
    auto c = blk::make_blk_config(s, false);
    EXPECT_EQ(c.physical_block_exp, 3);
    EXPECT_EQ(c.alignment_offset, 2);
    EXPECT_EQ(c.min_io_size, 8);  // a physical block when the device gives no minimum
    EXPECT_EQ(c.opt_io_size, 128u);
    EXPECT_EQ(c.wce, 0);
    s.logical_block_size = 4096;
    c = blk::make_blk_config(s, true);
    EXPECT_EQ(c.blk_size, 4096u);
    EXPECT_EQ(c.physical_block_exp, 0);
    EXPECT_EQ(c.discard_sector_alignment, 8u);
}

TEST(BlkConfig, OnlyTheWritebackByteIsWritable) {
    TempDir t;
    auto d = device({.path = t.file("img", 1 << 20)});
    ASSERT_TRUE(d);
    const uint8_t zero = 0, one = 1, two = 2;
    EXPECT_TRUE(d->write_config(32, {&zero, 1}));
    EXPECT_EQ(d->config()[32], 0);
    EXPECT_TRUE(d->write_config(32, {&one, 1}));
    EXPECT_EQ(d->config()[32], 1);
    EXPECT_FALSE(d->write_config(32, {&two, 1}));
    EXPECT_EQ(d->config()[32], 1);

    const std::vector<uint8_t> pair{0, 0};
    EXPECT_FALSE(d->write_config(32, pair));  // wce and the byte after it
    EXPECT_FALSE(d->write_config(31, pair));  // the byte before it and wce
    EXPECT_FALSE(d->write_config(0, {&zero, 1}));
    EXPECT_FALSE(d->write_config(34, pair));  // num_queues
    EXPECT_FALSE(d->write_config(0xffffffffu, {&zero, 1}));
    EXPECT_FALSE(d->write_config(32, {}));
    EXPECT_EQ(le(d->config(), 0, 8), 2048u);
    EXPECT_EQ(d->config()[32], 1);
}

TEST(BlkConfig, AckedFeaturesChooseTheCacheMode) {
    TempDir t;
    auto d = device({.path = t.file("img", 1 << 20)});
    ASSERT_TRUE(d);
    d->set_acked_features(bit(VIRTIO_F_VERSION_1));  // no FLUSH: writethrough
    EXPECT_EQ(d->config()[32], 0);
    d->set_acked_features(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_BLK_F_FLUSH));
    EXPECT_EQ(d->config()[32], 1);
    const uint8_t zero = 0;
    ASSERT_TRUE(d->write_config(32, {&zero, 1}));
    // With CONFIG_WCE the driver's choice stands.
    d->set_acked_features(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_BLK_F_FLUSH) |
                          bit(VIRTIO_BLK_F_CONFIG_WCE));
    EXPECT_EQ(d->config()[32], 0);
}

TEST(BlkConfig, QueueHandlersWithinLimits) {
    TempDir t;
    auto d = device({.path = t.file("img", 1 << 20), .num_queues = 2, .queue_size = 64});
    ASSERT_TRUE(d);
    auto q0 = d->make_queue_handler(0, 64);
    ASSERT_TRUE(q0);
    EXPECT_GE(q0->completion_fd(), 0);
    EXPECT_EQ(q0->in_flight(), 0u);
    EXPECT_TRUE(d->make_queue_handler(1, 16));
    EXPECT_FALSE(d->make_queue_handler(2, 64));    // no such queue
    EXPECT_FALSE(d->make_queue_handler(0, 128));   // larger than offered
    EXPECT_FALSE(d->make_queue_handler(0, 0));
}

TEST(BlkConfig, FactoryRefusesBadInput) {
    TempDir t;
    auto r = blk::make_blk_device({.path = t.path() + "/missing"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("missing"), std::string::npos);
    EXPECT_FALSE(blk::make_blk_device({.path = t.file("img", 4096), .queue_size = 3}));
}
