// The back-end state machine driven message by message over a socketpair,
// with a small in-test device and a runner that records what it was asked.

#include "ring_fixture.hpp"
#include "vhost_user/backend_session.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <map>
#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::vhost_user;

namespace {

class TinyDevice final : public devices::Device {
public:
    std::string_view type() const override { return "block"; }
    uint64_t features() const override { return bit(32) | bit(28) | bit(29) | bit(9); }
    void set_acked_features(uint64_t f) override { acked = f; }
    uint16_t num_queues() const override { return 2; }
    uint16_t max_queue_size() const override { return 256; }
    std::span<const uint8_t> config() const override { return cfg; }
    bool write_config(uint32_t offset, std::span<const uint8_t> d) override {
        if (offset != 4 || d.size() != 1) return false;
        cfg[4] = d[0];
        return true;
    }
    std::unique_ptr<devices::QueueHandler> make_queue_handler(uint16_t, uint16_t) override { return nullptr; }
    uint64_t acked = 0;
    std::array<uint8_t, 8> cfg{1, 2, 3, 4, 5, 6, 7, 8};
};

class RecordingRunner final : public VringRunner {
public:
    Result<> start(const VringStart& s) override {
        started.push_back(s);
        running[s.index] = s.last_avail;
        return {};
    }
    uint16_t stop(uint16_t index) override {
        stops++;
        uint16_t v = running[index] + 7;  // pretend 7 requests were processed
        running.erase(index);
        return v;
    }
    void set_call(uint16_t, std::shared_ptr<UniqueFd>) override { call_swaps++; }
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> m) override {
        memory_sets++;
        last_memory = m;
        return {};
    }
    std::vector<VringStart> started;
    std::map<uint16_t, uint16_t> running;
    int stops = 0, call_swaps = 0, memory_sets = 0;
    std::shared_ptr<const memory::GuestMemory> last_memory;
};

struct Harness {
    Harness(SessionOptions opts = {}) {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        peer.reset(sv[1]);
        conn = std::make_unique<Connection>(UniqueFd(sv[0]));
        session = std::make_unique<BackendSession>(*conn, device, runner, opts);
    }
    // Sends nothing over the wire: builds the message as the connection would deliver it.
    Result<> send(Request r, std::vector<uint8_t> payload, std::vector<int> fds = {}, bool need_reply = false) {
        Message m;
        m.header = {static_cast<uint32_t>(r), kVersion | (need_reply ? kFlagNeedReply : 0u),
                    static_cast<uint32_t>(payload.size())};
        m.payload = std::move(payload);
        for (int fd : fds) m.fds.emplace_back(fd);
        return session->handle(m);
    }
    template <typename T>
    Result<> send_obj(Request r, const T& v, std::vector<int> fds = {}, bool need_reply = false) {
        std::vector<uint8_t> p(sizeof v);
        std::memcpy(p.data(), &v, sizeof v);
        return send(r, std::move(p), std::move(fds), need_reply);
    }
    // Reads one reply from the peer end.
    std::pair<Header, std::vector<uint8_t>> reply() {
        Header h{};
        EXPECT_EQ(::recv(peer.get(), &h, sizeof h, MSG_WAITALL), (ssize_t)sizeof h);
        std::vector<uint8_t> body(h.size);
        if (h.size) {
            EXPECT_EQ(::recv(peer.get(), body.data(), h.size, MSG_WAITALL), (ssize_t)h.size);
        }
        return {h, body};
    }
    uint64_t reply_u64() {
        auto [h, body] = reply();
        EXPECT_EQ(h.flags, kReplyFlags);
        uint64_t v = 0;
        if (body.size() == 8) std::memcpy(&v, body.data(), 8);
        return v;
    }
    void negotiate(uint64_t protocol_features, uint64_t features) {
        ASSERT_TRUE(send(Request::kGetFeatures, {}));
        reply_u64();
        ASSERT_TRUE(send_obj(Request::kSetProtocolFeatures, protocol_features));
        ASSERT_TRUE(send_obj(Request::kSetFeatures, features));
    }
    int memfd_of(size_t size) {
        int fd = ::memfd_create("g", MFD_CLOEXEC);
        EXPECT_EQ(::ftruncate(fd, (off_t)size), 0);
        return fd;
    }
    void set_mem_table() {
        std::vector<uint8_t> p(8 + 32);
        MemoryTableHeader h{1, 0};
        MemoryRegion r{0, 1 << 20, 0x7f0000000000, 0};
        std::memcpy(p.data(), &h, 8);
        std::memcpy(p.data() + 8, &r, 32);
        ASSERT_TRUE(send(Request::kSetMemTable, p, {memfd_of(1 << 20)}));
    }
    UniqueFd peer;
    TinyDevice device;
    RecordingRunner runner;
    std::unique_ptr<Connection> conn;
    std::unique_ptr<BackendSession> session;
};

