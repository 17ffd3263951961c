#pragma once
// The line protocol between xenvhostd and the control socket of each process
// it runs (the worker today). Framing in control/codec.hpp, commands in
// control/commands.hpp, replies and events in control/replies.hpp.
//
//   daemon -> worker                                  worker -> daemon
//   add name=N socket=P blk-file=F [read-only=0|1]    ok | error <reason>
//       [num-queues=N] [queue-size=N] [serial=S]
//       [blk-fd=1] [socket-fd=1]   the image, then the listening socket, come
//                                  with the line as SCM_RIGHTS fds (the worker
//                                  then opens and binds nothing itself)
//   remove name=N                                     ok | error <reason>
//   status                                            device <fields>... then end
//   ping                                              ok
//   (unsolicited, at any time between replies)        event device <fields>
//
//   <fields>: name= socket= connected=0|1 mapping=none|mmap|grant|foreign
//             requests= map-calls= unmap-calls= pages-mapped= map-failures= last-error=
//
// Replies come in request order; event lines may appear between them.

#include "control/codec.hpp"
#include "control/commands.hpp"
#include "control/replies.hpp"
