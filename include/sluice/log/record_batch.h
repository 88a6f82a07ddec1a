#pragma once
// Kafka RecordBatch v2 (magic 2), byte for byte. Layout (offsets in bytes, big-endian):
//   0 BaseOffset i64 | 8 Length i32 | 12 PartitionLeaderEpoch i32 | 16 Magic i8 | 17 CRC u32
//  21 Attributes i16 | 23 LastOffsetDelta i32 | 27 BaseTimestamp i64 | 35 MaxTimestamp i64
//  43 ProducerId i64 | 51 ProducerEpoch i16 | 53 BaseSequence i32 | 57 RecordsCount i32 | 61 records
// CRC-32C covers bytes [21, end), so BaseOffset and PartitionLeaderEpoch can be stamped after the
// batch was built and checksummed.
// Record: Length varint | Attributes i8 | TimestampDelta varlong | OffsetDelta varint |
//   KeyLength varint | Key | ValueLength varint | Value | HeadersCount varint |
//   [HeaderKeyLength varint | HeaderKey | HeaderValueLength varint | HeaderValue]...
// (zig-zag varints; length -1 = null).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>
#include <sluice/base/types.h>

namespace sluice::log {

inline constexpr std::size_t batch_header_bytes = 61;
inline constexpr std::size_t log_overhead_bytes = 12;  // BaseOffset + Length
inline constexpr std::size_t crc_start_bytes = 21;
inline constexpr std::int8_t record_batch_magic = 2;
// Upper bound on one batch (Length field); Kafka's default message.max.bytes is ~1 MiB, we
// accept up to 16 MiB on read so stored data never becomes unreadable.
inline constexpr std::int32_t batch_bytes_max = 16 * 1024 * 1024;

namespace batch_offset {
inline constexpr std::size_t base_offset = 0;
inline constexpr std::size_t length = 8;
inline constexpr std::size_t partition_leader_epoch = 12;
inline constexpr std::size_t magic = 16;
inline constexpr std::size_t crc = 17;
inline constexpr std::size_t attributes = 21;
inline constexpr std::size_t last_offset_delta = 23;
inline constexpr std::size_t base_timestamp = 27;
inline constexpr std::size_t max_timestamp = 35;
inline constexpr std::size_t producer_id = 43;
inline constexpr std::size_t producer_epoch = 51;
inline constexpr std::size_t base_sequence = 53;
inline constexpr std::size_t records_count = 57;
inline constexpr std::size_t records = 61;
}  // namespace batch_offset

enum class compression : std::uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

inline constexpr std::int16_t attr_compression_mask = 0x07;
inline constexpr std::int16_t attr_log_append_time = 0x08;
inline constexpr std::int16_t attr_transactional = 0x10;
inline constexpr std::int16_t attr_control = 0x20;

struct batch_header {
    std::int64_t base_offset = 0;
    std::int32_t length = 0;  // bytes after the Length field
    std::int32_t partition_leader_epoch = -1;
    std::int8_t magic = record_batch_magic;
    std::uint32_t crc = 0;
    std::int16_t attributes = 0;
    std::int32_t last_offset_delta = 0;
    std::int64_t base_timestamp = 0;
    std::int64_t max_timestamp = 0;
    std::int64_t producer_id = -1;
    std::int16_t producer_epoch = -1;
    std::int32_t base_sequence = -1;
    std::int32_t records_count = 0;

