#pragma once
// Tier 2 of sluice's error model: expected data-path failures, returned as values.

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class errc : std::uint8_t {
    ok = 0,
    truncated,          // input shorter than its own length fields say
    bad_length,         // negative, zero or oversize length field
    bad_magic,          // RecordBatch magic != 2
    bad_crc,            // CRC32C mismatch
    bad_varint,         // varint longer than its type allows
    bad_record,         // record fields inconsistent with the batch header
    too_large,          // exceeds a configured bound
    full,               // bounded queue or buffer has no room (backpressure)
    not_found,          // unknown topic, partition or offset
    out_of_range,       // offset outside [log start, high watermark]
    io_error,           // EIO or other storage failure
    no_space,           // ENOSPC
    closed,             // component shut down
    invalid_argument,
    not_json,           // malformed JSON
    not_object,         // valid JSON but not an object
    missing_field,      // required field absent or null
    bad_timestamp,
    unsupported,
};

[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::ok: return "ok";
        case errc::truncated: return "truncated";
        case errc::bad_length: return "bad_length";
        case errc::bad_magic: return "bad_magic";
        case errc::bad_crc: return "bad_crc";
        case errc::bad_varint: return "bad_varint";
        case errc::bad_record: return "bad_record";
        case errc::too_large: return "too_large";
        case errc::full: return "full";
        case errc::not_found: return "not_found";
        case errc::out_of_range: return "out_of_range";
        case errc::io_error: return "io_error";
        case errc::no_space: return "no_space";
        case errc::closed: return "closed";
        case errc::invalid_argument: return "invalid_argument";
        case errc::not_json: return "not_json";
        case errc::not_object: return "not_object";
        case errc::missing_field: return "missing_field";
        case errc::bad_timestamp: return "bad_timestamp";
        case errc::unsupported: return "unsupported";
    }
    return "unknown";
}

// A value or an errc. Small, noexcept, no exceptions involved.
template <typename T>
class [[nodiscard]] result {
public:
    result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit
        : _v(std::in_place_index<0>, std::move(value)) {}
    result(errc e) noexcept : _v(std::in_place_index<1>, e) {}  // NOLINT: implicit

    [[nodiscard]] bool ok() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    [[nodiscard]] errc error() const noexcept { return ok() ? errc::ok : std::get<1>(_v); }
    [[nodiscard]] T& value() & noexcept { return std::get<0>(_v); }
    [[nodiscard]] const T& value() const& noexcept { return std::get<0>(_v); }
    [[nodiscard]] T&& value() && noexcept { return std::get<0>(std::move(_v)); }
    T* operator->() noexcept { return &value(); }
    const T* operator->() const noexcept { return &value(); }
    T& operator*() & noexcept { return value(); }
    const T& operator*() const& noexcept { return value(); }

private:
    std::variant<T, errc> _v;
};

}  // namespace sluice
