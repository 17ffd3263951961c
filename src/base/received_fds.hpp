#pragma once
// The fds an SCM_RIGHTS control message brought with a recvmsg: handed to
// the caller one by one, so that each is owned before anything else is
// looked at (an fd left in the message would leak).

#include <sys/socket.h>

#include <cstring>

namespace xenvhost {

template <typename Take>
void take_received_fds(msghdr& msg, Take&& take) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            take(fd);
        }
    }
}

}  // namespace xenvhost
