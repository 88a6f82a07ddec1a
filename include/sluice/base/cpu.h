#pragma once
// Start-up check that the CPU provides the ISA baseline the binary was compiled for.

#include <string>

namespace sluice {

// Returns an empty string when the CPU supports the compiled baseline, else the names of the
// missing features (e.g. "avx2 bmi2").
[[nodiscard]] std::string missing_isa_features();

}  // namespace sluice
