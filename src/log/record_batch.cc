// Kafka RecordBatch v2 codec: header decode, full validation, in-place stamping, record
// iteration and a zero-allocation builder. Every read of outside input is bounds-checked; all
// offset/timestamp additions on decoded values wrap (as Java's long) instead of overflowing.

#include <sluice/log/record_batch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <sluice/base/assert.h>
#include <sluice/log/crc32c.h>
#include <sluice/log/varint.h>

namespace sluice::log {
namespace {

// Smallest possible record body: attributes, timestamp delta, offset delta, key length,
// value length, headers count (one byte each).
constexpr std::size_t record_body_bytes_min = 6;

constexpr std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
constexpr std::int64_t wrapping_sub(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

// Reads a length-prefixed byte string (length -1 = null when `nullable`) from in[pos..].
errc get_bytes(bytes_view in, std::size_t& pos, bool nullable,
               std::optional<bytes_view>& out) noexcept {
    std::int32_t len = 0;
    if (get_varint32(in, pos, len) != errc::ok) return errc::bad_record;
    if (len == -1 && nullable) {
        out = std::nullopt;
        return errc::ok;
    }
    if (len < 0) return errc::bad_record;
    const auto n = static_cast<std::size_t>(len);
    if (n > in.size() - pos) return errc::bad_record;
    out = in.subspan(pos, n);
    pos += n;
    return errc::ok;
}

errc get_header(bytes_view headers, std::size_t& pos, record_header_view& out) noexcept {
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    std::size_t p = pos;
    if (errc e = get_bytes(headers, p, false, key); e != errc::ok) return e;
    if (errc e = get_bytes(headers, p, true, value); e != errc::ok) return e;
    out.key = as_chars(*key);
    out.value = value;
    pos = p;
    return errc::ok;
}

// Decodes the record starting at records[pos]; on success advances pos past it and fills `out`
// with deltas (timestamp delta in out.timestamp, offset delta in out.offset). Errors:
// bad_record (inconsistent record), truncated (the record runs past records.end() and
// `complete` says the batch itself is cut short).
errc decode_record(bytes_view records, std::size_t& pos, bool complete, record_view& out) noexcept {
    std::size_t p = pos;
    std::int32_t len = 0;
    if (errc e = get_varint32(records, p, len); e != errc::ok) {
        return (e == errc::truncated && !complete) ? errc::truncated : errc::bad_record;
    }
    if (len < static_cast<std::int32_t>(record_body_bytes_min)) return errc::bad_record;
    if (static_cast<std::size_t>(len) > records.size() - p) {
        return complete ? errc::bad_record : errc::truncated;
    }
    const bytes_view rec = records.subspan(p, static_cast<std::size_t>(len));
    std::size_t r = 0;

    out.attributes = static_cast<std::int8_t>(rec[r++]);
    std::int64_t ts_delta = 0;
    std::int32_t offset_delta = 0;
    if (get_varint64(rec, r, ts_delta) != errc::ok) return errc::bad_record;
    if (get_varint32(rec, r, offset_delta) != errc::ok) return errc::bad_record;
    if (errc e = get_bytes(rec, r, true, out.key); e != errc::ok) return e;
    if (errc e = get_bytes(rec, r, true, out.value); e != errc::ok) return e;
    std::int32_t headers_count = 0;
    if (get_varint32(rec, r, headers_count) != errc::ok) return errc::bad_record;
    if (headers_count < 0) return errc::bad_record;
    const bytes_view headers = rec.subspan(r);
    // Each header takes at least two bytes: reject impossible counts before walking.
    if (static_cast<std::size_t>(headers_count) > headers.size() / 2) return errc::bad_record;
    std::size_t h = 0;
    for (std::int32_t i = 0; i < headers_count; ++i) {
        record_header_view hv;
        if (errc e = get_header(headers, h, hv); e != errc::ok) return e;
    }
    if (h != headers.size()) return errc::bad_record;  // bytes left inside the record

    out.timestamp = ts_delta;
    out.offset = offset_delta;
    out.headers_count = headers_count;
    out.headers = headers;
    pos = p + static_cast<std::size_t>(len);
    return errc::ok;
}

}  // namespace

result<batch_header> decode_batch_header(bytes_view in) noexcept {
    if (in.size() < batch_offset::crc) return errc::truncated;
    const std::byte* b = in.data();
    batch_header h;
    h.magic = static_cast<std::int8_t>(b[batch_offset::magic]);
    if (h.magic != record_batch_magic) return errc::bad_magic;
    h.length = load_be<std::int32_t>(b + batch_offset::length);
    if (h.length < static_cast<std::int32_t>(batch_header_bytes - log_overhead_bytes) ||
        h.length > batch_bytes_max) {
        return errc::bad_length;
    }
    if (in.size() < batch_header_bytes) return errc::truncated;
    h.base_offset = load_be<std::int64_t>(b + batch_offset::base_offset);
    h.partition_leader_epoch = load_be<std::int32_t>(b + batch_offset::partition_leader_epoch);
    h.crc = load_be<std::uint32_t>(b + batch_offset::crc);
    h.attributes = load_be<std::int16_t>(b + batch_offset::attributes);
    h.last_offset_delta = load_be<std::int32_t>(b + batch_offset::last_offset_delta);
    h.base_timestamp = load_be<std::int64_t>(b + batch_offset::base_timestamp);
    h.max_timestamp = load_be<std::int64_t>(b + batch_offset::max_timestamp);
    h.producer_id = load_be<std::int64_t>(b + batch_offset::producer_id);
    h.producer_epoch = load_be<std::int16_t>(b + batch_offset::producer_epoch);
    h.base_sequence = load_be<std::int32_t>(b + batch_offset::base_sequence);
    h.records_count = load_be<std::int32_t>(b + batch_offset::records_count);
    if (h.records_count < 0 || h.last_offset_delta < 0) return errc::bad_record;
    return h;
}

errc validate_batch(bytes_view in, batch_header* header) noexcept {
    auto decoded = decode_batch_header(in);
    if (!decoded) return decoded.error();
    const batch_header& h = *decoded;
    const std::size_t total = h.total_bytes();
    if (in.size() < total) return errc::truncated;
    const bytes_view batch = in.first(total);
    if (crc32c(batch.subspan(crc_start_bytes)) != h.crc) return errc::bad_crc;

    if (h.codec() == compression::none) {
        const bytes_view records = batch.subspan(batch_header_bytes);
        std::size_t pos = 0;
        for (std::int32_t i = 0; i < h.records_count; ++i) {
            record_view rv;
            if (decode_record(records, pos, true, rv) != errc::ok) return errc::bad_record;
            if (rv.offset != i) return errc::bad_record;
        }
        if (pos != records.size()) return errc::bad_record;
        if (h.last_offset_delta != h.records_count - 1) return errc::bad_record;
    }
    if (header != nullptr) *header = h;
    return errc::ok;
}

void stamp_batch(mutable_bytes batch, std::int64_t base_offset, std::int32_t leader_epoch) noexcept {
    SLUICE_ASSERT(batch.size() >= batch_offset::magic, "batch too short to stamp");
    store_be(batch.data() + batch_offset::base_offset, base_offset);
    store_be(batch.data() + batch_offset::partition_leader_epoch, leader_epoch);
}

record_iterator::record_iterator(bytes_view batch) noexcept {
    auto decoded = decode_batch_header(batch);
    if (!decoded) {
        _state = decoded.error();
        return;
    }
    _header = *decoded;
    if (_header.codec() != compression::none) {
        _state = errc::unsupported;
        return;
    }
    _batch = batch.first(std::min(batch.size(), _header.total_bytes()));
}

errc record_iterator::next(record_view& out) noexcept {
    if (_state != errc::ok) return _state;
    if (_index >= _header.records_count) return errc::not_found;
    const bytes_view records = _batch.subspan(batch_header_bytes);
    const bool complete = _batch.size() == _header.total_bytes();
    std::size_t pos = _pos - batch_header_bytes;
    record_view rv;
    if (errc e = decode_record(records, pos, complete, rv); e != errc::ok) {
        _state = e;
        return e;
    }
    if (rv.offset != _index) {
        _state = errc::bad_record;
        return _state;
    }
    rv.timestamp = wrapping_add(_header.base_timestamp, rv.timestamp);
    rv.offset = wrapping_add(_header.base_offset, rv.offset);
    out = rv;
    _pos = batch_header_bytes + pos;
    ++_index;
    return errc::ok;
}

errc record_iterator::next_header(bytes_view headers, std::size_t& pos,
                                  record_header_view& out) noexcept {
    if (pos >= headers.size()) return errc::not_found;
    return get_header(headers, pos, out);
}

// ---- builder ----

namespace {

// Bytes of the zig-zag varint of v (as varint_size, without its loop): ceil(bits / 7) for
// 1..64 significant bits is (bits * 9 + 64) / 64.
constexpr std::size_t varint_bytes(std::int64_t v) noexcept {
    const auto bits = static_cast<std::size_t>(std::bit_width(zigzag_encode(v) | 1));
    return (bits * 9 + 64) >> 6;
}

// put_uvarint with the one- and two-byte encodings (every delta, count and length of a small
// record) inline; returns one past the last byte written.
inline std::byte* put_uvarint_fast(std::byte* p, std::uint64_t u) noexcept {
    if (u < 0x80) {
        *p = static_cast<std::byte>(u);
        return p + 1;
    }
    if (u < 0x4000) {
        p[0] = static_cast<std::byte>(u | 0x80);
        p[1] = static_cast<std::byte>(u >> 7);
        return p + 2;
    }
    return p + put_uvarint(p, u);
}
inline std::byte* put_varint_fast(std::byte* p, std::int64_t v) noexcept {
    return put_uvarint_fast(p, zigzag_encode(v));
}
// A length or count (>= 0, < 2^63): its zig-zag encoding is a shift, without the sign mask.
inline std::byte* put_count_fast(std::byte* p, std::uint64_t n) noexcept {
    return put_uvarint_fast(p, n << 1);
}

// Writes the length varint of the record body that sits at start + 2 (written there before its
// length was known) in front of it, moving the body when the length takes other than two bytes
// (bodies under 64 or over 8191 bytes); returns the record's bytes.
inline std::size_t put_length_in_front(std::byte* start, std::size_t body) noexcept {
    const std::uint64_t u = std::uint64_t{body} << 1;  // zig-zag of a length >= 0
    if (u - 0x80 < 0x4000 - 0x80) [[likely]] {
        start[0] = static_cast<std::byte>(u | 0x80);
        start[1] = static_cast<std::byte>(u >> 7);
        return 2 + body;
    }
    const std::size_t len_bytes = varint_bytes(static_cast<std::int64_t>(body));
    std::memmove(start + len_bytes, start + 2, body);
    put_varint_fast(start, static_cast<std::int64_t>(body));
    return len_bytes + body;
}

std::size_t bytes_field_size(std::optional<bytes_view> b) noexcept {
    if (!b) return 1;  // varint(-1)
    return varint_bytes(static_cast<std::int64_t>(b->size())) + b->size();
}

// 32 bytes, one unaligned AVX load and store (x86-64-v3 is the build's baseline). A plain
// 32-byte memcpy compiles to two 16-byte moves through a stack temporary with GCC 12, and
// _mm256_loadu_si256's __m256i (32-byte aligned type) made GCC realign the stack of every
// function that copies; a byte-aligned vector type does neither.
using bytes32_unaligned [[gnu::vector_size(32), gnu::aligned(1), gnu::may_alias]] = char;
inline void copy32(std::byte* dst, const std::byte* src) noexcept {
    *reinterpret_cast<bytes32_unaligned*>(dst) = *reinterpret_cast<const bytes32_unaligned*>(src);
}

// memcpy (the ranges do not overlap) with the copies up to 128 bytes (keys, header names and
// values, the pipeline's ~100-byte events) inline: overlapping pieces, all within
// [dst, dst + n) and [src, src + n).
inline void copy_bytes(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
    if (n > 32) {
        if (n > 128) {
            std::memcpy(dst, src, n);
            return;
        }
        copy32(dst, src);
        if (n > 64) {
            copy32(dst + 32, src + 32);
            copy32(dst + n - 64, src + n - 64);
        }
        copy32(dst + n - 32, src + n - 32);
    } else if (n > 16) {
        std::uint64_t a[2], b[2];
        std::memcpy(a, src, 16);
        std::memcpy(b, src + n - 16, 16);
        std::memcpy(dst, a, 16);
        std::memcpy(dst + n - 16, b, 16);
    } else if (n >= 8) {
        std::uint64_t a, b;
        std::memcpy(&a, src, 8);
        std::memcpy(&b, src + n - 8, 8);
        std::memcpy(dst, &a, 8);
        std::memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, src, 4);
        std::memcpy(&b, src + n - 4, 4);
        std::memcpy(dst, &a, 4);
        std::memcpy(dst + n - 4, &b, 4);
    } else if (n != 0) {
        const std::byte first = src[0], mid = src[n / 2], last = src[n - 1];
        dst[0] = first;
        dst[n / 2] = mid;
        dst[n - 1] = last;
    }
}

std::size_t record_body_size(std::int64_t timestamp_delta, std::int32_t offset_delta,
                             std::optional<bytes_view> key, std::optional<bytes_view> value,
                             std::span<const record_header> headers) noexcept {
    std::size_t n = 1;  // attributes
    n += varint_bytes(timestamp_delta);
    n += varint_bytes(offset_delta);
    n += bytes_field_size(key);
    n += bytes_field_size(value);
    n += varint_bytes(static_cast<std::int64_t>(headers.size()));
    for (const record_header& h : headers) {
        n += bytes_field_size(as_bytes(h.key));
        n += bytes_field_size(h.value);
    }
    return n;
}

// A length-prefixed field (zig-zag varint length, then the bytes): `bytes` = -1 for null.
using field_ref = record_field;
constexpr field_ref field_of(std::optional<bytes_view> b) noexcept {
    return b ? field_ref{b->data(), static_cast<std::int64_t>(b->size())} : field_ref{nullptr, -1};
}
inline std::byte* put_field(std::byte* p, field_ref f) noexcept {
    p = put_varint_fast(p, f.bytes);
    if (f.bytes <= 0) return p;
    copy_bytes(p, f.data, static_cast<std::size_t>(f.bytes));
    return p + f.bytes;
}
// put_field for keys, which are mostly short (ids, a few digits): 1..3 bytes tested first.
inline std::byte* put_key_field(std::byte* p, field_ref f) noexcept {
    p = put_varint_fast(p, f.bytes);
    if (f.bytes < 4) {
        if (f.bytes <= 0) return p;
        const auto n = static_cast<std::size_t>(f.bytes);
        const std::byte first = f.data[0], mid = f.data[n / 2], last = f.data[n - 1];
        p[0] = first;
        p[n / 2] = mid;
        p[n - 1] = last;
        return p + n;
    }
    copy_bytes(p, f.data, static_cast<std::size_t>(f.bytes));
    return p + f.bytes;
}

// Writes the record body (attributes to the last header) at p; returns one past its end.
[[gnu::always_inline]] inline std::byte* put_record_body(
    std::byte* p, std::int64_t ts_delta, std::int32_t offset_delta, field_ref key,
    field_ref value, std::span<const record_header> headers) noexcept {
    *p++ = std::byte{0};  // record attributes
    p = put_varint_fast(p, ts_delta);
    p = put_count_fast(p, static_cast<std::uint32_t>(offset_delta));
    p = put_field(p, key);
    p = put_field(p, value);
    p = put_count_fast(p, headers.size());
    for (const record_header& h : headers) {
        p = put_field(p, field_ref{reinterpret_cast<const std::byte*>(h.key.data()),
                                   static_cast<std::int64_t>(h.key.size())});
        p = put_field(p, field_of(h.value));
    }
    return p;
}

// Writes the body of a record whose headers are pre-encoded in `tail` (attributes to the end
// of the tail) at p; returns one past its end. Same bytes as put_record_body with those headers.
// With `tail_slack`, 32 bytes past the record's end may be written (the one-pass path's bound
// leaves them): a tail of up to 32 bytes is copied as one 32-byte piece (record_tail's storage
// has bytes_max >= 32 bytes, zeroed).
template <bool tail_slack>
[[gnu::always_inline]] inline std::byte* put_tail_record_body(std::byte* p, std::int64_t ts_delta,
                                                              std::int32_t offset_delta,
                                                              field_ref key, bytes_view value,
                                                              bytes_view tail) noexcept {
    static_assert(record_tail::bytes_max >= 32);
    *p++ = std::byte{0};  // record attributes
    p = put_varint_fast(p, ts_delta);
    p = put_count_fast(p, static_cast<std::uint32_t>(offset_delta));
    p = put_key_field(p, key);
    // The value's length: two bytes (64..8191, events) tested first.
    if (const std::uint64_t u = std::uint64_t{value.size()} << 1; u - 0x80 < 0x4000 - 0x80) {
        p[0] = static_cast<std::byte>(u | 0x80);
        p[1] = static_cast<std::byte>(u >> 7);
        p += 2;
    } else {
        p = put_uvarint_fast(p, u);
    }
    copy_bytes(p, value.data(), value.size());
    p += value.size();
    if constexpr (tail_slack) {
        if (tail.size() <= 32) [[likely]] {
            copy32(p, tail.data());
            return p + tail.size();
        }
    }
    copy_bytes(p, tail.data(), tail.size());
    return p + tail.size();
}

}  // namespace

bool record_tail::assign(std::span<const record_header> headers) noexcept {
    std::size_t n = varint_bytes(static_cast<std::int64_t>(headers.size()));
    for (const record_header& h : headers) {
        // Checked one at a time so the sum cannot overflow.
        if (h.key.size() > bytes_max || (h.value && h.value->size() > bytes_max)) return false;
        n += bytes_field_size(as_bytes(h.key)) + bytes_field_size(h.value);
        if (n > bytes_max) return false;
    }
    std::byte* p = put_varint_fast(_bytes.data(), static_cast<std::int64_t>(headers.size()));
    for (const record_header& h : headers) {
        p = put_field(p, field_ref{reinterpret_cast<const std::byte*>(h.key.data()),
                                   static_cast<std::int64_t>(h.key.size())});
        p = put_field(p, field_of(h.value));
    }
    SLUICE_ASSERT(static_cast<std::size_t>(p - _bytes.data()) == n, "record tail size mismatch");
    _size = static_cast<std::uint32_t>(n);
    return true;
}

std::size_t batch_builder::record_bytes(std::int64_t timestamp_delta, std::int32_t offset_delta,
                                        std::optional<bytes_view> key,
                                        std::optional<bytes_view> value,
                                        std::span<const record_header> headers) noexcept {
    const std::size_t body = record_body_size(timestamp_delta, offset_delta, key, value, headers);
    return varint_bytes(static_cast<std::int64_t>(body)) + body;
}

void batch_builder::reset(mutable_bytes buffer) noexcept {
    _buf = buffer;
    _limit = std::min(buffer.size(), static_cast<std::size_t>(batch_bytes_max) + log_overhead_bytes);
    _pos = batch_header_bytes;
    _count = 0;
    _base_timestamp = 0;
    _max_timestamp = 0;
}

bool batch_builder::append(std::int64_t timestamp_ms, std::optional<bytes_view> key,
                           std::optional<bytes_view> value,
                           std::span<const record_header> headers) noexcept {
    if (_count == std::numeric_limits<std::int32_t>::max()) return false;
    const std::int64_t base = _count == 0 ? timestamp_ms : _base_timestamp;
    const std::int64_t ts_delta = wrapping_sub(timestamp_ms, base);
    const std::int32_t offset_delta = _count;

    // Bound every field before summing so the size arithmetic cannot overflow, and keep the
    // batch within what decode_batch_header accepts.
    constexpr auto field_max = static_cast<std::size_t>(batch_bytes_max);
    const std::size_t key_bytes = key ? key->size() : 0;
    const std::size_t value_bytes = value ? value->size() : 0;
    if (key_bytes > field_max || value_bytes > field_max || headers.size() > field_max) {
        return false;
    }
    // Upper bound of the record: every varint at its longest.
    std::size_t bound = varint64_bytes_max + 1 + varint64_bytes_max + 4 * varint32_bytes_max +
                        key_bytes + value_bytes;
    for (const record_header& h : headers) {
        const std::size_t hv = h.value ? h.value->size() : 0;
        if (h.key.size() > field_max || hv > field_max) return false;
        bound += 2 * varint32_bytes_max + h.key.size() + hv;
    }
    if (_pos > _buf.size()) return false;
    const std::size_t room = _buf.size() - _pos;
    std::byte* const start = _buf.data() + _pos;
    std::size_t need;
    if (bound <= room && _pos + bound - log_overhead_bytes <= field_max) [[likely]] {
        // Encode once, the body two bytes in (its length varint for bodies of 64..8191 bytes),
        // then write the length in front; another length size moves the body (small or large
        // records only).
        std::byte* const body_at = start + 2;
        const auto body = static_cast<std::size_t>(
            put_record_body(body_at, ts_delta, offset_delta, field_of(key), field_of(value),
                            headers) -
            body_at);
        need = put_length_in_front(start, body);
    } else {
        // Near the end of the buffer: exact size first, so nothing is written if it does not fit.
        const std::size_t body = record_body_size(ts_delta, offset_delta, key, value, headers);
        need = varint_bytes(static_cast<std::int64_t>(body)) + body;
        if (need > field_max || need > room) return false;
        if (_pos + need - log_overhead_bytes > field_max) return false;
        std::byte* const body_at = put_varint_fast(start, static_cast<std::int64_t>(body));
        const std::byte* const end = put_record_body(body_at, ts_delta, offset_delta,
                                                     field_of(key), field_of(value), headers);
        SLUICE_ASSERT(static_cast<std::size_t>(end - start) == need, "record size mismatch");
    }
    commit(timestamp_ms, need);
    return true;
}

const record_tail batch_builder::empty_tail{};

bool batch_builder::append(std::int64_t timestamp_ms, record_field key, bytes_view value,
                           const record_tail& tail) noexcept {
    return append_tail(timestamp_ms, key, value, tail);
}

bool batch_builder::append(std::int64_t timestamp_ms, record_field key, bytes_view value) noexcept {
    return append_tail(timestamp_ms, key, value, *_tail);
}

inline bool batch_builder::append_tail(std::int64_t timestamp_ms, record_field key,
                                       bytes_view value, const record_tail& tail) noexcept {
    // As the general append above: the same checks, with the headers' part of the bound known
    // (tail.size_bytes() <= record_tail::bytes_max), and _limit = min(buffer size, the batch
    // Length limit + 12) for both room checks.
    // No test of _count against INT32_MAX: every record takes at least 7 bytes of a batch whose
    // Length is at most batch_bytes_max, so _count stays far below it.
    static_assert((static_cast<std::uint64_t>(batch_bytes_max) + log_overhead_bytes) / 7 <
                  static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()));
    // A key or value over field_max, or a key length below -1, cannot make a record that fits
    // (a record's need is more than either length), and refusing them here bounds the sums
    // below. One test for both: field_max is a power of two, so (k | v) > field_max iff one of
    // them is over it or one equals it and the other is not 0 (their sum is over it then too).
    constexpr auto field_max = static_cast<std::size_t>(batch_bytes_max);
    static_assert(std::has_single_bit(field_max));
    const auto key_plus_1 = static_cast<std::uint64_t>(key.bytes) + 1;  // 0: null
    if ((key_plus_1 | value.size()) > field_max) return false;
    const std::size_t key_bytes = key_plus_1 == 0 ? 0 : key_plus_1 - 1;
    const field_ref key_field = key;  // bytes >= -1 now

