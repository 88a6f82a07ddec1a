#pragma once
// The Kafka request handler: decodes one request frame, runs it against the log_store, the group
// coordinator and the committed-offset store, and encodes the response. Transport-free, so unit
// tests and the fuzzer drive it with byte-level frames; kafka::server (server.h) feeds it from
// io_uring. Single-threaded: every call comes from one thread (the server's loop).
//
// Requests either answer at once (outcome::respond), never (acks=0 Produce), close the connection
// (malformed frame, unknown API), or are deferred: Produce waits for durability, Fetch long-polls,
// JoinGroup/SyncGroup wait for the other members. Deferred answers come out of poll() tagged with
// the (connection, sequence) they belong to; the transport sends each connection's responses in
// sequence order.

#include <atomic>
#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <sluice/base/bytes.h>
#include <sluice/kafka/protocol.h>

namespace sluice::log {
class log_store;
}

namespace sluice::kafka {

struct committed_offset_entry;  // offset_store.h

struct broker_options {
    std::string advertised_host = "127.0.0.1";
    std::int32_t advertised_port = 9092;
    std::int32_t node_id = 0;
    std::string cluster_id = "sluice";
    // Partitions of a topic created on first use (Metadata with auto-creation allowed);
    // 0 disables auto-creation. Also the default for CreateTopics with num_partitions = -1.
    std::int32_t auto_create_partitions = 1;
    std::int32_t default_partitions = 1;
    // Wait after the first member joins an empty group before completing the join (Kafka's
    // group.initial.rebalance.delay.ms; 0 = complete as soon as every known member joined).
    std::int32_t group_initial_rebalance_delay_ms = 0;
    std::int32_t group_min_session_timeout_ms = 1000;
    std::int32_t group_max_session_timeout_ms = 1'800'000;
    // Upper bound on one Fetch response's record bytes whatever the client asks.
    std::int32_t fetch_max_bytes = 64 << 20;
    // Directory of the committed-offset journal; empty = <data_dir>/__consumer_offsets.
    std::string offsets_dir;
    // Produce batches the log's ring had no room for are copied and queued, in order; while more
    // than this many bytes are queued, backlogged() is true and the server reads no socket (TCP
    // backpressure), so a stalled disk cannot grow the queue without bound.
    std::size_t append_backlog_bytes_max = 64 << 20;
};

enum class outcome : std::uint8_t { respond, no_response, deferred, close };

struct request_context {
    std::uint64_t conn_id = 0;
    std::uint64_t seq = 0;       // per-connection request sequence number
    std::string client_host;     // peer address, reported by DescribeGroups
    std::int64_t now_ms = 0;     // monotonic milliseconds
};

struct completed_response {
    std::uint64_t conn_id = 0;
    std::uint64_t seq = 0;
    bool respond = true;  // false: the request completed without an answer (acks=0)
    std::vector<std::byte> bytes;
};

// Latency histograms: log2 buckets in microseconds. Bucket b < latency_buckets - 1 counts
// values v with 2^(b-1) < v <= 2^b us (bucket 0: v <= 1 us); the last bucket counts the rest
// (> 2^26 us, about 67 s).
inline constexpr int latency_buckets = 28;

[[nodiscard]] constexpr int latency_bucket_of(std::uint64_t us) noexcept {
    const int b = us <= 1 ? 0 : static_cast<int>(std::bit_width(us - 1));  // smallest b: us <= 2^b
    return b < latency_buckets - 1 ? b : latency_buckets - 1;
}

// Written by one thread (the server's loop): relaxed load + store, no locked read-modify-write.
struct latency_histogram {
    std::atomic<std::uint64_t> buckets[latency_buckets]{};
    std::atomic<std::uint64_t> sum_us{0};

