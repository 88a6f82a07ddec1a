#pragma once
// The durable partitioned log: topic registry, partitions, producer rings, the io_uring writer,
// readers and recovery. One log_store per data directory.
//
// Threads:
//  - producers (pipeline cores, the Kafka server) each own an `appender` and call try_append();
//    the fast path is a copy into a single-producer ring: no lock, no syscall, no allocation,
//    zero atomic read-modify-writes (one release store publishes the batch).
//  - one writer thread (started by start()) drains the rings in order, stamps offsets (the
//    single sequencer), writes with O_DIRECT through io_uring, fdatasyncs (group commit) and
//    then publishes the high watermark (= durable offset).
//  - readers (any thread) read stored batches below the high watermark.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>
#include <sluice/base/types.h>

namespace sluice::log {

class storage;  // <sluice/log/storage.h>

struct topic_spec {
    std::string name;
    std::int32_t partitions = 1;
    std::int64_t retention_bytes = -1;          // per partition; -1 = unbounded
    std::int64_t retention_ms = 604'800'000;    // 7 days; -1 = unbounded
    std::int64_t segment_bytes = 1'073'741'824; // roll when a segment would exceed this
    std::int64_t segment_ms = 604'800'000;      // roll when the active segment is this old
};

struct store_options {
    std::string data_dir = "data";
    std::int64_t flush_interval_us = 5'000;   // group commit: fdatasync at least this often...
    std::int64_t flush_bytes = 1 << 20;       // ...or when this much is pending
    std::size_t ring_bytes = 8 << 20;         // per appender (producer) ring
    std::size_t max_batch_bytes = 1 << 20;    // largest batch try_append accepts
    std::size_t write_buffer_bytes = 1 << 20; // per-partition aligned staging buffer
    std::int32_t leader_epoch = 0;            // stamped into every batch, reported by Metadata
    std::uint32_t max_partitions = 4096;      // across all topics; fixed at open
    std::uint32_t max_appenders = 64;
    unsigned recovery_threads = 0;            // 0 = TBB default for the arena
    int writer_cpu = -1;                      // pin the writer thread (and its io_uring io-wq
                                              // workers) to this CPU; -1 = not pinned
    // Storage backend; null = real files (O_DIRECT + io_uring). Tests pass a memory_storage.
    std::shared_ptr<storage> backend;
};

struct append_completion {
    std::uint64_t token = 0;
    std::int64_t base_offset = -1;  // offset stamped on the batch's first record
    errc error = errc::ok;
};

struct partition_stats {
    std::int64_t log_start_offset = 0;
    std::int64_t high_watermark = 0;   // durable; readers see [log_start_offset, high_watermark)
    std::int64_t next_offset = 0;      // stamped but maybe not yet durable (writer's view)
    std::int64_t bytes_on_disk = 0;
    std::int64_t segments = 0;
    std::uint64_t batches_appended = 0;
    std::uint64_t records_appended = 0;
    errc state = errc::ok;             // last storage error on this partition (ok, no_space, io_error)
};

struct store_stats {
    std::uint64_t flushes = 0;            // fdatasync calls completed
    std::uint64_t bytes_written = 0;
    std::uint64_t appends_full = 0;       // try_append refused: ring full (backpressure)
    std::uint64_t appends_rejected = 0;   // try_append refused: bad batch / unknown partition
    std::uint64_t io_errors = 0;
    std::uint64_t no_space_errors = 0;
    std::int64_t fsync_ns_p50 = 0;
    std::int64_t fsync_ns_p99 = 0;
    // fdatasync latency histogram since open: fsync_ns_hist[b] counts latencies in
    // [2^b, 2^(b+1)) ns (bucket 0 also holds < 1 ns, the last bucket everything longer);
    // fsync_ns_sum is the sum of all latencies. Exported as sluice_fsync_latency_seconds.
    static constexpr int fsync_hist_buckets = 40;
    std::array<std::uint64_t, fsync_hist_buckets> fsync_ns_hist{};
    std::uint64_t fsync_ns_sum = 0;
};

struct topic_info {
    std::string name;
    std::int32_t partitions = 0;
    partition_index first;  // partition p of this topic is partition_index{first + p}
    topic_spec spec;
};

class log_store;

// A producer's handle: one per producing thread, not thread-safe, owned by that thread.
class appender {
public:
    appender(appender&&) noexcept;
    appender& operator=(appender&&) noexcept;
    ~appender();

