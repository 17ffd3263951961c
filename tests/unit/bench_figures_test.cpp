// The bench's pure parts: /proc parsing, percentiles and medians, and the
// targets' verdicts (the sandbox's cost among them) (tests/bench; no timing here, only arithmetic).

#include "bench/percentile.hpp"
#include "bench/proc.hpp"
#include "bench/targets.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <numeric>
#include <vector>

namespace xenvhost::bench {
namespace {

TEST(ProcStat, UtimeAndStimeAfterTheCommandName) {
    // A command name with spaces and ')' must not shift the fields.
    const char* text =
        "4242 (xen vhost) (w) S 1 4242 4242 0 -1 4194560 1234 0 5 0 731 219 0 0 20 0 3 0 "
        "5000 100000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    auto t = parse_proc_stat(text);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->user, 731u);
    EXPECT_EQ(t->system, 219u);
    EXPECT_EQ(t->total(), 950u);
}

TEST(ProcStat, BadTextIsAClearError) {
    EXPECT_FALSE(parse_proc_stat("").has_value());
    EXPECT_FALSE(parse_proc_stat("12 no-paren S 1 2 3").has_value());
    auto short_line = parse_proc_stat("12 (x) S 1 2 3 4 5\n");
    ASSERT_FALSE(short_line.has_value());
    EXPECT_NE(short_line.error().message.find("ends at field"), std::string::npos);
    auto not_number = parse_proc_stat("12 (x) S 1 2 3 4 5 6 7 8 9 10 abc 7\n");
    ASSERT_FALSE(not_number.has_value());
    EXPECT_NE(not_number.error().message.find("utime"), std::string::npos);
}

TEST(ProcStat, ReadsThisProcess) {
    auto t = read_process_cpu(::getpid());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_FALSE(read_process_cpu(0).has_value());  // there is no /proc/0
}

TEST(ProcStat, TicksToSeconds) {
    const long hz = ::sysconf(_SC_CLK_TCK);
    EXPECT_DOUBLE_EQ(ticks_to_seconds(static_cast<uint64_t>(hz) * 3), 3.0);
}

TEST(ProcStatus, CredentialsNoNewPrivsAndSeccomp) {
    const char* text =
        "Name:\txenvhost-worker\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t4242\n"
        "Uid:\t3950000000\t3950000000\t3950000000\t3950000000\n"
        "Gid:\t3950000001\t3950000001\t3950000001\t3950000001\nGroups:\t\n"
        "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";
    auto c = parse_proc_status(text);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->uid, 3950000000u);
    EXPECT_EQ(c->gid, 3950000001u);
    EXPECT_TRUE(c->no_new_privs);
    EXPECT_EQ(c->seccomp, 2u);
    // The first line counts as a line too.
    auto first = parse_proc_status("Uid:\t5\t5\t5\t5\nGid:\t6\nNoNewPrivs:\t0\nSeccomp:\t0\n");
    ASSERT_TRUE(first.has_value()) << first.error().message;
    EXPECT_EQ(first->uid, 5u);
    EXPECT_FALSE(first->no_new_privs);
}

TEST(ProcStatus, MissingOrBadFieldIsAClearError) {
    auto none = parse_proc_status("Name:\tx\nUid:\t1\nGid:\t1\nNoNewPrivs:\t0\n");
    ASSERT_FALSE(none.has_value());
    EXPECT_NE(none.error().message.find("no Seccomp line"), std::string::npos);
    // "Seccomp_filters:" is not "Seccomp:".
    EXPECT_FALSE(parse_proc_status("Uid:\t1\nGid:\t1\nNoNewPrivs:\t0\nSeccomp_filters:\t1\n").has_value());
    auto bad = parse_proc_status("Uid:\tx\nGid:\t1\nNoNewPrivs:\t0\nSeccomp:\t0\n");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("Uid"), std::string::npos);
    EXPECT_FALSE(parse_proc_status("Uid:\t99999999999\nGid:\t1\nNoNewPrivs:\t0\nSeccomp:\t0\n").has_value());
}

