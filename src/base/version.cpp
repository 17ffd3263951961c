#include "base/version.hpp"

#ifndef XENVHOST_VERSION
#error "XENVHOST_VERSION comes from the Makefile (the top entry of debian/changelog)"
#endif

namespace xenvhost {

std::string_view version() { return XENVHOST_VERSION; }

std::string version_line(std::string_view program) {
    std::string line(program);
    line += ' ';
    line += version();
    line += '\n';
    return line;
}

}  // namespace xenvhost