    // Upper bound: length, attributes, timestamp delta, offset delta, key and value lengths at
    // their longest, and 32 bytes of slack for the tail's copy.
    const std::size_t bound = varint32_bytes_max + 1 + varint64_bytes_max + 3 * varint32_bytes_max +
                              key_bytes + value.size() + tail.size_bytes() + 32;
    if (_pos + bound > _limit) [[unlikely]] {
        return append_exact(timestamp_ms, key_field, key_bytes, value, tail);
    }
    // One pass, the body two bytes in (see the general append). It cannot fail now, so the
    // timestamps are updated first, with one test of the first record.
    std::int64_t ts_delta = 0;
    if (_count != 0) [[likely]] {
        ts_delta = wrapping_sub(timestamp_ms, _base_timestamp);
        _max_timestamp = std::max(_max_timestamp, timestamp_ms);
    } else {
        _base_timestamp = timestamp_ms;
        _max_timestamp = timestamp_ms;
    }
    std::byte* const start = _buf.data() + _pos;
    std::byte* const body_at = start + 2;
    const auto body = static_cast<std::size_t>(
        put_tail_record_body<true>(body_at, ts_delta, _count, key_field, value, tail.bytes()) -
        body_at);
    _pos += put_length_in_front(start, body);
    ++_count;
    return true;
}

