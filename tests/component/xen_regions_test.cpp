// Xen memory tables the worker must refuse: regions of another domain, a
// region fd that is not the right device, unknown flags (a failure ack with
// REPLY_ACK; the connection and the worker go on), and 32-byte regions after
// XEN_MMAP was acked (a protocol error: that connection is closed, the
// worker goes on). A worker that serves no Xen guest never offers XEN_MMAP.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "xen_fixture.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <iostream>

namespace xenvhost::component {
namespace {

namespace flag = vhost_user::xen_mmap_flag;
namespace pf = vhost_user::protocol_feature;
using vhost_user::bit;

class XenRegionsTest : public XenWorkerFixture<> {
protected:
    // Connected and negotiated, memory built but no table sent.
    std::unique_ptr<XenBlkSession> prepared(XenSessionOptions o) {
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
        EXPECT_TRUE(s) << s.error().message;
        if (!s) return nullptr;
        auto p = (*s)->prepare(false);
        EXPECT_TRUE(p) << p.error().message;
        return p ? std::move(*s) : nullptr;
    }
    static void expect_refused(const Result<void>& r, const char* what) {
        ASSERT_FALSE(r) << what << " was accepted";
        EXPECT_EQ(r.error().err, EPROTO) << what << ": " << r.error().message;
    }
    // The connection still answers, then the right table works.
    void expect_recovers(XenBlkSession& s, uint64_t sector) {
        auto f = s.client().get_features();
        ASSERT_TRUE(f) << "connection lost: " << f.error().message;
        ASSERT_OK(s.send_table(s.regions()));
        ASSERT_OK(s.start());
        auto data = random_bytes(sector, 8192);
        ASSERT_OK(s.blk().write(sector, data));
        auto file = pread_file(worker_->image(), sector * kSectorSize, data.size());
        ASSERT_TRUE(file) << file.error().message;
        EXPECT_EQ(first_difference(*file, data), -1);
    }
    uint64_t worker_map_calls() {
        auto st = worker_->status();
        EXPECT_TRUE(st) << st.error().message;
        return st ? st->map_calls : 0;
    }

};

XenSessionOptions with(XenMapping m, XenTableMessages t = XenTableMessages::kSetMemTable) {
    XenSessionOptions o;
    o.mapping = m;
    o.table = t;
    return o;
}

std::vector<RegionMessage> altered(std::span<const RegionMessage> in, auto&& change) {
    std::vector<RegionMessage> out(in.begin(), in.end());
    for (auto& r : out) change(r);
    return out;
}

TEST_F(XenRegionsTest, GrantTableOfAnotherDomainRefused) {
    start_worker();
    auto s = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(s);
    expect_refused(s->send_table(altered(s->regions(), [](RegionMessage& r) { r.xen->domid = 8; })),
                   "a table of domain 8 on a worker for domain 7");
    EXPECT_EQ(worker_map_calls(), 0u);
    expect_recovers(*s, 100);
}

TEST_F(XenRegionsTest, OneRegionOfAnotherDomainRefusesTheTable) {
    start_worker();
    auto s = prepared(with(XenMapping::kForeign));
    ASSERT_TRUE(s);
    auto table = s->regions();
    table.back().xen->domid = 0;  // dom0's memory
    expect_refused(s->send_table(table), "a foreign region of domain 0");
    expect_recovers(*s, 200);
}

TEST_F(XenRegionsTest, AddMemRegOfAnotherDomainRefused) {
    start_worker();
    auto s = prepared(with(XenMapping::kGrant, XenTableMessages::kAddMemReg));
    ASSERT_TRUE(s);
    RegionMessage r = s->regions().front();
    r.xen->domid = 8;
    expect_refused(s->client().add_mem_reg(r), "ADD_MEM_REG of domain 8");
    expect_recovers(*s, 300);
}

TEST_F(XenRegionsTest, RegionFdNotTheRightDevice) {
    start_worker();
    auto s = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(s);
    XenDoubleFiles& files = worker_->files();
    // privcmd's stand-in with grant regions.
    expect_refused(s->send_table(altered(s->regions(), [&](RegionMessage& r) { r.fd = files.privcmd_fd(); })),
                   "grant regions with the privcmd fd");
    // A memfd, as a QEMU/KVM front-end would send.
    auto memfd = make_memfd("not-a-device", 4096);
    ASSERT_TRUE(memfd) << memfd.error().message;
    expect_refused(s->send_table(altered(s->regions(), [&](RegionMessage& r) { r.fd = memfd->get(); })),
                   "grant regions with a memfd");
    // Another character device.
    UniqueFd urandom(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(urandom);
    expect_refused(s->send_table(altered(s->regions(), [&](RegionMessage& r) { r.fd = urandom.get(); })),
                   "grant regions with /dev/urandom");
    expect_recovers(*s, 400);
}

TEST_F(XenRegionsTest, ForeignRegionWithGntdevFdRefused) {
    start_worker();
    auto s = prepared(with(XenMapping::kForeign));
    ASSERT_TRUE(s);
    expect_refused(s->send_table(altered(s->regions(), [&](RegionMessage& r) { r.fd = worker_->files().gntdev_fd(); })),
                   "foreign regions with the gntdev fd");
    expect_recovers(*s, 500);
}

TEST_F(XenRegionsTest, UnknownOrConflictingFlagsRefused) {
    start_worker();
    auto s = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(s);
    for (uint32_t bad : {0x4u, flag::kForeign | flag::kGrant, flag::kGrant | 0x10u, 0x8u}) {
        expect_refused(s->send_table(altered(s->regions(), [&](RegionMessage& r) { r.xen->flags = bad; })),
                       fmt::format("regions with flags {:#x}", bad).c_str());
    }
    expect_recovers(*s, 600);
}

TEST_F(XenRegionsTest, PlainRegionsAfterXenMmapAckedCloseTheConnection) {
    start_worker();
    auto s = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->acked_protocol_features() & bit(pf::kXenMmap));
    // What stock QEMU does after acking bit 17: 32-byte regions.
    s->client().set_region_format(RegionFormat::kPlain);
    auto r = s->send_table(s->regions());
    EXPECT_FALSE(r) << "8+32n bytes of regions accepted after XEN_MMAP";
    EXPECT_TRUE(s->client().connection().wait_closed(5000)) << "the connection stayed open";
    s.reset();
    // The worker serves the next front-end.
    auto again = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(again);
    expect_recovers(*again, 700);
}

TEST_F(XenRegionsTest, PlainAddMemRegAfterXenMmapAckedClosesTheConnection) {
    start_worker();
    auto s = prepared(with(XenMapping::kForeign, XenTableMessages::kAddMemReg));
    ASSERT_TRUE(s);
    s->client().set_region_format(RegionFormat::kPlain);
    EXPECT_FALSE(s->client().add_mem_reg(s->regions().front())) << "a 40-byte ADD_MEM_REG accepted";
    EXPECT_TRUE(s->client().connection().wait_closed(5000)) << "the connection stayed open";
    s.reset();
    auto again = prepared(with(XenMapping::kForeign, XenTableMessages::kAddMemReg));
    ASSERT_TRUE(again);
    expect_recovers(*again, 800);
}

TEST_F(XenRegionsTest, PlainWorkerNeverOffersXenMmap) {
    XenWorkerOptions o = xen_worker_defaults(XENVHOST_BUILD_BIN);
    o.worker_domid.reset();
    o.double_lib.clear();
    start_worker(o);
    auto c = Connection::connect(worker_->socket());
    ASSERT_TRUE(c) << c.error().message;
    VhostClient client(std::move(*c));
    uint64_t proto;
    ASSERT_OK_AND_ASSIGN(proto, client.get_protocol_features());
    EXPECT_FALSE(proto & bit(pf::kXenMmap)) << "protocol features " << proto;
    // A front-end that acks it anyway is a protocol error.
    ASSERT_OK(client.set_protocol_features(proto | bit(pf::kXenMmap)));
    EXPECT_TRUE(client.connection().wait_closed(5000)) << "XEN_MMAP acked without being offered";
    // And the Xen front-end says why it cannot use this worker.
    auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), with(XenMapping::kGrant));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("XEN_MMAP"), std::string::npos) << s.error().message;
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
}

TEST_F(XenRegionsTest, XenFlagWorkerOffersXenMmapForAnyDomain) {
    // --xen without --domid: Xen regions of the front-end's domain.
    XenWorkerOptions o = xen_worker_defaults(XENVHOST_BUILD_BIN);
    o.worker_domid.reset();
    o.xen_flag = true;
    start_worker(o);
    auto s = prepared(with(XenMapping::kGrant));
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->offered_protocol_features() & bit(pf::kXenMmap));
    expect_recovers(*s, 900);
}

}  // namespace
}  // namespace xenvhost::component
