#pragma once
// Batch-by-batch scan of one segment file: the core of recovery and of `sluice log verify`.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/base/errc.h>
#include <sluice/log/record_batch.h>
#include <sluice/log/storage.h>

namespace sluice::log {

// Segment files are named by their base offset, zero-padded to 20 digits (as Kafka does):
// "00000000000000000042" (+ ".log", ".index", ".timeindex").
[[nodiscard]] std::string segment_base_name(std::int64_t base_offset);
// The base offset of a "<20 digits>.log" file name, or nullopt for any other name.
[[nodiscard]] std::optional<std::int64_t> parse_segment_log_name(std::string_view name) noexcept;

struct scan_result {
    std::uint64_t valid_bytes = 0;   // length of the valid prefix
    std::uint64_t file_bytes = 0;
    std::int64_t first_offset = -1;  // base offset of the first batch (-1 if none)
    std::int64_t next_offset = -1;   // offset after the last valid batch (expected base if none)
    std::uint64_t batches = 0;
    std::uint64_t records = 0;
    std::int64_t max_timestamp = -1;
    // Why the scan stopped before the end of the file: ok (clean end), truncated (partial batch),
    // bad_crc, bad_magic, bad_length, bad_record, out_of_range (offset discontinuity), io_error.
    errc stop = errc::ok;
    std::uint64_t stop_pos = 0;
    // stop != ok and the bad bytes look like a write that never completed rather than damage:
    // within the failing batch (its claimed extent, or 8 KiB when its header is unreadable) a
    // whole 4 KiB-aligned block, or everything from a block boundary to the batch's end, is zero
    // (preallocated space no write reached). What a crash leaves after the last fdatasync; in the
    // active segment it was never durable. A flipped bit or overwritten bytes never look so.
    bool torn_tail = false;  // only looked for with scan_options::classify_torn_tail
};

struct scan_options {
    std::int64_t expected_base = -1;  // first batch must start here (-1 = any)
    bool verify_crc = true;           // false: headers, lengths and continuity only
    // Treat a run of zero bytes after the last batch as the preallocated tail (not corruption).
    bool allow_zero_tail = true;
    // Set scan_result::torn_tail when the scan stops early (one more read of the failing batch;
    // `sluice log verify` wants it, recovery truncates there either way).
    bool classify_torn_tail = false;
};

// Called for each valid batch with its header and position.
using batch_visitor = std::function<void(const batch_header&, std::uint64_t position)>;

[[nodiscard]] scan_result scan_segment(storage& st, int fd, const scan_options& opts,
                                       const batch_visitor& visit = {});

}  // namespace sluice::log
