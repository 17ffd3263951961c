// Back-ends the front-end must refuse cleanly: one that cannot map Xen
// memory (the worker without a domid offers no XEN_MMAP), a driver whose
// ring lies in a RAM hole, and a hostile fake back-end whose replies are
// malformed or never come. Each ends in an error of the right kind, never a
// crash or a hang.
#include "frontend_fixture.hpp"

#include "vhost_user/connection.hpp"
#include "virtio/ring_layout.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <thread>

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
using vu::bit;
using FrontendRefusalTest = FrontendTest;

TEST_F(FrontendRefusalTest, BackendWithoutXenMmap) {
    start_worker(/*xen=*/false);
    auto d = make_frontend(config());
    ASSERT_FALSE(d.has_value()) << "a back-end without XEN_MMAP was accepted";
    EXPECT_EQ(d.error().kind, ErrorKind::kPolicy);
    EXPECT_NE(d.error().message.find("XEN_MMAP"), std::string::npos) << d.error().message;
}

TEST_F(FrontendRefusalTest, RingInRamHole) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    ASSERT_OK(dev_->set_features(dev_->device_features() & bit(virtio::kFVersion1)));
    auto queues = setup_guest(2);
    ASSERT_EQ(queues.size(), 2u);
    queues[1].device = kHoleStart + 0x1000;  // used ring in the hole
    auto r = dev_->start(queues);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ErrorKind::kGuestFault) << r.error().message;
    // A ring that runs off the end of a range is refused too.
    queues = setup_guest(1);
    queues[0].desc = kHoleStart - 16;
    r = dev_->start(queues);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ErrorKind::kGuestFault);
    // Nothing was started: after a reset the device works.
    dev_->reset();
    ASSERT_OK(dev_->set_features(dev_->device_features() & bit(virtio::kFVersion1)));
    ASSERT_OK(dev_->start(setup_guest(1)));
    verified_io(0, 10, 4096, 1);
}

// What the fake back-end does with GET_FEATURES, the first request.
enum class Misreply { kShortPayload, kWrongRequest, kNeedReplyFlag, kSilent, kTooManyFds };

// Listens on `path`, takes one front-end, and answers its first request badly.
class FakeBackend {
public:
    FakeBackend(const std::string& path, Misreply how) {
        listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        ok_ = ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(listener_.get(), 1) == 0;
        if (ok_) thread_ = std::thread([this, how] { serve(how); });
    }
    ~FakeBackend() {
        ::shutdown(listener_.get(), SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
    }
    bool ok() const { return ok_; }

private:
    void serve(Misreply how) {
        UniqueFd s(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!s) return;
        vu::Connection c(std::move(s));
        auto m = c.receive();
        if (!m) return;
        const uint64_t features = bit(virtio::kFVersion1) | bit(vu::kFeatureProtocolFeatures);
        vu::Header h{m->header.request, vu::kReplyFlags, sizeof features};
        std::span<const uint8_t> body{reinterpret_cast<const uint8_t*>(&features), sizeof features};
        int fds[1] = {c.fd()};
        switch (how) {
            case Misreply::kShortPayload: h.size = 4; body = body.first(4); break;
            case Misreply::kWrongRequest: h.request = 15; break;
            case Misreply::kNeedReplyFlag: h.flags |= vu::kFlagNeedReply; break;
            case Misreply::kTooManyFds: (void)c.send(h, body, fds); break;
            case Misreply::kSilent: break;
        }
        if (how != Misreply::kSilent && how != Misreply::kTooManyFds) (void)c.send(h, body);
        // Hold the connection until the front-end gives up on it.
        (void)c.receive();
    }

    UniqueFd listener_;
    std::thread thread_;
    bool ok_ = false;
};

class FrontendMalformedTest : public FrontendTest, public ::testing::WithParamInterface<Misreply> {};

TEST_P(FrontendMalformedTest, CleanProtocolError) {
    FakeBackend fake(socket_, GetParam());
    ASSERT_TRUE(fake.ok());
    auto cfg = config();
    cfg.reply_timeout_ms = 300;
    auto d = make_frontend(cfg);
    ASSERT_FALSE(d.has_value()) << "a malformed reply was accepted";
    EXPECT_EQ(d.error().kind, ErrorKind::kProtocol) << d.error().message;
    EXPECT_NE(d.error().message.find("GET_FEATURES"), std::string::npos) << d.error().message;
}

std::string misreply_name(const ::testing::TestParamInfo<Misreply>& info) {
    switch (info.param) {
        case Misreply::kShortPayload: return "ShortPayload";
        case Misreply::kWrongRequest: return "WrongRequest";
        case Misreply::kNeedReplyFlag: return "NeedReplyFlag";
        case Misreply::kSilent: return "Silent";
        case Misreply::kTooManyFds: return "TooManyFds";
    }
    return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(Frontend, FrontendMalformedTest,
                         ::testing::Values(Misreply::kShortPayload, Misreply::kWrongRequest, Misreply::kNeedReplyFlag,
                                           Misreply::kSilent, Misreply::kTooManyFds),
                         misreply_name);

}  // namespace
}  // namespace xenvhost::component
