#include "base/error.hpp"

namespace xenvhost {

std::string_view kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::kInternal: return "internal";
        case ErrorKind::kGuestFault: return "guest fault";
        case ErrorKind::kMapFailure: return "mapping failure";
        case ErrorKind::kPolicy: return "refused by policy";
        case ErrorKind::kIo: return "I/O error";
        case ErrorKind::kProtocol: return "protocol error";
        case ErrorKind::kPeerGone: return "peer gone";
    }
    return "unknown";
}

}  // namespace xenvhost
