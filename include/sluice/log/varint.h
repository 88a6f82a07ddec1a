#pragma once
// Variable-length integers as Kafka encodes them: unsigned LEB128 (uvarint, used by the
// flexible protocol versions) and zig-zag signed varints (records inside RecordBatch v2).

#include <cstddef>
#include <cstdint>

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>

namespace sluice::log {

inline constexpr std::size_t varint32_bytes_max = 5;
inline constexpr std::size_t varint64_bytes_max = 10;

[[nodiscard]] constexpr std::uint64_t zigzag_encode(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
[[nodiscard]] constexpr std::int64_t zigzag_decode(std::uint64_t u) noexcept {
    return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
}

[[nodiscard]] constexpr std::size_t uvarint_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}
[[nodiscard]] constexpr std::size_t varint_size(std::int64_t v) noexcept {
    return uvarint_size(zigzag_encode(v));
}

// Writes v at out (which must have uvarint_size(v) bytes); returns the bytes written.
inline std::size_t put_uvarint(std::byte* out, std::uint64_t v) noexcept {
    std::size_t n = 0;
    while (v >= 0x80) {
        out[n++] = static_cast<std::byte>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    out[n++] = static_cast<std::byte>(v);
    return n;
}
inline std::size_t put_varint(std::byte* out, std::int64_t v) noexcept {
    return put_uvarint(out, zigzag_encode(v));
}

// Bounds-checked readers: consume from in[pos..], advance pos. Errors: truncated, bad_varint
// (more bytes than the type allows, or a value that does not fit).
//
// One- and two-byte encodings (every length, delta and count of a small record) are decoded
// inline; longer ones, and every error, go to the out-of-line strict readers (varint.cc), which
// accept exactly the same one- and two-byte encodings. Validating the records of a Produce
// request is most of the Kafka server's per-record cost (see src/kafka/README.md).
namespace detail {
[[nodiscard]] errc get_uvarint64_strict(bytes_view in, std::size_t& pos, std::uint64_t& out) noexcept;
[[nodiscard]] errc get_uvarint32_strict(bytes_view in, std::size_t& pos, std::uint32_t& out) noexcept;

template <typename U>
[[nodiscard]] inline bool get_short_uvarint(bytes_view in, std::size_t& pos, U& out) noexcept {
    if (pos >= in.size()) return false;
    const auto b0 = static_cast<std::uint8_t>(in[pos]);
    if (b0 < 0x80) {
        out = b0;
        pos += 1;
        return true;
    }
    if (in.size() - pos < 2) return false;
    const auto b1 = static_cast<std::uint8_t>(in[pos + 1]);
    if (b1 >= 0x80) return false;
    out = static_cast<U>((b0 & 0x7fu) | (static_cast<unsigned>(b1) << 7));
    pos += 2;
    return true;
}
}  // namespace detail

[[nodiscard]] inline errc get_uvarint64(bytes_view in, std::size_t& pos, std::uint64_t& out) noexcept {
    if (detail::get_short_uvarint(in, pos, out)) return errc::ok;
    return detail::get_uvarint64_strict(in, pos, out);
}
[[nodiscard]] inline errc get_uvarint32(bytes_view in, std::size_t& pos, std::uint32_t& out) noexcept {
    if (detail::get_short_uvarint(in, pos, out)) return errc::ok;
    return detail::get_uvarint32_strict(in, pos, out);
}
[[nodiscard]] inline errc get_varint64(bytes_view in, std::size_t& pos, std::int64_t& out) noexcept {
    std::uint64_t u = 0;
    const errc e = get_uvarint64(in, pos, u);
    if (e == errc::ok) out = zigzag_decode(u);
    return e;
}
[[nodiscard]] inline errc get_varint32(bytes_view in, std::size_t& pos, std::int32_t& out) noexcept {
    std::uint32_t u = 0;
    const errc e = get_uvarint32(in, pos, u);
    if (e == errc::ok) out = static_cast<std::int32_t>((u >> 1) ^ (0u - (u & 1u)));
    return e;
}

}  // namespace sluice::log
