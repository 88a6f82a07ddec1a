#pragma once
// Operator metrics of the Kafka API, read from kafka::server at scrape time (HTTP thread, under
// the registry's lock). Nothing is added to the registry's shards: the server keeps its own
// relaxed-atomic counters and histograms (kafka::broker_counters) and the committed offsets
// are copied under the offset store's lock (kafka::server::committed_offsets()).
//   sluice_kafka_requests_total{api}              requests by API ("Produce", "Fetch", ...)
//   sluice_kafka_errors_total{api,code}           answers with a non-zero error code
//   sluice_kafka_bytes_in_total / _bytes_out_total        socket bytes
//   sluice_kafka_connections                      open connections (gauge)
//   sluice_kafka_connections_total                accepted connections
//   sluice_kafka_produce_batches_total / _produce_bytes_total / _produce_rejected_total
//   sluice_kafka_fetch_bytes_total                record bytes returned by Fetch
//   sluice_kafka_malformed_requests_total / _unsupported_requests_total / _requests_too_large_total
//   sluice_kafka_offset_commits_total / _rebalances_total / _idle_timeouts_total
//   sluice_kafka_groups / sluice_kafka_pending_requests                     gauges
//   sluice_kafka_produce_ack_seconds              histogram: Produce (acks != 0) handled -> answer queued
//   sluice_kafka_fetch_wait_seconds               histogram: time a Fetch long-polled (0 if answered at once)
//   sluice_consumer_group_committed_offset{group,topic,partition}
//   sluice_consumer_lag{group,topic,partition}    high watermark - committed offset (>= 0)
// Called once by `sluice run` after the Kafka server is created.

#include <cstdint>
#include <string>

#include <sluice/admin/metrics.h>

namespace sluice::kafka {
class server;
}
namespace sluice::log {
class log_store;
}

namespace sluice::admin {

// `server` and `store` must outlive `reg`'s last scrape.
void register_kafka_metrics(registry& reg, const kafka::server& server, const log::log_store& store);

// The Kafka name of an API key ("Produce", "OffsetCommit", ...); the decimal key if unknown.
[[nodiscard]] std::string kafka_api_label(std::int16_t key);

}  // namespace sluice::admin