bool batch_builder::append_exact(std::int64_t timestamp_ms, record_field key,
                                 std::size_t key_bytes, bytes_view value,
                                 const record_tail& tail) noexcept {
    // Near the end of the buffer: the exact size first, so nothing changes if it does not fit.
    if (_pos > _limit) return false;
    const std::int64_t base = _count == 0 ? timestamp_ms : _base_timestamp;
    const std::int64_t ts_delta = wrapping_sub(timestamp_ms, base);
    const std::size_t body = 1 + varint_bytes(ts_delta) + varint_bytes(_count) +
                             varint_bytes(key.bytes) + key_bytes +
                             varint_bytes(static_cast<std::int64_t>(value.size())) + value.size() +
                             tail.size_bytes();
    const std::size_t need = varint_bytes(static_cast<std::int64_t>(body)) + body;
    if (need > _limit - _pos) return false;
    std::byte* const start = _buf.data() + _pos;
    std::byte* const body_at = put_varint_fast(start, static_cast<std::int64_t>(body));
    const std::byte* const end =
        put_tail_record_body<false>(body_at, ts_delta, _count, key, value, tail.bytes());
    SLUICE_ASSERT(static_cast<std::size_t>(end - start) == need, "record size mismatch");
    commit(timestamp_ms, need);
    return true;
}

