#pragma once
// Which back-ends a run drives, and in what order: the names --only accepts,
// the default set, and what happens to `sandboxed` (the worker behind its
// deprivilege, which only root can start) when the bench is not root.

#include "base/error.hpp"

#include <string>
#include <vector>

namespace xenvhost::bench {

// Every name, in the default order.
inline const std::vector<std::string> kAllBackends = {"worker", "uring", "sandboxed", "null", "qsd"};

struct BackendSet {
    std::vector<std::string> names;  // to run, in this order
    std::vector<std::string> skipped;  // left out of the default set, with why
};

// "worker,qsd" -> {"worker", "qsd"}; an error names an unknown, repeated or
// empty name.
Result<std::vector<std::string>> parse_backends(const std::string& text);

// The back-ends to run: `requested` (--only) or else the default set. A
// default `sandboxed` is skipped when not root; an asked-for one is an error,
// since the comparison asked for cannot be made.
Result<BackendSet> choose_backends(const std::vector<std::string>& requested, bool root);

}  // namespace xenvhost::bench
