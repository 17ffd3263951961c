#pragma once
// Counts heap allocations made through operator new in this test binary
// (every C++ container, shared_ptr, std::function and fmt string goes
// through it), so a test can show that a path allocates nothing.

#include <cstdint>

namespace xenvhost::testing {

// operator new calls of every thread since the program started, except
// those made by code of an ignored library.
uint64_t allocations();

// Stops counting allocations made directly by code of the loaded library
// whose path contains `name` (the Xen mapping double: it stands in for
// libxengnttab and libxenforeignmemory, whose own work is not ours to
// count). False if no such library is loaded.
bool ignore_library(const char* name);

}  // namespace xenvhost::testing
