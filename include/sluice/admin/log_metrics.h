#pragma once
// Operator metrics of the partition log, read from log::log_store at scrape time (control
// thread, under the registry's lock; nothing on the writer's path changes):
//   sluice_fsync_latency_seconds            histogram of the writer's fdatasync latency
//   sluice_log_flushes_total                fdatasync calls completed (counter)
//   sluice_log_bytes_written_total          bytes written by the writer (counter)
//   sluice_partition_bytes_on_disk{topic,partition}    segment bytes on disk
//   sluice_partition_log_start_offset{topic,partition} first readable offset
//   sluice_partition_segments{topic,partition}         segment files
// Called once at start-up by `sluice run` after the store is open and topics exist; topics
// created later appear automatically (the collectors walk store.topics() on every scrape).

#include <sluice/admin/metrics.h>

namespace sluice::log {
class log_store;
}

namespace sluice::admin {

// `store` must outlive `reg`'s last scrape.
void register_log_metrics(registry& reg, const log::log_store& store);

// The upper bound in seconds of the log's fdatasync bucket b ([2^b, 2^(b+1)) ns).
[[nodiscard]] double fsync_bucket_upper_seconds(int b) noexcept;

}  // namespace sluice::admin
