// Kafka protocol primitives; see include/sluice/kafka/codec.h.

#include <sluice/kafka/codec.h>

#include <cstring>
#include <limits>

namespace sluice::kafka {

std::uint32_t reader::uvarint() noexcept {
    std::uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (remaining() < 1) {
            fail(errc::truncated);
            return 0;
        }
        auto b = static_cast<std::uint8_t>(_in[_pos++]);
        if (shift == 28 && (b & 0xf0) != 0) {
            fail(errc::bad_varint);
            return 0;
        }
        v |= static_cast<std::uint32_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) return v;
    }
    fail(errc::bad_varint);
    return 0;
}

std::string_view reader::take_chars(std::size_t n) noexcept {
    if (remaining() < n) {
        fail(errc::truncated);
        return {};
    }
    std::string_view s(reinterpret_cast<const char*>(_in.data() + _pos), n);
    _pos += n;
    return s;
}

std::string_view reader::string() noexcept {
    std::int16_t n = i16();
    if (n < 0) {
        fail(errc::bad_length);
        return {};
    }
    return take_chars(static_cast<std::size_t>(n));
}

std::optional<std::string_view> reader::nullable_string() noexcept {
    std::int16_t n = i16();
    if (!ok()) return std::nullopt;
    if (n == -1) return std::nullopt;
    if (n < 0) {
        fail(errc::bad_length);
        return std::nullopt;
    }
    return take_chars(static_cast<std::size_t>(n));
}

std::string_view reader::compact_string() noexcept {
    std::uint32_t n = uvarint();
    if (!ok()) return {};
    if (n == 0) {
        fail(errc::bad_length);
        return {};
    }
    return take_chars(n - 1);
}

std::optional<std::string_view> reader::compact_nullable_string() noexcept {
    std::uint32_t n = uvarint();
    if (!ok() || n == 0) return std::nullopt;
    return take_chars(n - 1);
}

std::optional<bytes_view> reader::nullable_bytes() noexcept {
    std::int32_t n = i32();
    if (!ok() || n == -1) return std::nullopt;
    if (n < 0 || static_cast<std::size_t>(n) > remaining()) {
        fail(n < 0 ? errc::bad_length : errc::truncated);
        return std::nullopt;
    }
    bytes_view b = _in.subspan(_pos, static_cast<std::size_t>(n));
    _pos += static_cast<std::size_t>(n);
    return b;
}

std::optional<bytes_view> reader::compact_nullable_bytes() noexcept {
    std::uint32_t n = uvarint();
    if (!ok() || n == 0) return std::nullopt;
    if (n - 1 > remaining()) {
        fail(errc::truncated);
        return std::nullopt;
    }
    bytes_view b = _in.subspan(_pos, n - 1);
    _pos += n - 1;
    return b;
}

bytes_view reader::bytes() noexcept {
    auto b = nullable_bytes();
    if (!ok()) return {};
    if (!b) {
        fail(errc::bad_length);
        return {};
    }
    return *b;
}

std::int32_t reader::array_len(std::size_t min_element_bytes) noexcept {
    std::int32_t n = i32();
    if (!ok()) return 0;
    if (n == -1) return -1;
    if (n < 0) {
        fail(errc::bad_length);
        return 0;
    }
    if (min_element_bytes > 0 && static_cast<std::size_t>(n) > remaining() / min_element_bytes) {
        fail(errc::truncated);
        return 0;
    }
    return n;
}

std::int32_t reader::compact_array_len(std::size_t min_element_bytes) noexcept {
    std::uint32_t n = uvarint();
    if (!ok()) return 0;
    if (n == 0) return -1;
    std::uint32_t count = n - 1;
    if (count > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
        fail(errc::bad_length);
        return 0;
    }
    if (min_element_bytes > 0 && count > remaining() / min_element_bytes) {
        fail(errc::truncated);
        return 0;
    }
    return static_cast<std::int32_t>(count);
}

void reader::skip(std::size_t n) noexcept {
    if (remaining() < n) {
        fail(errc::truncated);
        return;
    }
    _pos += n;
}

void reader::skip_tags() noexcept {
    std::uint32_t count = uvarint();
    for (std::uint32_t i = 0; i < count && ok(); ++i) {
        (void)uvarint();  // tag
        std::uint32_t size = uvarint();
        skip(size);
    }
}

void writer::uvarint(std::uint64_t v) {
    while (v >= 0x80) {
        _out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    _out.push_back(static_cast<std::byte>(v));
}

void writer::raw(bytes_view b) { _out.insert(_out.end(), b.begin(), b.end()); }

void writer::string(std::string_view s) {
    i16(static_cast<std::int16_t>(s.size()));
    raw(as_bytes(s));
}

void writer::nullable_string(std::optional<std::string_view> s) {
    if (!s) {
        i16(-1);
        return;
    }
    string(*s);
}

void writer::compact_string(std::string_view s) {
    uvarint(s.size() + 1);
    raw(as_bytes(s));
}

void writer::compact_nullable_string(std::optional<std::string_view> s) {
    if (!s) {
        uvarint(0);
        return;
    }
    compact_string(*s);
}

void writer::bytes(bytes_view b) {
    i32(static_cast<std::int32_t>(b.size()));
    raw(b);
}

void writer::nullable_bytes(std::optional<bytes_view> b) {
    if (!b) {
        i32(-1);
        return;
    }
    bytes(*b);
}

void writer::compact_bytes(bytes_view b) {
    uvarint(b.size() + 1);
    raw(b);
}

}  // namespace sluice::kafka
