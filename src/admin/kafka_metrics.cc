#include <sluice/admin/kafka_metrics.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <sluice/kafka/protocol.h>
#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>

namespace sluice::admin {

namespace {

// What one scrape reads. The first family registered below refreshes it; the families after it
// (printed later in the same exposition, see registry::exposition()) read the same copy, so
// one scrape costs one server::stats() (~70 KiB of relaxed loads) and one offsets snapshot, and
// the families of a scrape are mutually consistent. Only touched under the registry's lock.
struct scrape_state {
    const kafka::server* srv = nullptr;
    const log::log_store* store = nullptr;
    kafka::server_stats stats;
    std::vector<kafka::committed_offset_entry> offsets;
};

histogram_snapshot to_seconds(const kafka::latency_histogram_stats& h) {
    histogram_snapshot out;
    out.upper_bounds.reserve(kafka::latency_buckets - 1);
    out.counts.reserve(kafka::latency_buckets);
    for (int b = 0; b < kafka::latency_buckets; ++b) {
        out.counts.push_back(h.buckets[b]);
        if (b + 1 < kafka::latency_buckets) {
            out.upper_bounds.push_back(static_cast<double>(std::uint64_t{1} << b) / 1e6);  // exact decimal
        }
    }
    out.sum = static_cast<double>(h.sum_us) / 1e6;
    return out;
}

}  // namespace

std::string kafka_api_label(std::int16_t key) {
    switch (key) {
        case kafka::api::produce: return "Produce";
        case kafka::api::fetch: return "Fetch";
        case kafka::api::list_offsets: return "ListOffsets";
        case kafka::api::metadata: return "Metadata";
        case kafka::api::offset_commit: return "OffsetCommit";
        case kafka::api::offset_fetch: return "OffsetFetch";
        case kafka::api::find_coordinator: return "FindCoordinator";
        case kafka::api::join_group: return "JoinGroup";
        case kafka::api::heartbeat: return "Heartbeat";
        case kafka::api::leave_group: return "LeaveGroup";
        case kafka::api::sync_group: return "SyncGroup";
        case kafka::api::describe_groups: return "DescribeGroups";
        case kafka::api::list_groups: return "ListGroups";
        case kafka::api::api_versions: return "ApiVersions";
        case kafka::api::create_topics: return "CreateTopics";
        case kafka::api::delete_topics: return "DeleteTopics";
        default: return std::to_string(key);
    }
}

void register_kafka_metrics(registry& reg, const kafka::server& server, const log::log_store& store) {
    auto st = std::make_shared<scrape_state>();
    st->srv = &server;
    st->store = &store;

    // First family: refreshes the scrape's copy of the server's counters.
    reg.collector("sluice_kafka_requests_total", "Kafka requests received, by API.", metric_type::counter,
                  [st](sample_sink& out) {
                      st->stats = st->srv->stats();
                      const auto& b = st->stats.broker;
                      for (std::int16_t k = 0; k < kafka::api::key_count; ++k) {
                          // Advertised APIs always (so rates start at 0), others once seen.
                          if (kafka::find_api(k) == nullptr && b.requests_by_api[k] == 0) continue;
                          out.sample({{"api", kafka_api_label(k)}}, static_cast<double>(b.requests_by_api[k]));
                      }
                  });
    reg.collector("sluice_kafka_errors_total",
                  "Kafka answers (per partition, per group or per request) carrying a non-zero error code, "
                  "by API and error code.",
                  metric_type::counter, [st](sample_sink& out) {
                      const auto& b = st->stats.broker;
                      for (std::int16_t k = 0; k < kafka::api::key_count; ++k) {
                          for (int i = 0; i < kafka::error::code_max; ++i) {
                              const int code = i - 1;
                              if (code == kafka::error::none || b.answers_by_api_code[k][i] == 0) continue;
                              out.sample({{"api", kafka_api_label(k)}, {"code", std::to_string(code)}},
                                         static_cast<double>(b.answers_by_api_code[k][i]));
                          }
                      }
                  });
    auto scalar = [&reg, st](const char* name, const char* help, metric_type type,
                             std::uint64_t (*get)(const kafka::server_stats&)) {
        reg.collector(name, help, type, [st, get](sample_sink& out) {
            out.sample({}, static_cast<double>(get(st->stats)));
        });
    };
    using kss = kafka::server_stats;
    scalar("sluice_kafka_bytes_in_total", "Bytes received on Kafka connections.", metric_type::counter,
           [](const kss& s) { return s.bytes_in; });
    scalar("sluice_kafka_bytes_out_total", "Bytes sent on Kafka connections.", metric_type::counter,
           [](const kss& s) { return s.bytes_out; });
    scalar("sluice_kafka_connections", "Open Kafka connections.", metric_type::gauge,
           [](const kss& s) { return s.connections_open; });
    scalar("sluice_kafka_connections_total", "Kafka connections accepted.", metric_type::counter,
           [](const kss& s) { return s.connections_accepted; });
    scalar("sluice_kafka_produce_batches_total", "Record batches accepted from Produce requests.",
           metric_type::counter, [](const kss& s) { return s.broker.produce_batches; });
    scalar("sluice_kafka_produce_bytes_total", "Record batch bytes accepted from Produce requests.",
           metric_type::counter, [](const kss& s) { return s.broker.produce_bytes; });
    scalar("sluice_kafka_produce_rejected_total",
           "Produce partitions rejected by validation (bad magic, CRC, framing, control batch).",
           metric_type::counter, [](const kss& s) { return s.broker.produce_rejected_batches; });
    scalar("sluice_kafka_fetch_bytes_total", "Record bytes returned by Fetch.", metric_type::counter,
           [](const kss& s) { return s.broker.fetch_bytes; });
    scalar("sluice_kafka_malformed_requests_total", "Kafka requests that could not be decoded (connection closed).",
           metric_type::counter, [](const kss& s) { return s.broker.malformed_requests; });
    scalar("sluice_kafka_unsupported_requests_total",
           "Kafka requests with an unknown API key or a version not advertised (connection closed).",
           metric_type::counter, [](const kss& s) { return s.broker.unsupported_requests; });
    scalar("sluice_kafka_requests_too_large_total", "Kafka request frames over the size limit (connection closed).",
           metric_type::counter, [](const kss& s) { return s.requests_too_large; });
    scalar("sluice_kafka_idle_timeouts_total", "Kafka connections closed for inactivity.", metric_type::counter,
           [](const kss& s) { return s.idle_timeouts; });
    scalar("sluice_kafka_offset_commits_total", "Partition offsets committed by OffsetCommit.",
           metric_type::counter, [](const kss& s) { return s.broker.offset_commits; });
    scalar("sluice_kafka_rebalances_total", "Consumer group rebalances started.", metric_type::counter,
           [](const kss& s) { return s.broker.rebalances; });
    scalar("sluice_kafka_groups", "Consumer groups held in memory by the group coordinator.", metric_type::gauge,
           [](const kss& s) { return s.broker.groups; });
    scalar("sluice_kafka_append_backlog_bytes",
           "Produce batch bytes queued behind a full log ring (bounded; past it sockets are not read).",
           metric_type::gauge, [](const kss& s) { return s.broker.append_backlog_bytes; });
    scalar("sluice_kafka_append_backlog_stalls_total",
           "Times the Produce backlog reached its bound and the server stopped reading sockets.",
           metric_type::counter, [](const kss& s) { return s.broker.append_backlog_stalls; });
    scalar("sluice_kafka_pending_requests", "Deferred Kafka requests (Produce awaiting durability, long-polled Fetch).",
           metric_type::gauge, [](const kss& s) { return s.broker.pending_requests; });

    reg.callback_histogram("sluice_kafka_produce_ack_seconds",
                           "Produce requests with acks != 0: from handling the request to queueing its answer "
                           "(the batches are durable).",
                           {}, [st] { return to_seconds(st->stats.broker.produce_ack); });
    reg.callback_histogram("sluice_kafka_fetch_wait_seconds",
                           "Time a Fetch request long-polled for min_bytes (0 when answered at once).", {},
                           [st] { return to_seconds(st->stats.broker.fetch_wait); });

    reg.collector("sluice_consumer_group_committed_offset", "Committed offset per consumer group and partition.",
                  metric_type::gauge, [st](sample_sink& out) {
                      st->offsets = st->srv->committed_offsets();  // copy under the offset store's lock
                      for (const auto& e : st->offsets) {
                          out.sample({{"group", e.group}, {"topic", e.topic}, {"partition", std::to_string(e.partition)}},
                                     static_cast<double>(e.offset));
                      }
                  });
    reg.collector("sluice_consumer_lag",
                  "High watermark minus committed offset per consumer group and partition (>= 0); "
                  "absent when the offset is negative or the partition no longer exists.",
                  metric_type::gauge, [st](sample_sink& out) {
                      for (const auto& e : st->offsets) {
                          if (e.offset < 0) continue;
                          auto pi = st->store->find_partition(e.topic, e.partition);
                          if (!pi) continue;
                          const std::int64_t lag = std::max<std::int64_t>(st->store->high_watermark(*pi) - e.offset, 0);
                          out.sample({{"group", e.group}, {"topic", e.topic}, {"partition", std::to_string(e.partition)}},
                                     static_cast<double>(lag));
                      }
                  });
}

}  // namespace sluice::admin
