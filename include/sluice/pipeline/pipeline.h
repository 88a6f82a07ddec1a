#pragma once
// The per-core ingest pipeline: a burst of received UDP datagrams goes through
//   allow-list -> per-source rate limit -> route (destination port -> topic) -> event parse
//   -> partition (murmur2 of the key; keyless: round-robin per core) -> per-partition
//   RecordBatch v2 builder -> log appender (try_append, never blocks)
// and rejected events go to the topic's dead-letter topic `<topic>.dlq` (raw bytes, truncated to
// dlq_value_bytes_max, headers `reason` and `source` = "address:port").
//
// Threads: a pipeline_set is built on the control thread at start-up (allocates: parsers, batch
// buffers, rate tables). Each `pipeline` is then owned and called by exactly one thread (its
// core): process(), poll(), count_drops(), flush() — no allocation, no exceptions, no locks.
// Snapshots (counters(), register_metrics() collectors) may be taken from any thread.
//
// Backend contract (socket or DPDK):
//   auto set = pipeline_set::make(store, opts, &err);          // start-up
//   auto p   = set->make_pipeline(core_index, &err);           // start-up, one per core
//   loop on the core:
//     n = receive(burst);                                      // payloads stay valid ...
//     p->process(std::span(burst, n));                          // ... until this returns
//     p->count_drops(port, drop_reason::kernel_overflow, k);   // drops the backend saw
//     p->poll(mono_ns());                                       // at least every ~100 us when idle
//   shutdown: stop receiving; p->flush(); poll until p->in_flight() == 0 (bounded wait).
//
// Counting (per topic, per core; DESIGN.md "Guarantees"):
//   received = stored + rejected + dropped + in_flight   holds exactly in every snapshot.
// Each core's counters change only inside its own calls, under a per-core sequence lock, so a
// snapshot (which reads every core consistently) always balances; sums over cores balance too.
//   - received: events seen. A datagram dropped before parsing (allow_list, rate_limit,
//     no_route, kernel_overflow, truncated, backend drops) counts as ONE event; a parsed datagram
//     counts its events (+ events beyond the parser's output capacity, dropped as `overflow`).
//   - in_flight: accepted events sitting in a batch builder or handed to the log and not yet
//     durable, plus rejected events sitting in a DLQ batch builder.
//   - stored: accepted events whose batch the log reported durable (appender completion, ok).
//   - rejected{reason}: events whose DLQ record was handed to the log (try_append returned ok
//     for the DLQ batch). Not necessarily durable yet: "rejected" counts the decision, the DLQ
//     copy follows the log's normal durability.
//   - dropped{reason}: everything else, by reason (see drop_reason). Batches refused by
//     try_append (full) are dropped as `backpressure`, failed durable writes as `storage_error`.
// Events of unknown destination ports are counted under the pseudo topic "_unrouted".

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>
#include <sluice/base/types.h>
#include <sluice/event/event.h>
#include <sluice/net/datagram.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {
class allow_list;
}
namespace sluice::log {
class log_store;
}
namespace sluice::admin {
class registry;
}

