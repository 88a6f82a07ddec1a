#include <sluice/base/assert.h>

namespace sluice::detail {

void assert_fail(const char* file, int line, const char* cond, const char* msg) noexcept {
    std::fprintf(stderr, "sluice: assertion failed at %s:%d: %s%s%s\n", file, line, cond,
                 msg[0] ? ": " : "", msg);
    std::fflush(stderr);
    __builtin_trap();
}

}  // namespace sluice::detail
