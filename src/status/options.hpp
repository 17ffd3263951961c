#pragma once
// xenvhost-status's command line.

#include "status/status_reader.hpp"

#include <string>
#include <variant>

namespace xenvhost::status {

struct Options {
    Selection selection;
    bool json = false;
    bool watch = false;
};

// What parsing decided: run with these options, or print this text and
// exit with this status (--help: 0; bad usage: 2).
struct Exit {
    int status;
    std::string text;
};

std::variant<Options, Exit> parse_options(int argc, const char* const* argv);

}  // namespace xenvhost::status