namespace sluice::pipeline {

using datagram = net::datagram;

// Why events were dropped. Names are stable (metric label `reason`).
enum class drop_reason : std::uint8_t {
    allow_list = 0,   // source address not in ingest.allow
    rate_limit,       // per-source token bucket empty
    no_route,         // no topic for the destination port
    backpressure,     // log appender ring full: the batch was discarded
    overflow,         // more events in one datagram than the parser returns per call
    kernel_overflow,  // the kernel dropped datagrams on our socket (SO_RXQ_OVFL)
    truncated,        // datagram larger than the receive buffer
    storage_error,    // the log failed to make the batch durable (io_error, no_space)
    append_error,     // try_append refused the batch for another reason (too_large, ...)
    nic_missed,       // DPDK: imissed / rx_nombuf deltas reported by the backend
    bad_frame,        // DPDK: frame decode drop (checksum, truncated, fragments, ...)
};
inline constexpr std::size_t drop_reason_count = 11;

[[nodiscard]] constexpr std::string_view to_string(drop_reason r) noexcept {
    switch (r) {
        case drop_reason::allow_list: return "allow_list";
        case drop_reason::rate_limit: return "rate_limit";
        case drop_reason::no_route: return "no_route";
        case drop_reason::backpressure: return "backpressure";
        case drop_reason::overflow: return "overflow";
        case drop_reason::kernel_overflow: return "kernel_overflow";
        case drop_reason::truncated: return "truncated";
        case drop_reason::storage_error: return "storage_error";
        case drop_reason::append_error: return "append_error";
        case drop_reason::nic_missed: return "nic_missed";
        case drop_reason::bad_frame: return "bad_frame";
    }
    return "unknown";
}

// Name of the pseudo topic that collects events for unknown ports.
inline constexpr std::string_view unrouted_topic = "_unrouted";

// One routed topic. The topic and its DLQ topic must exist in the log_store before
// pipeline_set::make (the app creates `<name>.dlq` with 1 partition at start-up).
struct topic_route {
    std::string name;
    std::uint16_t port = 0;      // UDP destination port
    event::topic_rules rules;    // key / require / timestamp pointers, max event bytes
    std::string dlq_name;        // "" = name + ".dlq"
};

struct pipeline_options {
    std::vector<topic_route> topics;
    unsigned cores = 1;                         // pipelines that make_pipeline will create
    const config::allow_list* allow = nullptr;  // null or allows-all = no check; must outlive set
    std::uint64_t rate_limit_per_source = 0;    // datagrams/s per source address; 0 = off
    std::uint64_t rate_limit_burst = 0;         // bucket depth; 0 = max(rate, 1)
    std::size_t rate_table_entries = 4096;      // per core, rounded up to a power of two
    std::size_t batch_bytes = 64 * 1024;        // hand a partition's batch to the log at this size
    std::int64_t linger_ns = 1'000'000;         // ... or when its first record is this old
    std::size_t max_datagram_bytes = 65536;     // parser capacity (larger events: too_large)
    std::size_t dlq_value_bytes_max = 65536;    // DLQ record values are truncated to this
    bool source_header = true;                  // add header "src" = "address:port" to records
    std::size_t events_per_datagram_max = 256;  // parser output per datagram; beyond: overflow
    // One stage-1 pass per burst over its small payloads (event_parser::gather); off: one per
    // datagram (tests of the per-datagram paths, e.g. the scratch copy).
    bool gather_bursts = true;
    // Benchmarks only (bench-pipeline --simulate-storage): batches are built and checksummed,
    // then counted as stored (DLQ: rejected) without being handed to the log. Never in `run`.
    bool simulate_storage = false;
};

// Counters of one topic (one core, or summed). in_flight is never negative in a snapshot.
struct topic_counters {
    std::uint64_t received = 0;
    std::uint64_t stored = 0;
    std::array<std::uint64_t, event::reject_reason_count> rejected{};  // by event::reject_reason
    std::array<std::uint64_t, drop_reason_count> dropped{};            // by drop_reason
    std::uint64_t in_flight = 0;

    [[nodiscard]] std::uint64_t rejected_total() const noexcept;
    [[nodiscard]] std::uint64_t dropped_total() const noexcept;
    // received == stored + rejected + dropped + in_flight
    [[nodiscard]] bool balanced() const noexcept;
    topic_counters& operator+=(const topic_counters& o) noexcept;
};

// Receive -> durable latency histogram: bucket i counts the events of batches whose first event
// became durable within 2^i microseconds (bucket 0: <= 1 us; the last bucket also holds everything
// longer). Every event of a batch counts with its first event's latency (an upper bound), so the
// buckets sum to the events stored through the log (not those of simulate_storage).
inline constexpr std::size_t latency_buckets = 32;

// Per-core work counters (not part of the invariant).
struct core_counters {
    std::uint64_t datagrams = 0;       // datagrams handed to process()
    std::uint64_t bytes = 0;           // their payload bytes
    std::uint64_t scratch_copies = 0;  // events the parser had to copy (no in-place padding)
    std::uint64_t batches_appended = 0;
    std::uint64_t batches_full = 0;    // try_append returned full
    std::uint64_t completions = 0;
    std::uint64_t polls = 0;
    // Stored events by receive (first event of their batch handed to process()) -> durable
    // latency, and the sum of those latencies (microseconds, one term per event).
    std::array<std::uint64_t, latency_buckets> durable_latency_log2{};
    std::uint64_t durable_latency_sum_us = 0;
};

// A consistent view of every core's counters. topics[i] matches pipeline_set::topics()[i]; the
// last entry is the "_unrouted" pseudo topic.
struct counters_snapshot {
    std::vector<std::string> topic_names;           // incl. "_unrouted" last
    std::vector<topic_counters> topics;             // summed over cores
    std::vector<std::vector<topic_counters>> per_core;  // [core][topic]
    std::vector<core_counters> cores;
    [[nodiscard]] topic_counters total() const noexcept;
    // Quantile q (0..1) of receive -> durable latency over all cores, in microseconds: the upper
    // bound of the log2 bucket that holds it (0 when no batch completed yet).
    [[nodiscard]] std::uint64_t durable_latency_us(double q) const noexcept;
};

class pipeline_set;
struct core_state;

// One core's pipeline. Not thread-safe: one owner thread.
class pipeline {
public:
    ~pipeline();
    pipeline(const pipeline&) = delete;
    pipeline& operator=(const pipeline&) = delete;

