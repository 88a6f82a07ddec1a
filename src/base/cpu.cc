#include <sluice/base/cpu.h>

namespace sluice {

std::string missing_isa_features() {
    std::string missing;
    __builtin_cpu_init();
    auto need = [&](bool have, const char* name) {
        if (!have) {
            if (!missing.empty()) missing += ' ';
            missing += name;
        }
    };
#if defined(__SSE4_2__)
    need(__builtin_cpu_supports("sse4.2"), "sse4.2");
#endif
#if defined(__AVX2__)
    need(__builtin_cpu_supports("avx2"), "avx2");
#endif
#if defined(__BMI2__)
    need(__builtin_cpu_supports("bmi2"), "bmi2");
#endif
#if defined(__FMA__)
    need(__builtin_cpu_supports("fma"), "fma");
#endif
#if defined(__AVX512F__)
    need(__builtin_cpu_supports("avx512f"), "avx512f");
#endif
    return missing;
}

}  // namespace sluice