    // Copies one finished batch (see batch_builder) into this producer's ring. The writer
    // validates the header, stamps offsets in ring order and makes it durable. Returns ok,
    // full (ring has no room: backpressure, counted), too_large (over max_batch_bytes),
    // not_found (no such partition) or bad_* (the batch header is malformed).
    // With token != 0 a completion is queued once the batch is durable (or failed).
    [[nodiscard]] errc try_append(partition_index partition, bytes_view batch,
                                  std::uint64_t token = 0) noexcept;

    // Whether try_append would refuse a batch of `batch_bytes` with this token for want of room
    // (ring or completion slots) now: then returns full and counts it in appends_full, as
    // try_append would; else ok (room only grows until this thread appends, so try_append of that
    // batch next will not be refused full). A producer that discards refused batches can skip
    // finishing them: the CRC of a 64 KiB batch reads it all back (~3 % of a pipeline core in
    // bench-pipeline-dpdk, where most batches end as backpressure drops).
    [[nodiscard]] errc check_room(std::size_t batch_bytes, std::uint64_t token = 0) noexcept;

    // Moves up to out.size() completions into out; returns how many.
    [[nodiscard]] std::size_t poll_completions(std::span<append_completion> out) noexcept;

    // Batches accepted by try_append whose completion (durability) has not happened yet.
    [[nodiscard]] std::uint64_t in_flight() const noexcept;

    struct impl;

private:
    friend class log_store;
    explicit appender(impl* p) noexcept : _impl(p) {}
    impl* _impl = nullptr;
};

class log_store {
public:
    // Opens (creating if needed) the data directory, loads the topic registry and recovers
    // every partition (in parallel on a TBB arena): CRC-valid prefix, torn tail truncated,
    // indexes rebuilt. `error` receives a readable message on failure.
    [[nodiscard]] static std::unique_ptr<log_store> open(const store_options& options,
                                                         std::string* error);
    ~log_store();  // stops the writer if running (as stop())

    log_store(const log_store&) = delete;
    log_store& operator=(const log_store&) = delete;

    // Starts the writer thread. Appends before start() queue in the rings.
    void start();
    // Drains every ring, writes and syncs everything, writes the clean-shutdown checkpoint and
    // stops the writer. Idempotent.
    void stop();

    // Topic registry (control plane; persisted in <data_dir>/topics.json).
    [[nodiscard]] errc create_topic(const topic_spec& spec, std::string* error = nullptr);
    [[nodiscard]] errc delete_topic(std::string_view name);
    [[nodiscard]] std::optional<topic_info> find_topic(std::string_view name) const;
    [[nodiscard]] std::vector<topic_info> topics() const;
    [[nodiscard]] std::optional<partition_index> find_partition(std::string_view topic,
                                                                std::int32_t partition) const;

    // A new producer handle (at most max_appenders live at once; empty optional if exhausted).
    [[nodiscard]] std::optional<appender> make_appender();

    // Lock-free reads of the published offsets (acquire; pairs with the writer's release store
    // after fdatasync completed).
    [[nodiscard]] std::int64_t high_watermark(partition_index p) const noexcept;
    [[nodiscard]] std::int64_t log_start_offset(partition_index p) const noexcept;

    // Copies whole stored batches, starting with the one that contains `from`, into `out`, up to
    // out.size() bytes and never past the high watermark. If the first batch alone is larger
    // than `out`, returns errc::too_large with `needed` (if given) set to its size. Returns the
    // number of bytes copied (0 when from == high watermark). out_of_range when `from` is below
    // log start or above the high watermark.
    [[nodiscard]] result<std::size_t> read(partition_index p, std::int64_t from, mutable_bytes out,
                                           std::size_t* needed = nullptr) const;

    // First offset whose batch max timestamp >= ts_ms (Kafka ListOffsets semantics), or the high
    // watermark if none.
    [[nodiscard]] std::int64_t offset_for_timestamp(partition_index p, std::int64_t ts_ms) const;

    // Called on the writer thread after high watermarks moved (keep it short: e.g. write an
    // eventfd or notify a condition variable). Returns an id for remove_listener.
    int add_watermark_listener(std::function<void()> fn);
    void remove_listener(int id);

    [[nodiscard]] partition_stats stats(partition_index p) const;
    [[nodiscard]] store_stats stats() const;
    [[nodiscard]] const store_options& options() const noexcept;

    // Runs retention (by bytes and time) now; also run periodically by the writer.
    void enforce_retention();

    struct impl;

private:
    explicit log_store(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

}  // namespace sluice::log
