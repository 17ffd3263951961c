// Malformed messages: truncated headers and payloads, sizes beyond the
// maximum, wrong payload sizes, unknown ids, bad version flags (§5.2 item 1).
#include "hostile_fixture.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
using Req = vu::Request;
using HostileHeader = HostileTest;

Connection raw_connection(const std::string& socket) {
    auto c = Connection::connect(socket);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : Connection();
}

std::vector<uint8_t> header_bytes(uint32_t request, uint32_t flags, uint32_t size) {
    vu::Header h{request, flags, size};
    return to_bytes(&h, sizeof h);
}

TEST_F(HostileHeader, TruncatedHeader) {
    for (size_t len : {1u, 6u, 11u}) {
        Connection c = raw_connection(socket_);
        auto h = header_bytes(static_cast<uint32_t>(Req::kGetFeatures), vu::kVersion, 0);
        ASSERT_OK(c.send_raw(std::span(h).first(len)));
        ASSERT_OK(c.shutdown_write());
        EXPECT_TRUE(c.wait_closed(3000)) << len << "-byte header: connection left open";
        expect_alive("truncated header");
    }
}

TEST_F(HostileHeader, PayloadSizeAboveMaximum) {
    for (uint32_t size : {vu::kMaxPayload + 1, 0x100000u, 0xffffffffu}) {
        Connection c = raw_connection(socket_);
        // No payload follows and the connection stays open: the back-end must
        // refuse from the header alone instead of waiting for the bytes.
        ASSERT_OK(c.send_raw(header_bytes(static_cast<uint32_t>(Req::kSetFeatures), vu::kVersion, size)));
        EXPECT_TRUE(c.wait_closed(3000)) << "size " << size << ": connection left open";
        expect_alive("oversized payload");
    }
}

TEST_F(HostileHeader, TruncatedPayload) {
    Connection c = raw_connection(socket_);
    auto bytes = header_bytes(static_cast<uint32_t>(Req::kSetVringAddr), vu::kVersion, 40);
    bytes.resize(bytes.size() + 17, 0);
    ASSERT_OK(c.send_raw(bytes));
    ASSERT_OK(c.shutdown_write());
    EXPECT_TRUE(c.wait_closed(3000));
    expect_alive("truncated payload");
}

TEST_F(HostileHeader, WrongPayloadSize) {
    struct Case { Req req; uint32_t size; bool reply_body; };
    for (Case k : {Case{Req::kSetFeatures, 4, false}, Case{Req::kSetFeatures, 16, false},
                   Case{Req::kSetVringNum, 4, false}, Case{Req::kSetVringNum, 12, false},
                   Case{Req::kSetVringAddr, 32, false}, Case{Req::kSetVringBase, 0, false},
                   Case{Req::kSetVringKick, 4, false}, Case{Req::kSetVringEnable, 16, false},
                   Case{Req::kSetMemTable, 8 + 31, false}, Case{Req::kSetOwner, 8, false},
                   Case{Req::kGetVringBase, 0, true}, Case{Req::kGetConfig, 4, true},
                   Case{Req::kSetStatus, 4, false}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        std::vector<uint8_t> payload(k.size, 0);
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(k.req), payload, {},
                                      k.reply_body);
        EXPECT_TRUE(rejected(v)) << vu::request_name(static_cast<uint32_t>(k.req)) << " with "
                                 << k.size << " payload bytes: " << verdict_name(v);
        s.reset();
        expect_alive("wrong payload size");
    }
}

TEST_F(HostileHeader, UnknownRequest) {
    for (uint32_t id : {0u, vu::kMaxRequest + 1, 1000u, 0xffffffffu}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        uint64_t zero = 0;
        Verdict v = send_and_classify(s->client(), id, bytes_of(zero));
        EXPECT_TRUE(rejected(v)) << "request id " << id << ": " << verdict_name(v);
        s.reset();
        expect_alive("unknown request");
    }
}

TEST_F(HostileHeader, BadFlags) {
    // Version 0, version 2, and an undefined flag bit.
    for (uint32_t flags : {0x0u, 0x2u, 0x1u | 0x10u, 0x1u | 0x80000000u}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        uint64_t features = s->acked_features();
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetFeatures),
                                      bytes_of(features), {}, false, flags);
        EXPECT_TRUE(rejected(v)) << "flags " << flags << ": " << verdict_name(v);
        s.reset();
        expect_alive("bad flags");
    }
}

}  // namespace
}  // namespace xenvhost::component
