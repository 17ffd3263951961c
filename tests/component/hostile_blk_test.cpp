// Well-formed chains carrying bad virtio-blk requests (§5.2 items 12-13):
// sectors out of range, lengths that are not whole sectors, bad discard and
// write-zeroes segments, tiny GET_ID buffers, unknown types, and a header
// the guest keeps changing while the back-end reads it.
#include "hostile_fixture.hpp"

#include <sys/stat.h>

#include <atomic>
#include <thread>

namespace xenvhost::component {
namespace {

using HostileBlk = HostileTest;

// Runs `cmd` and checks the status; the image must stay as it was.
void expect_status(HostileTest& t, BlkQueue& q, const BlkCommand& cmd, uint8_t want,
                   const std::string& what) {
    auto c = q.run(cmd);
    ASSERT_TRUE(c) << what << ": " << c.error().message;
    EXPECT_EQ(c->status, want) << what << ": status " << blk_status_name(c->status) << ", expected "
                               << blk_status_name(want);
    (void)t;
}

uint64_t file_size(const std::string& path) {
    struct stat st{};
    ::stat(path.c_str(), &st);
    return static_cast<uint64_t>(st.st_size);
}

TEST_F(HostileBlk, SectorsOutOfRange) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    uint64_t cap = s->capacity_sectors();
    auto data = random_bytes(1, 4096);
    struct Case { const char* name; uint64_t sector; uint32_t len; };
    for (Case k : {Case{"at capacity", cap, 512}, Case{"straddling the end", cap - 1, 1024},
                   Case{"far beyond", cap * 1000, 512}, Case{"near 2^64", ~0ull - 3, 4096},
                   Case{"sector*512 overflows", (~0ull >> 9) + 1, 512}}) {
        expect_status(*this, q, BlkCommand::in(k.sector, k.len), VIRTIO_BLK_S_IOERR,
                      std::string("read ") + k.name);
        expect_status(*this, q, BlkCommand::out(k.sector, std::span(data).first(k.len)),
                      VIRTIO_BLK_S_IOERR, std::string("write ") + k.name);
    }
    EXPECT_EQ(file_size(image_), cfg_.image_size) << "the image grew";
    EXPECT_EQ(file_bytes((cap - 1) * kSectorSize, 512), original((cap - 1) * kSectorSize, 512));
    // The queue still serves.
    verified_io(q, 100, 4096, 300);
}

TEST_F(HostileBlk, LengthNotWholeSectors) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    auto data = random_bytes(2, 4096);
    for (uint32_t len : {1u, 100u, 1000u, 4095u}) {
        expect_status(*this, q, BlkCommand::in(10, len), VIRTIO_BLK_S_IOERR,
                      "read of " + std::to_string(len) + " bytes");
        expect_status(*this, q, BlkCommand::out(10, std::span(data).first(len)), VIRTIO_BLK_S_IOERR,
                      "write of " + std::to_string(len) + " bytes");
    }
    EXPECT_EQ(file_bytes(10 * kSectorSize, 4096), original(10 * kSectorSize, 4096));
    verified_io(q, 100, 4096, 301);
}

TEST_F(HostileBlk, FlushWithSector) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkCommand f = BlkCommand::flush();
    f.sector = 5;
    expect_status(*this, s->blk(0), f, VIRTIO_BLK_S_IOERR, "FLUSH with sector 5");
    verified_io(s->blk(0), 100, 4096, 302);
}

TEST_F(HostileBlk, BadDiscardAndWriteZeroesSegments) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    uint64_t cap = s->capacity_sectors();
    for (uint32_t type : {uint32_t{VIRTIO_BLK_T_DISCARD}, uint32_t{VIRTIO_BLK_T_WRITE_ZEROES}}) {
        std::string t = type == VIRTIO_BLK_T_DISCARD ? "DISCARD" : "WRITE_ZEROES";
        auto cmd = [&](std::vector<virtio_blk_discard_write_zeroes> segs) {
            BlkCommand c;
            c.type = type;
            c.segments = std::move(segs);
            return c;
        };
        expect_status(*this, q, cmd({{300, 8, 0}, {400, 8, 0}}), VIRTIO_BLK_S_UNSUPP,
                      t + " with 2 segments");
        expect_status(*this, q, cmd({{300, 0xffffffffu, 0}}), VIRTIO_BLK_S_IOERR,
                      t + " of 0xffffffff sectors");
        expect_status(*this, q, cmd({{300, 8, 0x2}}), VIRTIO_BLK_S_UNSUPP, t + " with reserved flags");
        expect_status(*this, q, cmd({{cap - 4, 8, 0}}), VIRTIO_BLK_S_IOERR, t + " past the end");
        expect_status(*this, q, cmd({{~0ull - 3, 8, 0}}), VIRTIO_BLK_S_IOERR,
                      t + " with an overflowing range");
        if (type == VIRTIO_BLK_T_DISCARD) {
            expect_status(*this, q, cmd({{300, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}}),
                          VIRTIO_BLK_S_UNSUPP, "DISCARD with the UNMAP flag");
            uint32_t max = s->config().max_discard_sectors;
            if (max && max < cap - 300) {
                expect_status(*this, q, cmd({{0, max + 8, 0}}), VIRTIO_BLK_S_IOERR,
                              "DISCARD above max_discard_sectors");
            }
        }
    }
    EXPECT_EQ(file_bytes(300 * kSectorSize, 200 * kSectorSize),
              original(300 * kSectorSize, 200 * kSectorSize));
    EXPECT_EQ(file_size(image_), cfg_.image_size);
    verified_io(q, 100, 4096, 303);
}

