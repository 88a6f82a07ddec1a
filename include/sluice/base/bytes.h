#pragma once
// Explicit big-endian encode/decode helpers. Never memcpy a struct to disk or wire.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace sluice {

namespace detail {
template <typename U>
constexpr U bswap(U u) noexcept {
    if constexpr (sizeof(U) == 2) return __builtin_bswap16(u);
    else if constexpr (sizeof(U) == 4) return __builtin_bswap32(u);
    else if constexpr (sizeof(U) == 8) return __builtin_bswap64(u);
    else return u;
}
}  // namespace detail

using bytes_view = std::span<const std::byte>;
using mutable_bytes = std::span<std::byte>;

inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

template <typename T>
[[nodiscard]] inline T load_be(const std::byte* p) noexcept {
    static_assert(std::is_integral_v<T>);
    std::make_unsigned_t<T> u;
    std::memcpy(&u, p, sizeof(u));
    if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
        u = detail::bswap(u);
    }
    return static_cast<T>(u);
}

template <typename T>
inline void store_be(std::byte* p, T v) noexcept {
    static_assert(std::is_integral_v<T>);
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
        u = detail::bswap(u);
    }
    std::memcpy(p, &u, sizeof(u));
}

}  // namespace sluice