    // Handles a burst; returns the number of datagrams handled (always burst.size(): the
    // pipeline never blocks; what it cannot keep is counted as dropped). Payloads may be reused
    // by the caller once this returns.
    std::size_t process(std::span<const datagram> burst) noexcept;
    // The same with `now_ns` = mono_ns() read by the caller for this burst (the DPDK loop reads
    // the clock after each rx_burst anyway: one vDSO clock read less per burst).
    std::size_t process(std::span<const datagram> burst, std::int64_t now_ns) noexcept;

    // Linger flush (batches older than linger_ns), appender completions (stored / storage_error).
    // `now_ns`: mono_ns(). Call regularly, also when idle.
    void poll(std::int64_t now_ns) noexcept;

    // Drops the backend saw (kernel overflow, NIC missed, frame decode): counted as received and
    // dropped for the topic of `dst_port` ("_unrouted" if unknown or 0).
    void count_drops(std::uint16_t dst_port, drop_reason reason, std::uint64_t events) noexcept;

    // Hands every non-empty batch (topics and DLQs) to the log now (shutdown, tests).
    void flush() noexcept;

    // Events of this core that are in_flight (all topics).
    [[nodiscard]] std::uint64_t in_flight() const noexcept;
    [[nodiscard]] unsigned core() const noexcept;

private:
    friend class pipeline_set;
    explicit pipeline(std::unique_ptr<core_state> s) noexcept;
    std::unique_ptr<core_state> _s;
};

class pipeline_set {
public:
    // Resolves topics in `store` (each topic and its DLQ topic must exist), compiles the event
    // rules. nullptr + *error on failure (message names the topic / setting).
    [[nodiscard]] static std::unique_ptr<pipeline_set> make(log::log_store& store,
                                                            pipeline_options options,
                                                            std::string* error);
    ~pipeline_set();
    pipeline_set(const pipeline_set&) = delete;
    pipeline_set& operator=(const pipeline_set&) = delete;

    // Creates core `core`'s pipeline (core < options.cores, each at most once): an appender, an
    // event parser, the batch buffers and rate table. The set must outlive it.
    [[nodiscard]] std::unique_ptr<pipeline> make_pipeline(unsigned core, std::string* error);

    [[nodiscard]] const pipeline_options& options() const noexcept;
    [[nodiscard]] std::span<const topic_route> topics() const noexcept;
    [[nodiscard]] unsigned cores() const noexcept;

    // Consistent snapshot (any thread; retries while a core is inside a call, bounded).
    [[nodiscard]] counters_snapshot counters() const;

    // Registers collectors for sluice_events_{received,stored,rejected,dropped}_total,
    // sluice_events_in_flight, per-core sluice_pipeline_* counters and
    // sluice_partition_high_watermark{topic,partition} (from the log store, scrape time).
    // One snapshot serves all families of one scrape, so a scrape balances too.
    // Links against sluice_admin (the caller's executable must depend on sluice_admin_dep).
    void register_metrics(admin::registry& reg);

    struct impl;

private:
    friend class pipeline;
    explicit pipeline_set(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

}  // namespace sluice::pipeline
