// The control channel's line protocol: encoding, command and reply
// parsing, and that garbage never gets through (or crashes).

#include "control/protocol.hpp"

#include <gtest/gtest.h>

#include <random>

namespace xenvhost::control {
namespace {

TEST(ControlProtocol, ValuesRoundTripWhateverTheyHold) {
    for (std::string v : {std::string("/run/xenvhost/dom5/virtio_disk-51712.sock"), std::string("a b=c%d"),
                          std::string("line\nbreak\ttab"), std::string("\xc3\xa9t\xc3\xa9"), std::string(1, '\0'),
                          std::string()}) {
        std::string enc = encode_value(v);
        EXPECT_EQ(enc.find(' '), std::string::npos);
        EXPECT_EQ(enc.find('\n'), std::string::npos);
        EXPECT_EQ(enc.find('='), std::string::npos);
        auto dec = decode_value(enc);
        ASSERT_TRUE(dec.has_value()) << enc;
        EXPECT_EQ(*dec, v);
    }
}

TEST(ControlProtocol, BadEscapesAreRejected) {
    for (auto bad : {"%", "%4", "abc%", "%zz", "%g0", "a=b", "tab\there"}) EXPECT_FALSE(decode_value(bad).has_value()) << bad;
    EXPECT_EQ(decode_value("%41%2f").value(), "A/");
}

TEST(ControlProtocol, AddCommandWithEveryKey) {
    auto cmd = parse_command(
        "add name=virtio_disk-51712 socket=/run/x/dom5/a%20b.sock blk-file=/srv/g.img read-only=1 num-queues=4 "
        "queue-size=128 serial=xvda");
    ASSERT_TRUE(cmd.has_value()) << cmd.error().message;
    auto* add = std::get_if<AddCommand>(&*cmd);
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(add->spec.name, "virtio_disk-51712");
    EXPECT_EQ(add->spec.socket_path, "/run/x/dom5/a b.sock");
    EXPECT_EQ(add->spec.blk_file, "/srv/g.img");
    EXPECT_TRUE(add->spec.read_only);
    EXPECT_EQ(add->spec.num_queues, 4);
    EXPECT_EQ(add->spec.queue_size, 128);
    EXPECT_EQ(add->spec.serial, "xvda");
}

TEST(ControlProtocol, AddDefaultsAndRoundTrip) {
    DeviceSpec spec;
    spec.name = "virtio-0";
    spec.socket_path = "/tmp/with space/s.sock";
    spec.blk_file = "/img=1%";
    auto line = format_command(AddCommand{spec});
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
    auto cmd = parse_command(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(cmd.has_value()) << cmd.error().message;
    auto& back = std::get<AddCommand>(*cmd).spec;
    EXPECT_EQ(back.name, spec.name);
    EXPECT_EQ(back.socket_path, spec.socket_path);
    EXPECT_EQ(back.blk_file, spec.blk_file);
    EXPECT_FALSE(back.read_only);
    EXPECT_EQ(back.num_queues, 1);
    EXPECT_EQ(back.queue_size, 256);
}

TEST(ControlProtocol, MalformedCommandsSayWhy) {
    struct Case {
        const char* line;
        const char* reason;
    };
    for (auto [line, reason] : std::initializer_list<Case>{
             {"", "empty"},
             {"frobnicate", "unknown command"},
             {"add socket=/s blk-file=/f", "missing name"},
             {"add name=a blk-file=/f", "missing socket"},
             {"add name=a socket=/s", "missing blk-file"},
             {"add name=a socket= blk-file=/f", "missing socket"},
             {"add name=a socket=/s blk-file=/f num-queues=0", "num-queues"},
             {"add name=a socket=/s blk-file=/f num-queues=65536", "num-queues"},
             {"add name=a socket=/s blk-file=/f num-queues=-1", "num-queues"},
             {"add name=a socket=/s blk-file=/f num-queues=1x", "num-queues"},
             {"add name=a socket=/s blk-file=/f queue-size=40000", "queue-size"},
             {"add name=a socket=/s blk-file=/f read-only=yes", "read-only"},
             {"add name=a socket=/s blk-file=/f colour=blue", "unknown key"},
             {"add name=a name=b socket=/s blk-file=/f", "duplicate"},
             {"add name=a/b socket=/s blk-file=/f", "characters"},
             {"add name=a  socket=/s blk-file=/f", "empty word"},
             {"add name", "not key=value"},
             {"add =x", "not key=value"},
             {"remove", "missing name"},
             {"remove name=..%2f", "characters"},
             {"status now", "no arguments"},
             {"ping 1", "no arguments"},
         }) {
        auto r = parse_command(line);
        ASSERT_FALSE(r.has_value()) << "accepted: " << line;
        EXPECT_NE(r.error().message.find(reason), std::string::npos) << line << " -> " << r.error().message;
    }
    std::string huge = "ping " + std::string(kMaxLine, 'x');
    EXPECT_FALSE(parse_command(huge).has_value());
    std::string long_name = "remove name=" + std::string(kMaxName + 1, 'n');
    EXPECT_FALSE(parse_command(long_name).has_value());
}

TEST(ControlProtocol, RepliesAndEvents) {
    EXPECT_TRUE(std::holds_alternative<OkReply>(parse_reply("ok").value()));
    EXPECT_TRUE(std::holds_alternative<EndReply>(parse_reply("end").value()));
    auto err = parse_reply("error cannot open /x: No such file");
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(std::get<ErrorReply>(*err).reason, "cannot open /x: No such file");

    DeviceStatus s;
    s.name = "virtio_disk-51712";
    s.socket_path = "/run/a b.sock";
    s.connected = true;
    s.mapping = "grant";
    s.requests = 12345678901ull;
    s.map_calls = 7;
    s.last_error = "bad descriptor\nchain";
    for (bool event : {false, true}) {
        std::string line = event ? format_reply(EventLine{s}) : format_reply(DeviceLine{s});
        EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
        auto r = parse_reply(std::string_view(line).substr(0, line.size() - 1));
        ASSERT_TRUE(r.has_value()) << r.error().message;
        const DeviceStatus& d = event ? std::get<EventLine>(*r).status : std::get<DeviceLine>(*r).status;
        EXPECT_EQ(d.name, s.name);
        EXPECT_EQ(d.socket_path, s.socket_path);
        EXPECT_TRUE(d.connected);
        EXPECT_EQ(d.mapping, "grant");
        EXPECT_EQ(d.requests, s.requests);
        EXPECT_EQ(d.map_calls, 7u);
        EXPECT_EQ(d.last_error, s.last_error);
    }
    // An error reason cannot break the framing.
    auto line = format_reply(ErrorReply{"two\nlines\r"});
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);

    for (auto bad : {"device", "device connected=1", "event device name=a mapping=paged", "event device name=a connected=2",
                     "event name=a", "okay", "device name=a requests=-1", "device name=a requests=99999999999999999999"})
        EXPECT_FALSE(parse_reply(bad).has_value()) << bad;
}

TEST(ControlProtocol, RandomGarbageIsRejectedOrParsedNeverCrashes) {
    std::mt19937 rng(42);
    const std::string alphabet = "adremovstuspingk =%0123456789abcdefxyz/-_.\t\x01\xff";
    for (int i = 0; i < 20000; ++i) {
        std::string line;
        size_t len = rng() % 120;
        for (size_t j = 0; j < len; ++j) line += alphabet[rng() % alphabet.size()];
        if (i % 3 == 0) line = "add " + line;
        if (i % 3 == 1) line = "event device " + line;
        (void)parse_command(line);
        (void)parse_reply(line);
    }
}

}  // namespace
}  // namespace xenvhost::control
