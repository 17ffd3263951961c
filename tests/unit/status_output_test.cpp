// xenvhost-status's output: the table people read and the JSON scripts parse.

#include "status/options.hpp"
#include "status/status_output.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace xenvhost::status;

namespace {

DeviceRow served() {
    DeviceRow r;
    r.guest = "web";
    r.domid = 5;
    r.backend = 0;
    r.kind = "virtio_disk";
    r.devid = "51712";
    r.dev = "xvda";
    r.params = "/srv/web.img";
    r.state = "2";
    r.online = "1";
    r.socket = "/run/xenvhost/dom5/virtio_disk-51712.sock";
    r.worker_pid = "2211";
    r.connected = "1";
    r.mapping = "foreign";
    r.transport = "pci 0000:00:10.0 intx A";
    r.restarts = "0";
    return r;
}

}  // namespace

TEST(StatusOutput, StateNames) {
    EXPECT_EQ(state_text("2"), "2 InitWait");
    EXPECT_EQ(state_text("6"), "6 Closed");
    EXPECT_EQ(state_text("9"), "9");
    EXPECT_EQ(state_text("22"), "22");
    EXPECT_EQ(state_text(""), "");
}

TEST(StatusOutput, TableAlignsColumnsAndDashesAbsentKeys) {
    DeviceRow bare;
    bare.domid = 7;
    bare.kind = "virtio";
    bare.devid = "0";
    bare.transport = "none: a PV guest has no MMIO emulation, so no virtio transport";
    std::vector rows = {served(), bare};
    std::string t = format_table(rows, "none");
    std::istringstream in(t);
    std::string header, a, b;
    std::getline(in, header);
    std::getline(in, a);
    std::getline(in, b);
    EXPECT_EQ(header.find("GUEST  DOMID  BACKEND  DEVICE"), 0u) << header;
    EXPECT_EQ(a.find("web    5      0        virtio_disk/51712 (xvda)  2 InitWait  yes"), 0u) << a;
    // Every column starts where its header does.
    EXPECT_EQ(a.find("pci 0000:00:10.0 intx A"), header.find("TRANSPORT"));
    EXPECT_EQ(b.find("-      7      0        virtio/0"), 0u) << b;
    EXPECT_EQ(b.find("none"), header.find("TRANSPORT")) << "a 'none: why' transport is 'none' in the table";
    EXPECT_EQ(b.back(), '-') << "absent error";
}

TEST(StatusOutput, EmptyTableSaysSo) { EXPECT_EQ(format_table({}, "no virtio devices for 9"), "no virtio devices for 9\n"); }

TEST(StatusOutput, ExternalBackendShowsInsteadOfAPid) {
    DeviceRow r = served();
    r.worker_pid.clear();
    r.external_backend = "external /run/vhost/blk.sock";
    std::vector rows = {r};
    EXPECT_NE(format_table(rows, "").find(" external "), std::string::npos);
    auto j = nlohmann::json::parse(format_json(rows, false));
    EXPECT_EQ(j[0]["external_backend"], "/run/vhost/blk.sock");
    EXPECT_TRUE(j[0]["worker_pid"].is_null());
}

TEST(StatusOutput, JsonTypesAndNulls) {
    DeviceRow r = served();
    r.error = "image \"a\\b\".img:\tgone\n";
    r.restarts = "";
    std::vector rows = {r};
    auto j = nlohmann::json::parse(format_json(rows, false));
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["domid"], 5);
    EXPECT_EQ(j[0]["devid"], 51712);
    EXPECT_EQ(j[0]["state"], 2);
    EXPECT_EQ(j[0]["state_name"], "InitWait");
    EXPECT_EQ(j[0]["online"], true);
    EXPECT_EQ(j[0]["connected"], true);
    EXPECT_EQ(j[0]["worker_pid"], 2211);
    EXPECT_TRUE(j[0]["restarts"].is_null());
    EXPECT_EQ(j[0]["error"], "image \"a\\b\".img:gone") << "quotes survive, control characters are dropped";
    auto ordered = nlohmann::ordered_json::parse(format_json(rows, false));
    EXPECT_EQ(ordered[0].begin().key(), "guest") << "keys keep their documented order";
}

