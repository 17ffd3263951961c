// The bench's back-end names: what --only accepts, the default set, and the
// sandboxed worker left out (by default) or refused (when asked for) when the
// bench is not root.

#include "bench/backend_set.hpp"

#include <gtest/gtest.h>

namespace xenvhost::bench {
namespace {

using Names = std::vector<std::string>;

TEST(BenchBackends, ParsesNamesInTheGivenOrder) {
    auto n = parse_backends("qsd,sandboxed,worker");
    ASSERT_TRUE(n.has_value()) << n.error().message;
    EXPECT_EQ(*n, (Names{"qsd", "sandboxed", "worker"}));
    EXPECT_EQ(*parse_backends("null"), Names{"null"});
}

TEST(BenchBackends, UnknownRepeatedOrEmptyNamesAreClearErrors) {
    auto unknown = parse_backends("worker,sandbox");
    ASSERT_FALSE(unknown.has_value());
    EXPECT_NE(unknown.error().message.find("'sandbox' is not a back-end"), std::string::npos);
    auto twice = parse_backends("sandboxed,null,sandboxed");
    ASSERT_FALSE(twice.has_value());
    EXPECT_NE(twice.error().message.find("'sandboxed' is given twice"), std::string::npos);
    EXPECT_FALSE(parse_backends("").has_value());
    EXPECT_FALSE(parse_backends("worker,").has_value());
    EXPECT_FALSE(parse_backends(",worker").has_value());
}

TEST(BenchBackends, DefaultSetAsRootHasAllFiveSandboxedAfterTheWorkers) {
    auto s = choose_backends({}, true);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_EQ(s->names, (Names{"worker", "uring", "sandboxed", "null", "qsd"}));
    EXPECT_TRUE(s->skipped.empty());
}

TEST(BenchBackends, DefaultSetNotRootSkipsSandboxedAndSaysWhy) {
    auto s = choose_backends({}, false);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_EQ(s->names, (Names{"worker", "uring", "null", "qsd"}));
    ASSERT_EQ(s->skipped.size(), 1u);
    EXPECT_NE(s->skipped[0].find("sandboxed needs root"), std::string::npos);
}

TEST(BenchBackends, AskedForSandboxedNotRootIsAnError) {
    auto s = choose_backends({"worker", "sandboxed"}, false);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("needs root"), std::string::npos);
    // As root, or without sandboxed, the request stands as given.
    EXPECT_EQ(choose_backends({"sandboxed", "worker"}, true)->names, (Names{"sandboxed", "worker"}));
    auto plain = choose_backends({"qsd", "worker"}, false);
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->names, (Names{"qsd", "worker"}));
    EXPECT_TRUE(plain->skipped.empty());
}

}  // namespace
}  // namespace xenvhost::bench