SessionOptions xen_options(uint32_t domid) {
    SessionOptions o;
    o.memory = std::make_shared<memory::MemoryBuilder>(memory::MemoryPolicy{true, domid, true}, memory::XenHandles{});
    return o;
}

constexpr uint64_t kProto = bit(protocol_feature::kReplyAck) | bit(protocol_feature::kMq) |
                            bit(protocol_feature::kConfig) | bit(protocol_feature::kConfigureMemSlots);

}  // namespace

TEST(BackendSession, OffersXenMmapOnlyForXenGuests) {
    Harness plain;
    ASSERT_TRUE(plain.send(Request::kGetProtocolFeatures, {}));
    EXPECT_FALSE(plain.reply_u64() & bit(protocol_feature::kXenMmap));
    Harness xen(xen_options(5));
    ASSERT_TRUE(xen.send(Request::kGetProtocolFeatures, {}));
    EXPECT_TRUE(xen.reply_u64() & bit(protocol_feature::kXenMmap));
}

TEST(BackendSession, FeaturesAreCheckedAgainstTheOffer) {
    Harness h;
    ASSERT_TRUE(h.send(Request::kGetFeatures, {}));
    // The vhost-user layer adds PROTOCOL_FEATURES and ACCESS_PLATFORM (IOTLB).
    EXPECT_EQ(h.reply_u64(), h.device.features() | bit(kFeatureProtocolFeatures) | bit(33));
    EXPECT_FALSE(h.send_obj(Request::kSetFeatures, bit(40)));  // not offered
    EXPECT_FALSE(h.send_obj(Request::kSetProtocolFeatures, bit(protocol_feature::kXenMmap)));
}

TEST(BackendSession, RingStartsOnKickWhenEnabledAndStopsOnGetVringBase) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    h.set_mem_table();
    EXPECT_EQ(h.runner.memory_sets, 1);
    ASSERT_TRUE(h.send_obj(Request::kSetVringNum, VringState{1, 64}));
    VringAddr a{1, 0, 0x7f0000001000, 0x7f0000003000, 0x7f0000002000, 0};
    ASSERT_TRUE(h.send_obj(Request::kSetVringAddr, a));
    ASSERT_TRUE(h.send_obj(Request::kSetVringBase, VringState{1, 100}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringKick, uint64_t{1}, {::eventfd(0, EFD_CLOEXEC)}));
    EXPECT_TRUE(h.runner.started.empty());  // protocol features: rings start disabled
    ASSERT_TRUE(h.send_obj(Request::kSetVringEnable, VringState{1, 1}, {}, true));
    EXPECT_EQ(h.reply_u64(), 0u);
    ASSERT_EQ(h.runner.started.size(), 1u);
    const VringStart& s = h.runner.started[0];
    EXPECT_EQ(s.size, 64);
    EXPECT_EQ(s.addrs.desc, 0x1000u);  // user address translated to guest address
    EXPECT_EQ(s.addrs.avail, 0x2000u);
    EXPECT_EQ(s.last_avail, 100);
    EXPECT_TRUE(s.event_idx);
    EXPECT_TRUE(s.indirect);
    ASSERT_TRUE(h.send_obj(Request::kGetVringBase, VringState{1, 0}));
    auto [hdr, body] = h.reply();
    VringState st;
    std::memcpy(&st, body.data(), sizeof st);
    EXPECT_EQ(st.index, 1u);
    EXPECT_EQ(st.num, 107u);
    EXPECT_EQ(h.runner.stops, 1);
}

TEST(BackendSession, WithoutProtocolFeaturesRingsAreEnabled) {
    Harness h;
    ASSERT_TRUE(h.send_obj(Request::kSetFeatures, h.device.features()));
    h.set_mem_table();
    ASSERT_TRUE(h.send_obj(Request::kSetVringNum, VringState{0, 64}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringAddr, VringAddr{0, 0, 0x7f0000001000, 0x7f0000003000, 0x7f0000002000, 0}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringKick, uint64_t{0}, {::eventfd(0, EFD_CLOEXEC)}));
    EXPECT_EQ(h.runner.started.size(), 1u);
    // SET_VRING_ENABLE is not legal without PROTOCOL_FEATURES: the connection ends.
    EXPECT_FALSE(h.send_obj(Request::kSetVringEnable, VringState{0, 0}));
    EXPECT_EQ(h.runner.stops, 0);
}

