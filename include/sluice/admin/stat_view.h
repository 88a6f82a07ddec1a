#pragma once
// The model behind `sluice stat` (and the figures the status page shows): parse one sample of
// the admin endpoint (GET /v1/status JSON + GET /metrics text), compute rates between two
// samples, render them as a terminal screen or as one JSON object. No I/O here: fetching is
// cmd_stat's job, so everything below is testable from strings.
//
// Sources (by name; fields that are absent are shown as unknown, never invented):
//   /v1/status  version, uptime_ms, cores[] (datagrams, bytes, scratch_copies, per-topic
//               counters with rejected_by_reason / dropped_by_reason), topics[] (counters,
//               partitions[] with high_watermark, log_start_offset, optional bytes_on_disk; dlq),
//               log (flushes, bytes_written, io_errors, no_space_errors, fsync_ns_p50/p99),
//               optional groups[] ({group, topic, partition, committed_offset[, lag]})
//   /metrics    sluice_partition_bytes_on_disk{topic,partition}, sluice_fsync_latency_seconds
//               (histogram; gives fdatasync percentiles over the last interval),
//               sluice_consumer_group_committed_offset / sluice_consumer_group_lag
//               {group,topic,partition} when the Kafka server exports them.
// Control plane only (allocates freely).

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::admin {

// One sample line of Prometheus text format 0.0.4.
struct prom_sample {
    std::string name;                                        // e.g. "x_bucket"
    std::vector<std::pair<std::string, std::string>> labels; // unescaped values
    double value = 0;
    [[nodiscard]] const std::string* label(std::string_view key) const noexcept;
};
// Lenient parser: comment and malformed lines are skipped.
[[nodiscard]] std::vector<prom_sample> parse_prometheus_text(std::string_view text);

using reason_counts = std::map<std::string, double>;

struct stat_core {
    int core = 0;
    bool io_uring = false;
    double packets = 0;         // datagrams handled
    double bytes = 0;           // datagram payload bytes
    double events = 0;          // events received (sum over topics)
    double scratch_copies = 0;
    double drops = 0;
    double parse_failures = 0;  // rejected events (not JSON, bad field, ... -> DLQ)
    reason_counts drops_by_reason;
    reason_counts parse_failures_by_reason;
};

struct stat_partition {
    int partition = 0;
    double high_watermark = 0;
    double log_start_offset = 0;
    double bytes_on_disk = -1;  // -1 = unknown
};

struct stat_topic {
    std::string name;
    double received = 0, stored = 0, rejected = 0, dropped = 0, in_flight = 0;
    reason_counts rejected_by_reason, dropped_by_reason;
    std::vector<stat_partition> partitions;
    double dlq_high_watermark = -1;  // -1 = no DLQ reported
};

struct stat_log {
    double flushes = 0, bytes_written = 0, io_errors = 0, no_space_errors = 0;
    double fsync_p50_s = -1, fsync_p99_s = -1;  // since start, from /v1/status; -1 = unknown
    // sluice_fsync_latency_seconds buckets: (le, cumulative count), ascending, +Inf last.
    std::vector<std::pair<double, double>> fsync_buckets;
};

struct stat_group {
    std::string group, topic;
    int partition = 0;
    double committed_offset = -1;
    double lag = -1;  // -1 = unknown (computed from the high watermark when absent)
};

struct stat_sample {
    double t_s = 0;  // monotonic time the sample was taken
    std::string version;
    double uptime_s = 0;
    std::vector<stat_core> cores;
    std::vector<stat_topic> topics;
    stat_log log;
    std::vector<stat_group> groups;
};

// Builds a sample from the two bodies. False + *error when the status is not the JSON object
// sluice serves; the metrics text is optional ("" = none).
[[nodiscard]] bool parse_stat_sample(std::string_view status_json, std::string_view metrics_text,
                                     double t_s, stat_sample* out, std::string* error);

// Rates between two samples (per second; 0 when there is no previous sample). Counters that
// went backwards (restart) give rate 0.
struct stat_core_rates {
    double packets_s = 0, bytes_s = 0, events_s = 0, scratch_copies_s = 0, drops_s = 0,
           parse_failures_s = 0;
};
struct stat_topic_rates {
    double received_s = 0, stored_s = 0, rejected_s = 0, dropped_s = 0;
    std::vector<double> partition_events_s;  // aligned with stat_topic::partitions
};
struct stat_log_rates {
    double flushes_s = 0, bytes_written_s = 0;
    // fdatasync latency percentiles over the interval (from the histogram) when it had flushes,
    // else the since-start figures; `fsync_window` says which ("interval", "since_start", "").
    double fsync_p50_s = -1, fsync_p99_s = -1;
    std::string fsync_window;
};

struct stat_view {
    std::string admin;      // HOST:PORT shown in the header
    stat_sample cur;
    double interval_s = 0;  // 0 = single sample
    std::vector<stat_core_rates> cores;    // aligned with cur.cores
    std::vector<stat_topic_rates> topics;  // aligned with cur.topics
    stat_log_rates log;
};

[[nodiscard]] stat_view compute_stat_view(const stat_sample* prev, const stat_sample& cur,
                                          std::string admin);

// q-quantile (0..1) of a cumulative histogram (le, count) with linear interpolation inside the
// bucket, as Prometheus' histogram_quantile does; -1 if empty.
[[nodiscard]] double histogram_quantile(double q, const std::vector<std::pair<double, double>>& cum);

// One JSON object (single line, trailing newline).
[[nodiscard]] std::string render_stat_json(const stat_view& v);
// One screen of text, at most `rows` lines of at most `cols` columns; `ansi` adds bold/colour.
[[nodiscard]] std::string render_stat_text(const stat_view& v, int cols, int rows, bool ansi);

// Number formatting used by the view (exposed for tests): 1234567 -> "1.23M", bytes -> "1.2 MiB".
[[nodiscard]] std::string format_si(double v);
[[nodiscard]] std::string format_bytes(double v);
[[nodiscard]] std::string format_seconds(double s);  // "850 us", "1.2 ms", "2.0 s"

}  // namespace sluice::admin
