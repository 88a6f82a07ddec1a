#pragma once
// Private state of the pipeline component (pipeline.cc, metrics.cc).

#include <sluice/event/event.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>
#include <sluice/pipeline/pipeline.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace sluice::pipeline {

// One topic's counters on one core. Written only by the core (relaxed load + store inside the
// core's sequence-lock write section), read by snapshots under the sequence lock.
struct atomic_topic_counters {
    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> stored{0};
    std::atomic<std::uint64_t> in_flight{0};
    std::array<std::atomic<std::uint64_t>, event::reject_reason_count> rejected{};
    std::array<std::atomic<std::uint64_t>, drop_reason_count> dropped{};
};

struct atomic_core_counters {
    std::atomic<std::uint64_t> datagrams{0};
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> scratch_copies{0};
    std::atomic<std::uint64_t> batches_appended{0};
    std::atomic<std::uint64_t> batches_full{0};
    std::atomic<std::uint64_t> completions{0};
    std::atomic<std::uint64_t> polls{0};
    std::array<std::atomic<std::uint64_t>, latency_buckets> durable_latency_log2{};
    std::atomic<std::uint64_t> durable_latency_sum_us{0};  // bumped with the bucket (relaxed)
};

// Counters of one core: owned by the pipeline_set (outlive the pipeline), written by the core.
struct alignas(64) core_block {
    // Sequence lock: odd while the core is inside a call that changes counters.
    // Writer: store(odd, relaxed) + release fence ... store(even, release).
    // Reader: load(acquire) ... acquire fence + load(relaxed); retry if odd or changed.
    alignas(64) std::atomic<std::uint64_t> seq{0};
    alignas(64) atomic_core_counters core;
    std::unique_ptr<atomic_topic_counters[]> topics;  // routes + 1 (_unrouted)
    bool made = false;
};

struct route_info {
    topic_route spec;
    std::optional<event::compiled_rules> rules;
    std::int32_t partitions = 0;
    partition_index first;
    partition_index dlq;
    std::string dlq_name;
};

struct pipeline_set::impl {
    log::log_store* store = nullptr;
    pipeline_options opts;
    std::vector<route_info> routes;
    std::vector<topic_route> route_specs;  // for topics()
    std::vector<std::uint16_t> port_table;  // 65536 entries: route index + 1, 0 = none
    std::vector<std::unique_ptr<core_block>> cores;
    std::size_t batch_capacity_bytes = 0;

    // Metrics: one snapshot per scrape, taken by the first family's collector.
    std::mutex scrape_mu;
    counters_snapshot scrape;

    [[nodiscard]] std::uint32_t route_of(std::uint16_t port) const noexcept {
        return port_table[port] == 0 ? static_cast<std::uint32_t>(routes.size())
                                     : static_cast<std::uint32_t>(port_table[port] - 1);
    }
};

}  // namespace sluice::pipeline
