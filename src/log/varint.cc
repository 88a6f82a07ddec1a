// Strict LEB128 readers. A uvarint32 takes at most 5 bytes and its 5th byte may only carry the
// top 4 bits of the value (0x00..0x0f); a uvarint64 takes at most 10 bytes and its 10th byte may
// only be 0x00 or 0x01. Anything longer or larger is bad_varint; running out of input first is
// truncated. Overlong-but-in-range encodings (e.g. 0x80 0x00 for 0) are accepted only within the
// byte limit, as Kafka's ByteUtils does.

#include <sluice/log/varint.h>

namespace sluice::log {
namespace {

template <std::size_t BytesMax, unsigned Bits>
errc get_unsigned(bytes_view in, std::size_t& pos, std::uint64_t& out) noexcept {
    std::uint64_t v = 0;
    std::size_t p = pos;
    for (std::size_t i = 0; i < BytesMax; ++i) {
        if (p >= in.size()) return errc::truncated;
        const auto b = static_cast<std::uint8_t>(in[p++]);
        const unsigned shift = static_cast<unsigned>(7 * i);
        if (i == BytesMax - 1) {
            // Last permitted byte: no continuation bit, and only the bits left in the type.
            const unsigned bits_left = Bits - shift;
            if ((b & 0x80) != 0 || (b >> bits_left) != 0) return errc::bad_varint;
        }
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            out = v;
            pos = p;
            return errc::ok;
        }
    }
    return errc::bad_varint;  // not reached: the last byte either ends or is rejected above
}

}  // namespace

namespace detail {

errc get_uvarint64_strict(bytes_view in, std::size_t& pos, std::uint64_t& out) noexcept {
    return get_unsigned<varint64_bytes_max, 64>(in, pos, out);
}

errc get_uvarint32_strict(bytes_view in, std::size_t& pos, std::uint32_t& out) noexcept {
    std::uint64_t v = 0;
    const errc e = get_unsigned<varint32_bytes_max, 32>(in, pos, v);
    if (e == errc::ok) out = static_cast<std::uint32_t>(v);
    return e;
}

}  // namespace detail

}  // namespace sluice::log
