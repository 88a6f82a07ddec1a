#pragma once
// Offline tools over a sluice data directory (no running store needed): `sluice log verify` and
// `sluice log dump`.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace sluice::log {

struct verify_options {
    std::string data_dir;
};

// Checks every segment of every partition directory (<topic>-<n>/<base>.log): batch lengths,
// CRC-32C, offset continuity within and across segments. Prints one line per partition (offset
// range, batches, records, segments, status). Returns 0 iff everything is intact (a zero-filled
// preallocated tail is intact), 1 if anything is damaged, 2 if the directory cannot be read.
int verify_data_dir(const verify_options& opts, std::ostream& out, std::ostream& err);

enum class dump_format : std::uint8_t { text, json };

struct dump_options {
    std::string data_dir;
    std::optional<std::string> topic;
    std::optional<std::int32_t> partition;
    std::int64_t from_offset = 0;
    dump_format format = dump_format::text;
};

// Prints every record (text: one line per batch and per record, like kafka-dump-log; json: one
// object per record per line: {"topic","partition","offset","timestamp","key","value"}, key and
// value as JSON strings or null). Returns 0 on success, 1 on damaged data, 2 on usage errors.
int dump_data_dir(const dump_options& opts, std::ostream& out, std::ostream& err);

}  // namespace sluice::log
