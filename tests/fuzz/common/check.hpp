#pragma once
// Oracles of the fuzz targets. A failed check prints what was violated and
// aborts, which libFuzzer records as a crash with the input that caused it.

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                         \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "FUZZ CHECK FAILED at %s:%d: %s\n  %s\n", __FILE__, \
                         __LINE__, #cond, fmt::format(__VA_ARGS__).c_str());          \
            std::abort();                                                             \
        }                                                                             \
    } while (0)