    void observe_us(std::uint64_t us) noexcept {
        auto& b = buckets[latency_bucket_of(us)];
        b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        sum_us.store(sum_us.load(std::memory_order_relaxed) + us, std::memory_order_relaxed);
    }
};

struct latency_histogram_stats {
    std::uint64_t buckets[latency_buckets] = {};  // per bucket, not cumulative
    std::uint64_t sum_us = 0;
};

// Counters; readable from any thread (relaxed atomics, monotonic).
struct broker_counters {
    std::atomic<std::uint64_t> requests_by_api[api::key_count]{};
    std::atomic<std::uint64_t> errors_by_code[error::code_max]{};  // index = code + 1
    // Answers by (api key, error code + 1); code 0 (none) counts successful answers too.
    std::atomic<std::uint64_t> answers_by_api_code[api::key_count][error::code_max]{};
    std::atomic<std::uint64_t> produce_batches{0};
    std::atomic<std::uint64_t> produce_bytes{0};
    std::atomic<std::uint64_t> produce_rejected_batches{0};
    std::atomic<std::uint64_t> fetch_bytes{0};
    std::atomic<std::uint64_t> malformed_requests{0};
    std::atomic<std::uint64_t> unsupported_requests{0};
    std::atomic<std::uint64_t> offset_commits{0};
    std::atomic<std::uint64_t> rebalances{0};
    std::atomic<std::uint64_t> groups{0};            // gauges, refreshed by handle()/poll()
    std::atomic<std::uint64_t> pending_requests{0};
    std::atomic<std::uint64_t> append_backlog_bytes{0};  // gauge: queued behind a full ring
    std::atomic<std::uint64_t> append_backlog_stalls{0};  // times the backlog went over the bound
    // Produce (acks != 0): request handled -> answer queued. Fetch: time spent long-polling
    // (answered at once = 0). Requests whose connection closed first are not observed.
    latency_histogram produce_ack;
    latency_histogram fetch_wait;

    void count_error(std::int16_t api_key, std::int16_t code) noexcept {
        int i = code + 1;
        if (i < 0 || i >= error::code_max) return;
        errors_by_code[i].fetch_add(1, std::memory_order_relaxed);
        if (api_key >= 0 && api_key < api::key_count) {
            answers_by_api_code[api_key][i].fetch_add(1, std::memory_order_relaxed);
        }
    }
};

struct broker_stats {
    std::uint64_t requests_by_api[api::key_count] = {};
    std::uint64_t errors_by_code[error::code_max] = {};  // index = code + 1
    std::uint64_t answers_by_api_code[api::key_count][error::code_max] = {};  // [key][code + 1]
    std::uint64_t produce_batches = 0;
    std::uint64_t produce_bytes = 0;
    std::uint64_t produce_rejected_batches = 0;
    std::uint64_t fetch_bytes = 0;
    std::uint64_t malformed_requests = 0;
    std::uint64_t unsupported_requests = 0;
    std::uint64_t offset_commits = 0;
    std::uint64_t rebalances = 0;
    std::uint64_t groups = 0;
    std::uint64_t pending_requests = 0;
    std::uint64_t append_backlog_bytes = 0;
    std::uint64_t append_backlog_stalls = 0;
    latency_histogram_stats produce_ack;
    latency_histogram_stats fetch_wait;
};

class broker {
public:
    // Opens the committed-offset store and an appender of `store`. Null on failure (`error`).
    [[nodiscard]] static std::unique_ptr<broker> create(log::log_store& store, broker_options options,
                                                        std::string* error);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    // `frame` is one request without its int32 size prefix. On respond, `response` holds the
    // whole response frame including the size prefix.
    [[nodiscard]] outcome handle(bytes_view frame, const request_context& ctx,
                                 std::vector<std::byte>& response);

    // Advances deferred work (durability completions, long-polls, group timers) and appends the
    // answers that became ready, in no particular order across connections.
    void poll(std::int64_t now_ms, std::vector<completed_response>& out);

    // Earliest time poll() has timed work to do; max() when none.
    [[nodiscard]] std::int64_t next_deadline_ms() const noexcept;
    // True while Produce requests wait for durability (the caller should poll soon).
    [[nodiscard]] bool waiting_for_log() const noexcept;
    // True while the copied-and-queued Produce batches exceed append_backlog_bytes_max: the
    // caller should stop reading requests until poll() has drained it below the bound.
    [[nodiscard]] bool backlogged() const noexcept;
    // Drops the connection's deferred requests (their answers would have nowhere to go).
    void connection_closed(std::uint64_t conn_id);

    [[nodiscard]] broker_stats stats() const;
    // Every committed consumer-group offset; any thread (offset_store::snapshot()).
    [[nodiscard]] std::vector<committed_offset_entry> committed_offsets() const;
    [[nodiscard]] const broker_options& options() const noexcept;

    struct impl;

private:
    explicit broker(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

}  // namespace sluice::kafka