    [[nodiscard]] std::size_t total_bytes() const noexcept {
        return log_overhead_bytes + static_cast<std::size_t>(length);
    }
    [[nodiscard]] std::int64_t last_offset() const noexcept { return base_offset + last_offset_delta; }
    [[nodiscard]] std::int64_t next_offset() const noexcept { return last_offset() + 1; }
    [[nodiscard]] compression codec() const noexcept {
        return static_cast<compression>(attributes & attr_compression_mask);
    }
};

// Decodes the 61-byte header at the start of `in`. Checks, in order: at least 17 bytes
// (truncated), magic == 2 (bad_magic), Length in [49, batch_bytes_max] (bad_length), at least
// 61 bytes (truncated), RecordsCount >= 0 and LastOffsetDelta >= 0 (bad_record). Does not require
// the whole batch to be present and does not check the CRC.
[[nodiscard]] result<batch_header> decode_batch_header(bytes_view in) noexcept;

// Full check of one batch that starts at in[0]: header as above, the whole batch present
// (truncated), CRC-32C over [21, end) (bad_crc), and for uncompressed batches every record
// decodes, RecordsCount matches, offset deltas are 0..n-1 and LastOffsetDelta == n-1 and
// nothing is left over (bad_record). Compressed batches are checked up to the CRC only.
// On success `header` (if given) receives the decoded header.
[[nodiscard]] errc validate_batch(bytes_view in, batch_header* header = nullptr) noexcept;

// Overwrites BaseOffset and PartitionLeaderEpoch in place (outside the CRC).
void stamp_batch(mutable_bytes batch, std::int64_t base_offset, std::int32_t leader_epoch) noexcept;

struct record_header_view {
    std::string_view key;
    std::optional<bytes_view> value;  // nullopt = null
};

struct record_view {
    std::int8_t attributes = 0;
    std::int64_t timestamp = 0;     // base timestamp + delta
    std::int64_t offset = 0;        // base offset + delta
    std::optional<bytes_view> key;  // nullopt = null
    std::optional<bytes_view> value;
    std::int32_t headers_count = 0;
    bytes_view headers;  // raw header bytes; iterate with record_iterator::next_header
};

// Iterates the records of one uncompressed batch. The batch must have passed validate_batch or
// decode_batch_header; every read is bounds-checked regardless.
class record_iterator {
public:
    explicit record_iterator(bytes_view batch) noexcept;
    // Returns ok and fills `out`, or not_found at the end, or a decode error.
    [[nodiscard]] errc next(record_view& out) noexcept;
    // Decodes the next header from rec.headers (advancing `pos`).
    [[nodiscard]] static errc next_header(bytes_view headers, std::size_t& pos,
                                          record_header_view& out) noexcept;

private:
    bytes_view _batch;
    batch_header _header;
    std::size_t _pos = batch_header_bytes;
    std::int32_t _index = 0;
    errc _state = errc::ok;
};

struct record_header {
    std::string_view key;
    std::optional<bytes_view> value;
};

// A nullable byte string as two words (passed in registers, unlike std::optional<bytes_view>):
// `bytes` = -1 for null, else the length of [data, data + bytes).
struct record_field {
    const std::byte* data = nullptr;
    std::int64_t bytes = -1;

    [[nodiscard]] static constexpr record_field null() noexcept { return {}; }
    [[nodiscard]] static record_field of(bytes_view b) noexcept {
        return {b.data(), static_cast<std::int64_t>(b.size())};
    }
};

// The end of a record that many records share, encoded once: HeadersCount and the headers
// (the pipeline's "src" header is the same for every event of a datagram, and mostly for
// every datagram of a sender). Default: no headers (the one byte of HeadersCount 0).
class record_tail {
public:
    // Room for the encoding; headers that need more are refused by assign().
    static constexpr std::size_t bytes_max = 256;

    record_tail() noexcept = default;
    // Encodes `headers`; returns false (and leaves the tail unchanged) when they take more than
    // bytes_max bytes.
    [[nodiscard]] bool assign(std::span<const record_header> headers) noexcept;
    [[nodiscard]] bytes_view bytes() const noexcept { return {_bytes.data(), _size}; }
    [[nodiscard]] std::size_t size_bytes() const noexcept { return _size; }

private:
    std::uint32_t _size = 1;
    std::array<std::byte, bytes_max> _bytes{};  // zeroed: the builder may copy past _size
};

// Builds one uncompressed batch directly into a caller-provided buffer; no allocation.
// The batch is finished (lengths, counts, timestamps, CRC) by finish(); BaseOffset is 0 and
// PartitionLeaderEpoch -1 until the log stamps them.
class batch_builder {
public:
    batch_builder() noexcept = default;
    explicit batch_builder(mutable_bytes buffer) noexcept { reset(buffer); }