TEST_F(HostileBlk, GetIdWithTinyBuffer) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    // A 4-byte buffer followed by a canary the back-end must not touch.
    uint64_t buf;
    ASSERT_OK_AND_ASSIGN(buf, s->memory().alloc(64, 64));
    ASSERT_OK(s->memory().fill(buf, 64, 0xa5));
    BlkCommand c = BlkCommand::get_id(4);
    c.data_gpa = buf;
    BlkCompletion done;
    ASSERT_OK_AND_ASSIGN(done, q.run(c));
    std::vector<uint8_t> mem(64);
    ASSERT_OK(s->memory().read(buf, mem));
    EXPECT_EQ(std::vector<uint8_t>(mem.begin() + 4, mem.end()), std::vector<uint8_t>(60, 0xa5))
        << "GET_ID wrote past the 4-byte buffer";
    if (done.status == VIRTIO_BLK_S_OK) {
        EXPECT_LE(done.used_len, 5u);
        std::string want = expected_serial().substr(0, 4);
        EXPECT_EQ(std::string(mem.begin(), mem.begin() + 4), want);
    } else {
        EXPECT_TRUE(done.status == VIRTIO_BLK_S_IOERR || done.status == VIRTIO_BLK_S_UNSUPP)
            << blk_status_name(done.status);
    }
    verified_io(q, 100, 4096, 304);
}

TEST_F(HostileBlk, UnknownTypes) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    // SCSI_CMD, SECURE_ERASE (not offered), undefined, OUT with the legacy
    // BARRIER bit.
    for (uint32_t type : {2u, 14u, 0x99u, 0x80000001u}) {
        BlkCommand c = BlkCommand::in(0, 512);
        c.type = type;
        expect_status(*this, q, c, VIRTIO_BLK_S_UNSUPP, "type " + std::to_string(type));
    }
    EXPECT_EQ(file_bytes(0, 512), original(0, 512));
    verified_io(q, 100, 4096, 305);
}

TEST_F(HostileBlk, HeaderChangedWhileBeingRead) {
    // The guest flips the sector of in-flight writes between 0 (valid) and
    // the last sector (8 sectors past the end). A back-end that checks one
    // value and uses another writes past the end of the image.
    SessionOptions o = default_session();
    o.blk.depth = 1;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    BlkQueue& q = s->blk(0);
    uint64_t last = s->capacity_sectors() - 1;
    auto data = random_bytes(6, 4096);
    uint8_t* sector_field = s->memory().host(q.slot_header_gpa(0) + 8, 8);
    ASSERT_NE(sector_field, nullptr);
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        auto* p = reinterpret_cast<uint64_t*>(sector_field);
        for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i)
            std::atomic_ref<uint64_t>(*p).store(i % 2 ? last : 0, std::memory_order_relaxed);
    });
    int ok = 0, ioerr = 0, other = 0;
    for (int i = 0; i < 400; ++i) {
        auto c = q.run(BlkCommand::out(0, data));
        if (!c) {
            ADD_FAILURE() << c.error().message;
            break;
        }
        (c->status == VIRTIO_BLK_S_OK ? ok : c->status == VIRTIO_BLK_S_IOERR ? ioerr : other)++;
    }
    stop = true;
    flipper.join();
    EXPECT_EQ(other, 0) << "statuses other than OK and IOERR";
    EXPECT_EQ(file_size(image_), cfg_.image_size) << "a write went past the end of the image";
    auto head = file_bytes(0, 4096);
    EXPECT_TRUE(first_difference(head, data) == -1 || first_difference(head, original(0, 4096)) == -1)
        << "sector 0 holds a mix";
    EXPECT_EQ(file_bytes(last * kSectorSize, 512), original(last * kSectorSize, 512))
        << "the last sector was overwritten by an out-of-range write";
    RecordProperty("ok", ok);
    RecordProperty("ioerr", ioerr);
    verified_io(q, 100, 4096, 306);
}

}  // namespace
}  // namespace xenvhost::component
