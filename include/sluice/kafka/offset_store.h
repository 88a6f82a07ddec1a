#pragma once
// Committed consumer-group offsets, durable in <data_dir>/__consumer_offsets/offsets.journal:
// an append-only journal of CRC-32C-framed entries, fdatasync'd before commit() returns, replayed
// on open (a torn or corrupt tail is truncated) and compacted through temp file + fdatasync +
// rename. Control plane: one thread (the Kafka server) calls it; snapshot() may be called from
// any thread (metrics scrapes): the owner thread takes `_mu` only around in-memory map updates
// (never across write/fdatasync) and reads the map without it (it is the only writer).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <sluice/base/errc.h>

namespace sluice::kafka {

struct committed_offset {
    std::int64_t offset = -1;
    std::int32_t leader_epoch = -1;
    std::int64_t commit_timestamp_ms = -1;
    std::optional<std::string> metadata;
};

struct offset_commit_entry {
    std::string topic;
    std::int32_t partition = 0;
    committed_offset value;
};

// One committed offset, flattened for readers on other threads (offset_store::snapshot()).
struct committed_offset_entry {
    std::string group;
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = -1;
    std::int64_t commit_timestamp_ms = -1;
};

class offset_store {
public:
    // Opens (creating) `dir`; `error` gets a message on failure.
    [[nodiscard]] static std::unique_ptr<offset_store> open(const std::string& dir,
                                                            std::string* error);
    ~offset_store();
    offset_store(const offset_store&) = delete;
    offset_store& operator=(const offset_store&) = delete;

    // Makes every entry durable (one write + fdatasync), then visible.
    [[nodiscard]] errc commit(std::string_view group, const std::vector<offset_commit_entry>& entries);
    [[nodiscard]] std::optional<committed_offset> get(std::string_view group, std::string_view topic,
                                                      std::int32_t partition) const;
    // All committed offsets of a group, ordered by (topic, partition).
    [[nodiscard]] std::vector<offset_commit_entry> list(std::string_view group) const;
    [[nodiscard]] std::vector<std::string> groups() const;
    [[nodiscard]] std::uint64_t journal_bytes() const noexcept { return _journal_bytes; }
    // Every committed offset ordered by (group, topic, partition). Thread-safe: copies the map
    // under `_mu` (the owner thread waits at most for this copy when it commits meanwhile).
    [[nodiscard]] std::vector<committed_offset_entry> snapshot() const;

private:
    offset_store() = default;
    [[nodiscard]] errc compact();
    using key = std::tuple<std::string, std::string, std::int32_t>;  // group, topic, partition
    mutable std::mutex _mu;  // guards writes of _offsets and reads from non-owner threads
    std::map<key, committed_offset, std::less<>> _offsets;
    std::string _dir;
    int _fd = -1;
    std::uint64_t _journal_bytes = 0;
};

}  // namespace sluice::kafka
