// The --device text: the null-io key (a benchmark limit), io-path, and bad input.

#include "control/device_spec.hpp"

#include <gtest/gtest.h>

namespace xenvhost::control {
namespace {

TEST(DeviceSpec, NullIoIsOffUnlessAsked) {
    auto s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_FALSE(s->null_io);
    s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i,null-io=1");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_TRUE(s->null_io);
    s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i,null-io=off");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_FALSE(s->null_io);
}

TEST(DeviceSpec, NullIoTakesABoolean) {
    auto s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i,null-io=maybe");
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("null-io"), std::string::npos) << s.error().message;
}

TEST(DeviceSpec, IoPathIsAutoOrUring) {
    auto s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_EQ(s->io_path, "auto");
    s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i,io-path=uring");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_EQ(s->io_path, "uring");
    s = parse_device_spec("name=d,socket=/tmp/s,blk-file=/tmp/i,io-path=mmap");
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("io-path 'mmap' (auto or uring)"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace xenvhost::control