    void reset(mutable_bytes buffer) noexcept;
    // Appends one record; returns false (and changes nothing) when it does not fit.
    [[nodiscard]] bool append(std::int64_t timestamp_ms, std::optional<bytes_view> key,
                              std::optional<bytes_view> value,
                              std::span<const record_header> headers = {}) noexcept;
    // The same record as append(timestamp_ms, key, value, headers) with `tail` encoding those
    // headers, byte for byte, without walking the headers (the pipeline's path: one value, an
    // optional key, a tail shared by many records).
    [[nodiscard]] bool append(std::int64_t timestamp_ms, record_field key, bytes_view value,
                              const record_tail& tail) noexcept;
    // The same with the tail given once by bind_tail (the pipeline: every record of a core ends
    // in one per-core record_tail object, whose bytes change with the sender). One argument
    // fewer: with the tail the arguments were seven, the last went through the stack and the
    // callee set up a frame for it (~10 instructions per record).
    void bind_tail(const record_tail& tail) noexcept { _tail = &tail; }
    [[nodiscard]] bool append(std::int64_t timestamp_ms, record_field key,
                              bytes_view value) noexcept;
    // Bytes the record would take inside the batch, including its length varint.
    [[nodiscard]] static std::size_t record_bytes(std::int64_t timestamp_delta,
                                                  std::int32_t offset_delta,
                                                  std::optional<bytes_view> key,
                                                  std::optional<bytes_view> value,
                                                  std::span<const record_header> headers) noexcept;
    [[nodiscard]] std::int32_t records() const noexcept { return _count; }
    [[nodiscard]] bool empty() const noexcept { return _count == 0; }
    [[nodiscard]] std::size_t size_bytes() const noexcept { return _pos; }
    [[nodiscard]] std::size_t capacity_bytes() const noexcept { return _buf.size(); }
    // Writes the header and CRC; returns the finished batch (a view into the buffer).
    // Must not be called on an empty builder.
    [[nodiscard]] mutable_bytes finish() noexcept;

private:
    // The record_tail append near the end of the buffer (sizes the record exactly first); out
    // of line so that the one-pass path keeps few registers. `key` is null (-1) or of key_bytes.
    [[gnu::noinline]] bool append_exact(std::int64_t timestamp_ms, record_field key,
                                        std::size_t key_bytes, bytes_view value,
                                        const record_tail& tail) noexcept;
    // A record of `need` bytes with this timestamp was written at _pos: counts it in (the
    // record_tail append's one-pass path does the same with the timestamps first).
    void commit(std::int64_t timestamp_ms, std::size_t need) noexcept {
        if (_count == 0) {
            _base_timestamp = timestamp_ms;
            _max_timestamp = timestamp_ms;
        } else if (timestamp_ms > _max_timestamp) {
            _max_timestamp = timestamp_ms;
        }
        _pos += need;
        ++_count;
    }

    // The one-pass record_tail append, inlined into both public forms.
    [[gnu::always_inline]] inline bool append_tail(std::int64_t timestamp_ms, record_field key,
                                                   bytes_view value,
                                                   const record_tail& tail) noexcept;

    mutable_bytes _buf;
    const record_tail* _tail = &empty_tail;  // bind_tail; kept by reset()
    static const record_tail empty_tail;
    std::size_t _limit = 0;  // min(_buf.size(), batch_bytes_max + log_overhead_bytes)
    std::size_t _pos = batch_header_bytes;
    std::int32_t _count = 0;
    std::int64_t _base_timestamp = 0;
    std::int64_t _max_timestamp = 0;
};

}  // namespace sluice::log