TEST(BackendSession, KickBeforeMemoryIsRefusedWithAFailureAck) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    ASSERT_TRUE(h.send_obj(Request::kSetVringEnable, VringState{0, 1}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringKick, uint64_t{0}, {::eventfd(0, EFD_CLOEXEC)}, true));
    EXPECT_EQ(h.reply_u64(), 1u);
    EXPECT_TRUE(h.runner.started.empty());
}

TEST(BackendSession, RingAddressesOutsideMemoryAreRefused) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    h.set_mem_table();
    ASSERT_TRUE(h.send_obj(Request::kSetVringNum, VringState{0, 64}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringAddr, VringAddr{0, 0, 0x1000, 0x2000, 0x3000, 0}, {}, true));
    EXPECT_EQ(h.reply_u64(), 1u);  // refused where it was sent
    ASSERT_TRUE(h.send_obj(Request::kSetVringEnable, VringState{0, 1}));
    ASSERT_TRUE(h.send_obj(Request::kSetVringKick, uint64_t{0}, {::eventfd(0, EFD_CLOEXEC)}, true));
    EXPECT_EQ(h.reply_u64(), 1u);
    EXPECT_TRUE(h.runner.started.empty());
}

TEST(BackendSession, RingAddressesBeforeMemoryAreRefused) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    ASSERT_TRUE(h.send_obj(Request::kSetVringAddr, VringAddr{0, 0, 0x7f0000001000, 0x7f0000003000, 0x7f0000002000, 0},
                           {}, true));
    EXPECT_EQ(h.reply_u64(), 1u);
}

TEST(BackendSession, ProtocolViolationsEndTheConnection) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    EXPECT_FALSE(h.send_obj(Request::kSetVringNum, VringState{2, 64}));         // index out of range
    EXPECT_FALSE(h.send_obj(Request::kSetVringNum, VringState{0x10000, 64}));   // high bits set
    EXPECT_FALSE(h.send_obj(Request::kSetVringNum, VringState{0, 0}));
    EXPECT_FALSE(h.send_obj(Request::kSetVringNum, VringState{0, 100}));        // not a power of 2
    EXPECT_FALSE(h.send_obj(Request::kSetVringNum, VringState{0, 512}));        // above the maximum
    EXPECT_FALSE(h.send_obj(Request::kSetVringAddr, VringAddr{0, 0, 0x1008, 0x2000, 0x3000, 0}));
    EXPECT_FALSE(h.send_obj(Request::kSetVringBase, VringState{0, 0x10000}));
    EXPECT_FALSE(h.send_obj(Request::kSetVringKick, uint64_t{0x200}));         // reserved bit
    EXPECT_FALSE(h.send_obj(Request::kSetVringCall, uint64_t{0x100}, {::eventfd(0, EFD_CLOEXEC)}));
    EXPECT_FALSE(h.send_obj(Request::kGetVringBase, VringState{9, 0}));
    EXPECT_FALSE(h.send_obj(Request::kSetVringEnable, VringState{0, 2}));
}

TEST(BackendSession, MemTableStrideAndFdCountAreChecked) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    std::vector<uint8_t> p(8 + 32 * 2);
    MemoryTableHeader hdr{2, 0};
    std::memcpy(p.data(), &hdr, 8);
    MemoryRegion r0{0, 0x1000, 0x10000, 0}, r1{0x1000, 0x1000, 0x20000, 0};
    std::memcpy(p.data() + 8, &r0, 32);
    std::memcpy(p.data() + 40, &r1, 32);
    EXPECT_FALSE(h.send(Request::kSetMemTable, p, {h.memfd_of(0x1000)}));  // 2 regions, 1 fd
    MemoryRegion overlap{0x800, 0x1000, 0x20000, 0};
    std::memcpy(p.data() + 40, &overlap, 32);
    EXPECT_FALSE(h.send(Request::kSetMemTable, p, {h.memfd_of(0x1000), h.memfd_of(0x1000)}));
    // Xen stride without XEN_MMAP negotiated
    std::vector<uint8_t> x(8 + 40);
    MemoryTableHeader one{1, 0};
    std::memcpy(x.data(), &one, 8);
    EXPECT_FALSE(h.send(Request::kSetMemTable, x, {h.memfd_of(0x1000)}));
    EXPECT_EQ(h.runner.memory_sets, 0);
}

