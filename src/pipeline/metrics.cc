// Metrics of the pipeline: collectors over the per-core counter blocks (control thread only).
// Compiled against the admin headers; executables calling register_metrics link sluice_admin.

#include "pipeline_impl.h"

#include <sluice/admin/metrics.h>

#include <cstdlib>
#include <string>

namespace sluice::pipeline {

void pipeline_set::register_metrics(admin::registry& reg) {
    impl* m = _impl.get();
    pipeline_set* self = this;
    // The first family of a scrape takes the snapshot; the registry calls collectors in
    // registration order under its lock, so the later families of the same scrape reuse it and
    // one scrape balances exactly. scrape_mu guards the cached snapshot.
    // The first family of a scrape takes the snapshot (under scrape_mu, its own lock: the
    // registry calls collectors in registration order under its lock); the others reuse it, so
    // the families of one scrape balance exactly.
    reg.collector("sluice_events_received_total", "Events received by the pipelines, per topic.",
                  admin::metric_type::counter, [self, m](admin::sample_sink& out) {
                      counters_snapshot snap = self->counters();
                      std::lock_guard lk(m->scrape_mu);
                      m->scrape = std::move(snap);
                      for (std::size_t t = 0; t < m->scrape.topics.size(); ++t)
                          out.sample({{"topic", m->scrape.topic_names[t]}},
                                     static_cast<double>(m->scrape.topics[t].received));
                  });
    reg.collector("sluice_events_stored_total", "Events durable in the log, per topic.",
                  admin::metric_type::counter, [m](admin::sample_sink& out) {
                      std::lock_guard lk(m->scrape_mu);
                      for (std::size_t t = 0; t < m->scrape.topics.size(); ++t)
                          out.sample({{"topic", m->scrape.topic_names[t]}},
                                     static_cast<double>(m->scrape.topics[t].stored));
                  });
    reg.collector("sluice_events_rejected_total",
                  "Events rejected by validation and handed to the topic's DLQ, per reason.",
                  admin::metric_type::counter, [m](admin::sample_sink& out) {
                      std::lock_guard lk(m->scrape_mu);
                      for (std::size_t t = 0; t < m->scrape.topics.size(); ++t) {
                          const auto& c = m->scrape.topics[t];
                          for (std::size_t r = 1; r < c.rejected.size(); ++r)
                              out.sample({{"topic", m->scrape.topic_names[t]},
                                          {"reason", std::string(event::to_string(
                                                         static_cast<event::reject_reason>(r)))}},
                                         static_cast<double>(c.rejected[r]));
                      }
                  });
    reg.collector("sluice_events_dropped_total", "Events dropped, per topic and reason.",
                  admin::metric_type::counter, [m](admin::sample_sink& out) {
                      std::lock_guard lk(m->scrape_mu);
                      for (std::size_t t = 0; t < m->scrape.topics.size(); ++t) {
                          const auto& c = m->scrape.topics[t];
                          for (std::size_t r = 0; r < c.dropped.size(); ++r)
                              out.sample({{"topic", m->scrape.topic_names[t]},
                                          {"reason", std::string(to_string(
                                                         static_cast<drop_reason>(r)))}},
                                         static_cast<double>(c.dropped[r]));
                      }
                  });
    reg.collector("sluice_events_in_flight",
                  "Events accepted but not yet durable (or not yet handed to the DLQ), per topic.",
                  admin::metric_type::gauge, [m](admin::sample_sink& out) {
                      std::lock_guard lk(m->scrape_mu);
                      for (std::size_t t = 0; t < m->scrape.topics.size(); ++t)
                          out.sample({{"topic", m->scrape.topic_names[t]}},
                                     static_cast<double>(m->scrape.topics[t].in_flight));
                  });
    auto per_core = [&reg, m](const char* name, const char* help,
                              std::uint64_t core_counters::*field) {
        reg.collector(name, help, admin::metric_type::counter, [m, field](admin::sample_sink& out) {
            std::lock_guard lk(m->scrape_mu);
            for (std::size_t c = 0; c < m->scrape.cores.size(); ++c)
                out.sample({{"core", std::to_string(c)}},
                           static_cast<double>(m->scrape.cores[c].*field));
        });
    };
    per_core("sluice_pipeline_datagrams_total", "Datagrams handled per pipeline core.",
             &core_counters::datagrams);
    per_core("sluice_pipeline_bytes_total", "Datagram payload bytes handled per pipeline core.",
             &core_counters::bytes);
    per_core("sluice_pipeline_scratch_copies_total",
             "Events the parser copied to its padded scratch buffer (no in-place padding).",
             &core_counters::scratch_copies);
    per_core("sluice_pipeline_batches_total", "Record batches handed to the log per core.",
             &core_counters::batches_appended);
    per_core("sluice_pipeline_batches_full_total",
             "Record batches refused by a full appender ring (backpressure) per core.",
             &core_counters::batches_full);
    reg.collector("sluice_pipeline_durable_latency_us",
                  "Receive -> durable latency of stored events, microseconds (upper bound of the "
                  "log2 bucket holding the quantile; since start).",
                  admin::metric_type::gauge, [m](admin::sample_sink& out) {
                      std::lock_guard lk(m->scrape_mu);
                      for (const char* q : {"0.5", "0.99", "0.999"})
                          out.sample({{"quantile", q}},
                                     static_cast<double>(m->scrape.durable_latency_us(std::atof(q))));
                  });
    // The same buckets as a Prometheus histogram (le in seconds: 1 us .. 2^30 us, the last bucket
    // only in +Inf); _count equals the events stored through the log in the same scrape.
    reg.callback_histogram(
        "sluice_pipeline_durable_latency_seconds",
        "Receive -> durable latency of stored events: each event counts with the latency of its "
        "batch's first event (an upper bound), from receive to the batch being durable.",
        {}, [m] {
            admin::histogram_snapshot h;
            h.counts.assign(latency_buckets, 0);
            h.upper_bounds.reserve(latency_buckets - 1);
            for (std::size_t b = 0; b + 1 < latency_buckets; ++b)
                h.upper_bounds.push_back(static_cast<double>(std::uint64_t{1} << b) / 1e6);
            std::uint64_t sum_us = 0;
            std::lock_guard lk(m->scrape_mu);
            for (const auto& c : m->scrape.cores) {
                for (std::size_t b = 0; b < latency_buckets; ++b) h.counts[b] += c.durable_latency_log2[b];
                sum_us += c.durable_latency_sum_us;
            }
            h.sum = static_cast<double>(sum_us) / 1e6;
            return h;
        });
    reg.collector("sluice_partition_high_watermark",
                  "Durable offset (high watermark) per topic partition.", admin::metric_type::gauge,
                  [m](admin::sample_sink& out) {
                      for (const auto& t : m->store->topics()) {
                          for (std::int32_t p = 0; p < t.partitions; ++p) {
                              const partition_index pi{t.first.value() + static_cast<std::uint32_t>(p)};
                              out.sample({{"topic", t.name}, {"partition", std::to_string(p)}},
                                         static_cast<double>(m->store->high_watermark(pi)));
                          }
                      }
                  });
}

}  // namespace sluice::pipeline
