#include "vhost_user/message_table.hpp"

#include <gtest/gtest.h>

using namespace xenvhost::vhost_user;

namespace {
Header hdr(Request r, uint32_t size, uint32_t flags = kVersion) {
    return Header{static_cast<uint32_t>(r), flags, size};
}
}  // namespace

TEST(MessageTable, EveryIdOfTheSpecIsKnown) {
    for (uint32_t id = 1; id <= kMaxRequest; ++id) {
        const MessageSpec* s = find_spec(id);
        ASSERT_NE(s, nullptr) << id;
        EXPECT_EQ(s->id, id);
        EXPECT_FALSE(s->name.empty());
    }
    EXPECT_EQ(find_spec(0), nullptr);
    EXPECT_EQ(find_spec(kMaxRequest + 1), nullptr);
    EXPECT_EQ(request_name(41), "GET_SHARED_OBJECT");
}

TEST(MessageTable, AcceptsWellFormedMessages) {
    EXPECT_TRUE(validate(hdr(Request::kGetFeatures, 0), 0));
    EXPECT_TRUE(validate(hdr(Request::kSetFeatures, 8), 0));
    EXPECT_TRUE(validate(hdr(Request::kSetVringKick, 8), 1));
    EXPECT_TRUE(validate(hdr(Request::kSetVringKick, 8), 0));
    EXPECT_TRUE(validate(hdr(Request::kSetMemTable, 8 + 32 * 2), 2));
    EXPECT_TRUE(validate(hdr(Request::kSetMemTable, 8 + 40 * 2), 2));
    EXPECT_TRUE(validate(hdr(Request::kAddMemReg, 40), 1));
    EXPECT_TRUE(validate(hdr(Request::kAddMemReg, 48), 1));
    EXPECT_TRUE(validate(hdr(Request::kRemMemReg, 40), 0));
    EXPECT_TRUE(validate(hdr(Request::kGetConfig, 12 + 60), 0));
    EXPECT_TRUE(validate(hdr(Request::kSetFeatures, 8, kVersion | kFlagNeedReply), 0));
}

TEST(MessageTable, RejectsBadHeaders) {
    EXPECT_FALSE(validate(hdr(Request::kGetFeatures, 0, 0), 0));                  // version 0
    EXPECT_FALSE(validate(hdr(Request::kGetFeatures, 0, 2), 0));                  // version 2
    EXPECT_FALSE(validate(hdr(Request::kGetFeatures, 0, kVersion | 0x10), 0));    // reserved bit
    EXPECT_FALSE(validate(hdr(Request::kGetFeatures, 0, kReplyFlags), 0));        // reply flag
    EXPECT_FALSE(validate(Header{0, kVersion, 0}, 0));
    EXPECT_FALSE(validate(Header{kMaxRequest + 1, kVersion, 0}, 0));
    EXPECT_FALSE(validate(Header{0xffffffff, kVersion, 0}, 0));
    EXPECT_FALSE(validate(hdr(Request::kSetFeatures, kMaxPayload + 1), 0));
}

TEST(MessageTable, RejectsBadSizes) {
    EXPECT_FALSE(validate(hdr(Request::kSetFeatures, 4), 0));
    EXPECT_FALSE(validate(hdr(Request::kSetVringAddr, 39), 0));
    EXPECT_FALSE(validate(hdr(Request::kSetMemTable, 4), 1));
    EXPECT_FALSE(validate(hdr(Request::kSetMemTable, 8 + 33), 1));
    EXPECT_FALSE(validate(hdr(Request::kAddMemReg, 44), 1));
    EXPECT_FALSE(validate(hdr(Request::kGetConfig, 8), 0));
    EXPECT_FALSE(validate(hdr(Request::kGetConfig, 12 + 257), 0));
}

TEST(MessageTable, RejectsWrongFdCounts) {
    EXPECT_FALSE(validate(hdr(Request::kGetFeatures, 0), 1));
    EXPECT_FALSE(validate(hdr(Request::kSetFeatures, 8), 3));
    EXPECT_FALSE(validate(hdr(Request::kSetVringKick, 8), 2));
    EXPECT_FALSE(validate(hdr(Request::kSetMemTable, 8 + 32), 0));
    EXPECT_FALSE(validate(hdr(Request::kSetMemTable, 8 + 32), 9));
    EXPECT_FALSE(validate(hdr(Request::kAddMemReg, 40), 0));
    EXPECT_FALSE(validate(hdr(Request::kAddMemReg, 40), 2));
    EXPECT_FALSE(validate(hdr(Request::kSetBackendReqFd, 0), 0));
}
