#pragma once
// Tier 1 of sluice's error model: bugs. SLUICE_ASSERT is always on (release builds too) and
// traps with file, line, the failed condition and an optional formatted message.

#include <cstdio>
#include <cstdlib>

namespace sluice::detail {
[[noreturn]] void assert_fail(const char* file, int line, const char* cond, const char* msg) noexcept;
}  // namespace sluice::detail

#define SLUICE_ASSERT(cond, ...)                                                         \
    do {                                                                                 \
        if (!(cond)) [[unlikely]] {                                                      \
            ::sluice::detail::assert_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);    \
        }                                                                                \
    } while (0)
