#pragma once
// The process's private network: a namespace of its own holding only a
// loopback that stays down. The syscall filter refuses socket() and
// connect(), but io_uring can make and connect sockets without either call
// (IORING_OP_SOCKET, IORING_OP_CONNECT), so the filter alone does not keep a
// compromised process off the host's network or its abstract unix sockets;
// this namespace does. Sockets held before keep their own namespace, and
// unix sockets named by a path are found through the file system as before.

#include "base/error.hpp"

namespace xenvhost::sandbox {

// Needs CAP_SYS_ADMIN: call before the credentials drop.
Result<> enter_empty_network();

}  // namespace xenvhost::sandbox
