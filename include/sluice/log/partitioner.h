#pragma once
// Kafka's default partitioner: murmur2 of the key bytes (seed 0x9747b28c), made positive
// (& 0x7fffffff), modulo the partition count; so a key lands on the same partition number here
// and in a downstream Kafka topic.

#include <bit>
#include <cstdint>
#include <cstring>

#include <sluice/base/bytes.h>

namespace sluice::log {

// Kafka's murmur2 (the 32-bit MurmurHash2 variant of org.apache.kafka.common.utils.Utils):
// seed 0x9747b28c, m 0x5bd1e995, r 24. Java works on signed bytes and ints; the tail bytes are
// masked with 0xff before mixing, and the 4-byte words are little-endian, so with unsigned
// 32-bit arithmetic (wrapping, as Java's int) the result is bit-identical.
// Inline: the pipeline hashes every keyed event (a call and its argument moves were ~6 of
// its ~30 instructions for a short key).
[[nodiscard]] inline std::int32_t murmur2(bytes_view key) noexcept {
    constexpr std::uint32_t seed = 0x9747b28c;
    constexpr std::uint32_t m = 0x5bd1e995;
    constexpr unsigned r = 24;

    const std::size_t length = key.size();
    // Java: int h = seed ^ length (length as a 32-bit int).
    std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
    const std::byte* p = key.data();
    const std::byte* const words_end = p + (length & ~std::size_t{3});
    for (; p != words_end; p += 4) {
        // One little-endian 32-bit load (GCC does not merge Java's four byte loads into one).
        std::uint32_t k;
        std::memcpy(&k, p, sizeof k);
        if constexpr (std::endian::native == std::endian::big) k = __builtin_bswap32(k);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }

    // Java's switch over the 1..3 tail bytes, without the switch: they form a little-endian
    // word from the first, middle and last byte (for one or two bytes the same byte is or-ed
    // twice into the same place).
    if (const std::size_t tail = length & 3; tail != 0) {
        const auto byte_at = [&](std::size_t i) { return static_cast<std::uint32_t>(p[i]) << (8 * i); };
        h ^= byte_at(0) | byte_at(tail >> 1) | byte_at(tail - 1);
        h *= m;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<std::int32_t>(h);
}

[[nodiscard]] inline std::int32_t partition_for_key(bytes_view key, std::int32_t partitions) noexcept {
    return (murmur2(key) & 0x7fffffff) % partitions;
}

}  // namespace sluice::log
