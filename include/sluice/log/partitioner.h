#pragma once
// Kafka's default partitioner: murmur2 of the key bytes (seed 0x9747b28c), made positive
// (& 0x7fffffff), modulo the partition count; so a key lands on the same partition number here
// and in a downstream Kafka topic.

#include <cstdint>

#include <sluice/base/bytes.h>

namespace sluice::log {

[[nodiscard]] std::int32_t murmur2(bytes_view key) noexcept;

[[nodiscard]] inline std::int32_t partition_for_key(bytes_view key, std::int32_t partitions) noexcept {
    return (murmur2(key) & 0x7fffffff) % partitions;
}

}  // namespace sluice::log
