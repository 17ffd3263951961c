#pragma once
// The project's one version: the top entry of debian/changelog, which is also
// the Debian package's version. The Makefile passes it to version.cpp alone,
// so a new version rebuilds one object.

#include <string>
#include <string_view>

namespace xenvhost {

std::string_view version();

// What --version prints: "PROGRAM VERSION\n".
std::string version_line(std::string_view program);

}  // namespace xenvhost