mutable_bytes batch_builder::finish() noexcept {
    SLUICE_ASSERT(_count > 0, "finish() on an empty batch_builder");
    std::byte* const b = _buf.data();
    store_be(b + batch_offset::base_offset, std::int64_t{0});
    store_be(b + batch_offset::length, static_cast<std::int32_t>(_pos - log_overhead_bytes));
    store_be(b + batch_offset::partition_leader_epoch, std::int32_t{-1});
    b[batch_offset::magic] = static_cast<std::byte>(record_batch_magic);
    store_be(b + batch_offset::attributes, std::int16_t{0});
    store_be(b + batch_offset::last_offset_delta, _count - 1);
    store_be(b + batch_offset::base_timestamp, _base_timestamp);
    store_be(b + batch_offset::max_timestamp, _max_timestamp);
    store_be(b + batch_offset::producer_id, std::int64_t{-1});
    store_be(b + batch_offset::producer_epoch, std::int16_t{-1});
    store_be(b + batch_offset::base_sequence, std::int32_t{-1});
    store_be(b + batch_offset::records_count, _count);
    const mutable_bytes batch = _buf.first(_pos);
    store_be(b + batch_offset::crc, crc32c(bytes_view(batch).subspan(crc_start_bytes)));
    return batch;
}

}  // namespace sluice::log