TEST(StatusOutput, JsonCountersAreNumbersByName) {
    DeviceRow r = served();
    r.counters = "requests=120 map-calls=4 copy-segments=300 bogus x=-1 =5 Y=2 copy-calls=7";
    std::vector rows = {r};
    auto j = nlohmann::json::parse(format_json(rows, false));
    auto& c = j[0]["counters"];
    EXPECT_EQ(c["requests"], 120);
    EXPECT_EQ(c["map_calls"], 4);
    EXPECT_EQ(c["copy_segments"], 300);
    EXPECT_EQ(c["copy_calls"], 7);
    EXPECT_EQ(c.size(), 4u) << "pairs that are not name=digits are left out: " << c.dump();
    r.counters = "";
    rows = {r};
    EXPECT_TRUE(nlohmann::json::parse(format_json(rows, false))[0]["counters"].is_null());
}

TEST(StatusOutput, JsonOfHostileKeysStaysJson) {
    DeviceRow r = served();
    r.guest = std::string("\xff\xfe", 2);  // not UTF-8
    r.worker_pid = "12x";                  // not a number: a string
    r.connected = "maybe";
    std::vector rows = {r};
    auto j = nlohmann::json::parse(format_json(rows, true));
    EXPECT_EQ(j[0]["worker_pid"], "12x");
    EXPECT_EQ(j[0]["connected"], "maybe");
    EXPECT_TRUE(j[0]["guest"].is_string());
}

TEST(StatusOutput, CompactJsonIsOneLine) {
    std::vector rows = {served(), served()};
    std::string s = format_json(rows, true);
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
    EXPECT_EQ(format_json({}, true), "[]\n");
    EXPECT_EQ(format_json({}, false), "[]\n");
}

TEST(StatusSelection, DomidsAndNames) {
    Selection all;
    EXPECT_TRUE(selected(all, 3, "x"));
    Selection s{.backend = std::nullopt, .guests = {"5", "db"}};
    EXPECT_TRUE(selected(s, 5, "web"));
    EXPECT_TRUE(selected(s, 9, "db"));
    EXPECT_FALSE(selected(s, 6, "web"));
    EXPECT_FALSE(selected(s, 6, "")) << "an unreadable name matches no name";
}

TEST(StatusOptions, ParsesAndRefuses) {
    const char* ok[] = {"xenvhost-status", "-j", "--watch", "-b", "3", "web", "7"};
    auto o = parse_options(7, ok);
    ASSERT_TRUE(std::holds_alternative<Options>(o));
    const auto& opts = std::get<Options>(o);
    EXPECT_TRUE(opts.json);
    EXPECT_TRUE(opts.watch);
    EXPECT_EQ(opts.selection.backend, 3u);
    EXPECT_EQ(opts.selection.guests, (std::vector<std::string>{"web", "7"}));

    for (const char* bad : {"x", "", "-1", "3x", "99999"}) {
        const char* argv[] = {"xenvhost-status", "--backend", bad};
        auto r = parse_options(3, argv);
        ASSERT_TRUE(std::holds_alternative<Exit>(r)) << bad;
        EXPECT_EQ(std::get<Exit>(r).status, 2);
        EXPECT_NE(std::get<Exit>(r).text.find("--backend must be a domid"), std::string::npos) << bad;
    }
    const char* unknown[] = {"xenvhost-status", "--frobnicate"};
    auto u = parse_options(2, unknown);
    ASSERT_TRUE(std::holds_alternative<Exit>(u));
    EXPECT_EQ(std::get<Exit>(u).status, 2);
    const char* help[] = {"xenvhost-status", "--help"};
    auto h = parse_options(2, help);
    ASSERT_TRUE(std::holds_alternative<Exit>(h));
    EXPECT_EQ(std::get<Exit>(h).status, 0);
    EXPECT_NE(std::get<Exit>(h).text.find("--watch"), std::string::npos);
}
