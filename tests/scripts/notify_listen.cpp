// notify-listen: plays systemd's side of Type=notify for the scripts level.
// Binds a unix datagram socket at PATH, prints every message it receives,
// and exits 0 once one of them contains READY=1, or 1 after SECONDS.
//
//   notify-listen PATH SECONDS

#include "base/unique_fd.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fputs("usage: notify-listen PATH SECONDS\n", stderr);
        return 2;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(argv[1]) >= sizeof addr.sun_path) {
        std::fprintf(stderr, "notify-listen: path too long: %s\n", argv[1]);
        return 2;
    }
    std::strcpy(addr.sun_path, argv[1]);
    xenvhost::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "notify-listen: %s: %s\n", argv[1], std::strerror(errno));
        return 1;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[2]));
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            std::fputs("notify-listen: no READY=1\n", stderr);
            return 1;
        }
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::string_view msg(buf, static_cast<size_t>(n));
        std::printf("%.*s\n", static_cast<int>(msg.size()), msg.data());
        std::fflush(stdout);
        // A message is newline-separated assignments.
        for (size_t pos = 0; pos <= msg.size();) {
            size_t nl = msg.find('\n', pos);
            if (msg.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos) == "READY=1") return 0;
            if (nl == std::string_view::npos) break;
            pos = nl + 1;
        }
    }
}