TEST(BackendSession, XenMmapAckedButPlainRegionsSentIsRejected) {
    Harness h(xen_options(5));
    h.negotiate(kProto | bit(protocol_feature::kXenMmap), h.device.features() | bit(kFeatureProtocolFeatures));
    std::vector<uint8_t> p(8 + 32 * 5);  // 168 bytes: 5 plain regions, which is not 8 + 40n for n=5
    MemoryTableHeader hdr{5, 0};
    std::memcpy(p.data(), &hdr, 8);
    std::vector<int> fds;
    for (int i = 0; i < 5; ++i) fds.push_back(h.memfd_of(0x1000));
    EXPECT_FALSE(h.send(Request::kSetMemTable, p, fds));
}

TEST(BackendSession, AddAndRemoveRegions) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    ASSERT_TRUE(h.send(Request::kGetMaxMemSlots, {}));
    EXPECT_EQ(h.reply_u64(), memory::kMaxRegions);
    std::vector<uint8_t> p(40, 0);
    MemoryRegion r{0x100000, 0x1000, 0x30000, 0};
    std::memcpy(p.data() + 8, &r, 32);
    ASSERT_TRUE(h.send(Request::kAddMemReg, p, {h.memfd_of(0x1000)}, true));
    EXPECT_EQ(h.reply_u64(), 0u);
    ASSERT_TRUE(h.send(Request::kRemMemReg, p, {}, true));
    EXPECT_EQ(h.reply_u64(), 0u);
    ASSERT_TRUE(h.send(Request::kRemMemReg, p, {}, true));  // already gone: refused
    EXPECT_EQ(h.reply_u64(), 1u);
    EXPECT_EQ(h.runner.memory_sets, 2);
}

TEST(BackendSession, ConfigReadsAndWrites) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    std::vector<uint8_t> p(12 + 4, 0);
    ConfigHeader c{2, 4, 0};
    std::memcpy(p.data(), &c, 12);
    ASSERT_TRUE(h.send(Request::kGetConfig, p));
    auto [hdr, body] = h.reply();
    ASSERT_EQ(body.size(), 16u);
    EXPECT_EQ(body[12], 3);
    EXPECT_EQ(body[15], 6);
    c = {6, 4, 0};  // runs past the 8-byte config: empty reply means failure
    std::memcpy(p.data(), &c, 12);
    ASSERT_TRUE(h.send(Request::kGetConfig, p));
    EXPECT_EQ(h.reply().second.size(), 0u);
    std::vector<uint8_t> w(12 + 1, 0);
    c = {4, 1, 0};
    std::memcpy(w.data(), &c, 12);
    w[12] = 0x55;
    ASSERT_TRUE(h.send(Request::kSetConfig, w, {}, true));
    EXPECT_EQ(h.reply_u64(), 0u);
    EXPECT_EQ(h.device.cfg[4], 0x55);
    c = {0, 1, 0};  // read-only field
    std::memcpy(w.data(), &c, 12);
    ASSERT_TRUE(h.send(Request::kSetConfig, w, {}, true));
    EXPECT_EQ(h.reply_u64(), 1u);
}

TEST(BackendSession, UnsupportedMessagesAreVisiblyRefused) {
    Harness h;
    h.negotiate(kProto, h.device.features() | bit(kFeatureProtocolFeatures));
    ASSERT_TRUE(h.send(Request::kSetBackendReqFd, {}, {::eventfd(0, EFD_CLOEXEC)}, true));
    EXPECT_EQ(h.reply_u64(), 1u);
    ASSERT_TRUE(h.send_obj(Request::kIotlbMsg, IotlbMsg{}));
    EXPECT_EQ(h.reply_u64(), 1u);
    ASSERT_TRUE(h.send_obj(Request::kGetInflightFd, Inflight{}));
    auto [hdr, body] = h.reply();
    ASSERT_EQ(body.size(), sizeof(Inflight));
    Inflight inf;
    std::memcpy(&inf, body.data(), sizeof inf);
    EXPECT_EQ(inf.mmap_size, 0u);
    // STATUS was not negotiated here.
    ASSERT_TRUE(h.send(Request::kGetStatus, {}));
    EXPECT_EQ(h.reply_u64(), 1u);
}
