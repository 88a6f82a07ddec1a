// Kafka's murmur2 (the 32-bit MurmurHash2 variant of org.apache.kafka.common.utils.Utils):
// seed 0x9747b28c, m 0x5bd1e995, r 24. Java works on signed bytes and ints; the tail bytes are
// masked with 0xff before mixing, and the 4-byte words are little-endian, so with unsigned
// 32-bit arithmetic (wrapping, as Java's int) the result is bit-identical.

#include <sluice/log/partitioner.h>

namespace sluice::log {

std::int32_t murmur2(bytes_view key) noexcept {
    constexpr std::uint32_t seed = 0x9747b28c;
    constexpr std::uint32_t m = 0x5bd1e995;
    constexpr unsigned r = 24;

    const std::size_t length = key.size();
    // Java: int h = seed ^ length (length as a 32-bit int).
    std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
    const std::size_t words = length / 4;
    const auto byte_at = [&](std::size_t i) { return static_cast<std::uint32_t>(key[i]); };

    for (std::size_t i = 0; i < words; ++i) {
        const std::size_t i4 = i * 4;
        std::uint32_t k = byte_at(i4) | (byte_at(i4 + 1) << 8) | (byte_at(i4 + 2) << 16) |
                          (byte_at(i4 + 3) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }

    const std::size_t tail = length & ~std::size_t{3};
    switch (length % 4) {
        case 3: h ^= byte_at(tail + 2) << 16; [[fallthrough]];
        case 2: h ^= byte_at(tail + 1) << 8; [[fallthrough]];
        case 1:
            h ^= byte_at(tail);
            h *= m;
            break;
        default: break;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<std::int32_t>(h);
}

}  // namespace sluice::log
