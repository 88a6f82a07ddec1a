#pragma once
// Kafka protocol primitives: a bounds-checked reader and an appending writer for both the classic
// encodings (int16/int32 length prefixes) and the flexible ones of KIP-482 (unsigned varint N+1
// lengths, tagged-field sections). Every read of outside input goes through `reader`, which has a
// sticky error: after the first failure every further read returns a zero value and ok() is false.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>

namespace sluice::kafka {

class reader {
public:
    explicit reader(bytes_view in) noexcept : _in(in) {}

    [[nodiscard]] bool ok() const noexcept { return _err == errc::ok; }
    [[nodiscard]] errc error() const noexcept { return _err; }
    [[nodiscard]] std::size_t position() const noexcept { return _pos; }
    [[nodiscard]] std::size_t remaining() const noexcept { return _in.size() - _pos; }
    [[nodiscard]] bytes_view rest() const noexcept { return _in.subspan(_pos); }
    void fail(errc e) noexcept {
        if (_err == errc::ok) _err = e;
        _pos = _in.size();
    }

    [[nodiscard]] std::int8_t i8() noexcept { return fixed<std::int8_t>(); }
    [[nodiscard]] std::int16_t i16() noexcept { return fixed<std::int16_t>(); }
    [[nodiscard]] std::int32_t i32() noexcept { return fixed<std::int32_t>(); }
    [[nodiscard]] std::int64_t i64() noexcept { return fixed<std::int64_t>(); }
    [[nodiscard]] bool boolean() noexcept { return fixed<std::int8_t>() != 0; }
    [[nodiscard]] std::uint32_t uvarint() noexcept;

    // STRING (int16 length; -1 is an error here) / NULLABLE_STRING.
    [[nodiscard]] std::string_view string() noexcept;
    [[nodiscard]] std::optional<std::string_view> nullable_string() noexcept;
    // COMPACT_STRING / COMPACT_NULLABLE_STRING.
    [[nodiscard]] std::string_view compact_string() noexcept;
    [[nodiscard]] std::optional<std::string_view> compact_nullable_string() noexcept;
    // Flexible or classic, by flag.
    [[nodiscard]] std::string_view string(bool flexible) noexcept {
        return flexible ? compact_string() : string();
    }
    [[nodiscard]] std::optional<std::string_view> nullable_string(bool flexible) noexcept {
        return flexible ? compact_nullable_string() : nullable_string();
    }
    // BYTES/NULLABLE_BYTES (int32 length) and the compact forms; nullopt = null.
    [[nodiscard]] std::optional<bytes_view> nullable_bytes() noexcept;
    [[nodiscard]] std::optional<bytes_view> compact_nullable_bytes() noexcept;
    [[nodiscard]] bytes_view bytes() noexcept;
    // Array element count: -1 = null. A count that cannot fit in the remaining input (every
    // element takes at least `min_element_bytes`) is an error, so callers may reserve() it.
    [[nodiscard]] std::int32_t array_len(std::size_t min_element_bytes = 1) noexcept;
    [[nodiscard]] std::int32_t compact_array_len(std::size_t min_element_bytes = 1) noexcept;
    [[nodiscard]] std::int32_t array_len_for(bool flexible, std::size_t min_element_bytes = 1) noexcept {
        return flexible ? compact_array_len(min_element_bytes) : array_len(min_element_bytes);
    }
    // Skips a tagged-field section (count, then tag/size/bytes per field).
    void skip_tags() noexcept;
    void skip(std::size_t n) noexcept;

private:
    template <typename T>
    T fixed() noexcept {
        if (remaining() < sizeof(T)) {
            fail(errc::truncated);
            return T{};
        }
        T v = load_be<T>(_in.data() + _pos);
        _pos += sizeof(T);
        return v;
    }
    std::string_view take_chars(std::size_t n) noexcept;

    bytes_view _in;
    std::size_t _pos = 0;
    errc _err = errc::ok;
};

// Appends to a caller-owned byte vector.
class writer {
public:
    explicit writer(std::vector<std::byte>& out) noexcept : _out(out) {}

    [[nodiscard]] std::size_t size() const noexcept { return _out.size(); }
    [[nodiscard]] std::vector<std::byte>& buffer() noexcept { return _out; }

    void i8(std::int8_t v) { fixed(v); }
    void i16(std::int16_t v) { fixed(v); }
    void i32(std::int32_t v) { fixed(v); }
    void i64(std::int64_t v) { fixed(v); }
    void boolean(bool v) { fixed(static_cast<std::int8_t>(v ? 1 : 0)); }
    void uvarint(std::uint64_t v);

    void string(std::string_view s);
    void nullable_string(std::optional<std::string_view> s);
    void compact_string(std::string_view s);
    void compact_nullable_string(std::optional<std::string_view> s);
    void string(std::string_view s, bool flexible) { flexible ? compact_string(s) : string(s); }
    void nullable_string(std::optional<std::string_view> s, bool flexible) {
        flexible ? compact_nullable_string(s) : nullable_string(s);
    }
    void bytes(bytes_view b);
    void nullable_bytes(std::optional<bytes_view> b);
    void compact_bytes(bytes_view b);
    void array_len(std::int32_t n) { i32(n); }
    void compact_array_len(std::int32_t n) { uvarint(n < 0 ? 0 : static_cast<std::uint64_t>(n) + 1); }
    void array_len(std::int32_t n, bool flexible) { flexible ? compact_array_len(n) : array_len(n); }
    // An empty tagged-field section.
    void empty_tags() { uvarint(0); }
    void raw(bytes_view b);

    // Reserves an int32 to be filled in later (lengths of nested sections).
    [[nodiscard]] std::size_t reserve_i32() {
        std::size_t at = _out.size();
        i32(0);
        return at;
    }
    void patch_i32(std::size_t at, std::int32_t v) noexcept { store_be(_out.data() + at, v); }

private:
    template <typename T>
    void fixed(T v) {
        std::size_t at = _out.size();
        _out.resize(at + sizeof(T));
        store_be(_out.data() + at, v);
    }
    std::vector<std::byte>& _out;
};

}  // namespace sluice::kafka
