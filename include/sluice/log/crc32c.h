#pragma once
// CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2. Hardware-accelerated (ISA-L).

#include <cstdint>

#include <sluice/base/bytes.h>

namespace sluice::log {

// Standard CRC-32C of `data` (init ~0, final xor ~0): crc32c("123456789") == 0xE3069283.
[[nodiscard]] std::uint32_t crc32c(bytes_view data) noexcept;

// Continues a CRC-32C: crc32c_extend(crc32c(a), b) == crc32c(a ++ b).
[[nodiscard]] std::uint32_t crc32c_extend(std::uint32_t crc, bytes_view data) noexcept;

}  // namespace sluice::log