TEST(ProcStatus, ReadsThisProcess) {
    auto c = read_process_credentials(::getpid());
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->uid, ::getuid());
    EXPECT_EQ(c->gid, ::getgid());
}

TEST(LoadAvg, ThreeFieldsOfProcLoadavg) {
    auto l = parse_loadavg("0.52 1.58 10.59 2/345 6789\n");
    ASSERT_TRUE(l.has_value()) << l.error().message;
    EXPECT_EQ(*l, "0.52 1.58 10.59");
    EXPECT_FALSE(parse_loadavg("0.52 x 1\n").has_value());
    EXPECT_FALSE(parse_loadavg("0.52\n").has_value());
}

TEST(Percentile, NearestRank) {
    std::vector<uint32_t> v(100);
    std::iota(v.begin(), v.end(), 1);  // 1..100, shuffled below
    std::reverse(v.begin(), v.end());
    EXPECT_EQ(*percentile(v, 0.50), 50u);
    EXPECT_EQ(*percentile(v, 0.99), 99u);
    EXPECT_EQ(*percentile(v, 1.0), 100u);
    EXPECT_EQ(*percentile(v, 0.001), 1u);
    std::vector<uint32_t> one{7};
    EXPECT_EQ(*percentile(one, 0.5), 7u);
    EXPECT_EQ(*percentile(one, 0.99), 7u);
    std::vector<uint32_t> two{9, 3};
    EXPECT_EQ(*percentile(two, 0.5), 3u);
    EXPECT_EQ(*percentile(two, 0.51), 9u);
}

TEST(Percentile, RefusesNothingAndBadP) {
    std::vector<uint32_t> none;
    EXPECT_FALSE(percentile(none, 0.5).has_value());
    std::vector<uint32_t> v{1, 2};
    EXPECT_FALSE(percentile(v, 0).has_value());
    EXPECT_FALSE(percentile(v, 1.5).has_value());
    EXPECT_FALSE(percentile(v, std::nan("")).has_value());
}

TEST(Median, OddAndEvenCounts) {
    EXPECT_DOUBLE_EQ(*median({5, 1, 3}), 3);
    EXPECT_DOUBLE_EQ(*median({4, 1, 3, 2}), 2.5);
    EXPECT_DOUBLE_EQ(*median({8}), 8);
    EXPECT_FALSE(median({}).has_value());
}

TEST(Targets, RatiosAndVerdicts) {
    Figures worker, null, qsd;
    worker.iops = 210000, null.iops = 280000, qsd.iops = 100000;
    worker.p50_us = 30, qsd.p50_us = 50;
    worker.cpu_us_per_io = 2, qsd.cpu_us_per_io = 5;
    Trio all{&worker, &null, &qsd};

    Target iops{Measure::kIopsVsQsd, 2.0};
    EXPECT_DOUBLE_EQ(*evaluate(iops, all), 2.1);
    EXPECT_TRUE(met(iops, 2.1));
    EXPECT_TRUE(met(iops, 2.0));
    EXPECT_FALSE(met(iops, 1.99));
    EXPECT_EQ(describe(iops), "IOPS >= 2.0x qsd");
    EXPECT_EQ(show(iops, 2.1), "2.10x");

    Target share{Measure::kIopsShareOfNull, 0.7};
    EXPECT_DOUBLE_EQ(*evaluate(share, all), 0.75);
    EXPECT_TRUE(met(share, 0.75));
    EXPECT_EQ(describe(share), "IOPS >= 70% of null");
    EXPECT_EQ(show(share, 0.75), "75%");

    // Latency and CPU: lower is better.
    Target p50{Measure::kP50VsQsd, 0.7};
    EXPECT_DOUBLE_EQ(*evaluate(p50, all), 0.6);
    EXPECT_TRUE(met(p50, 0.6));
    EXPECT_FALSE(met(p50, 0.71));
    Target cpu{Measure::kCpuVsQsd, 0.5};
    EXPECT_DOUBLE_EQ(*evaluate(cpu, all), 0.4);
    EXPECT_TRUE(met(cpu, 0.4));
    EXPECT_FALSE(met(cpu, 0.6));
}

TEST(Targets, MissingBackEndOrFigureGivesNoRatio) {
    Figures worker, qsd;
    worker.iops = 10, qsd.iops = 5;
    EXPECT_FALSE(evaluate({Measure::kIopsShareOfNull, 0.7}, Trio{&worker, nullptr, &qsd}).has_value());
    EXPECT_FALSE(evaluate({Measure::kIopsVsQsd, 2.0}, Trio{&worker, nullptr, nullptr}).has_value());
    EXPECT_FALSE(evaluate({Measure::kIopsVsQsd, 2.0}, Trio{nullptr, nullptr, &qsd}).has_value());
    // CPU not measured (NaN) or a zero denominator: no ratio rather than inf.
    EXPECT_FALSE(evaluate({Measure::kCpuVsQsd, 0.5}, Trio{&worker, nullptr, &qsd}).has_value());
    qsd.p50_us = 0;
    EXPECT_FALSE(evaluate({Measure::kP50VsQsd, 0.7}, Trio{&worker, nullptr, &qsd}).has_value());
}

TEST(Targets, SandboxedAgainstWorker) {
    Figures worker, sandboxed;
    worker.iops = 200000, sandboxed.iops = 194000;
    const Target t{Measure::kSandboxedIopsVsWorker, 0.95};
    Trio f{&worker, nullptr, nullptr, &sandboxed};
    EXPECT_DOUBLE_EQ(*evaluate(t, f), 0.97);
    EXPECT_TRUE(met(t, 0.97));
    EXPECT_TRUE(met(t, 0.95));
    EXPECT_FALSE(met(t, 0.949));
    EXPECT_EQ(describe(t), "sandboxed IOPS >= 0.95x worker");
    EXPECT_EQ(show(t, 0.97), "0.97x");
    // Either one missing: no ratio.
    EXPECT_FALSE(evaluate(t, Trio{&worker, nullptr, nullptr, nullptr}).has_value());
    EXPECT_FALSE(evaluate(t, Trio{nullptr, nullptr, nullptr, &sandboxed}).has_value());
    // The other targets do not look at the sandboxed figures.
    EXPECT_FALSE(evaluate({Measure::kIopsVsQsd, 2.0}, f).has_value());
}

TEST(Targets, VerdictOverEveryWorkloadNamesTheWorst) {
    const Target t{Measure::kSandboxedIopsVsWorker, 0.95};
    EXPECT_EQ(verdict_over_workloads(t, {{"a", 0.99}, {"b", 0.96}, {"c", 1.02}}), "met (worst 0.96x at b)");
    EXPECT_EQ(verdict_over_workloads(t, {{"a", 0.99}, {"b", 0.90}, {"c", 0.94}}),
              "not met (worst 0.90x at b)");
    EXPECT_EQ(verdict_over_workloads(t, {{"a", 0.99}, {"b", std::nullopt}}),
              "met at the 1 measured, 1 not measured (worst 0.99x at a)");
    EXPECT_EQ(verdict_over_workloads(t, {{"a", std::nullopt}}), "not measured (a back-end did not run)");
    EXPECT_EQ(verdict_over_workloads(t, {}), "not measured (a back-end did not run)");
    // Lower-is-better targets: the worst is the highest.
    const Target cpu{Measure::kCpuVsQsd, 0.5};
    EXPECT_EQ(verdict_over_workloads(cpu, {{"a", 0.3}, {"b", 0.6}}), "not met (worst 0.60x at b)");
}

}  // namespace
}  // namespace xenvhost::bench
