#include <sluice/admin/log_metrics.h>

#include <sluice/log/log_store.h>

#include <string>

namespace sluice::admin {

namespace {
constexpr int fsync_first_exported_bucket = 9;  // [2^9, 2^10) ns: le = 1.024e-06 s
}  // namespace

double fsync_bucket_upper_seconds(int b) noexcept {
    return static_cast<double>(std::uint64_t{1} << (b + 1)) * 1e-9;
}

void register_log_metrics(registry& reg, const log::log_store& store) {
    const log::log_store* st = &store;
    reg.callback_histogram(
        "sluice_fsync_latency_seconds",
        "Latency of the log writer's fdatasync calls (group commit), since start.", {}, [st] {
            const log::store_stats s = st->stats();
            histogram_snapshot h;
            constexpr int n = log::store_stats::fsync_hist_buckets;
            // Buckets below ~1 us carry no information for fdatasync: fold them into the first
            // exported one (le = 1.024e-06). The last log bucket is open-ended: it becomes +Inf.
            h.upper_bounds.reserve(n - fsync_first_exported_bucket);
            h.counts.reserve(n - fsync_first_exported_bucket);
            std::uint64_t low = 0;
            for (int b = 0; b <= fsync_first_exported_bucket; ++b) low += s.fsync_ns_hist[static_cast<std::size_t>(b)];
            h.counts.push_back(low);
            h.upper_bounds.push_back(fsync_bucket_upper_seconds(fsync_first_exported_bucket));
            for (int b = fsync_first_exported_bucket + 1; b < n; ++b) {
                h.counts.push_back(s.fsync_ns_hist[static_cast<std::size_t>(b)]);
                if (b + 1 < n) h.upper_bounds.push_back(fsync_bucket_upper_seconds(b));
            }
            h.sum = static_cast<double>(s.fsync_ns_sum) * 1e-9;
            return h;
        });
    reg.collector("sluice_log_flushes_total", "fdatasync calls completed by the log writer.",
                  metric_type::counter, [st](sample_sink& out) {
                      out.sample({}, static_cast<double>(st->stats().flushes));
                  });
    reg.collector("sluice_log_bytes_written_total", "Bytes written to segments by the log writer.",
                  metric_type::counter, [st](sample_sink& out) {
                      out.sample({}, static_cast<double>(st->stats().bytes_written));
                  });
    auto per_partition = [&reg, st](const char* name, const char* help,
                                    std::int64_t log::partition_stats::*field) {
        reg.collector(name, help, metric_type::gauge, [st, field](sample_sink& out) {
            for (const auto& t : st->topics()) {
                for (std::int32_t p = 0; p < t.partitions; ++p) {
                    const partition_index pi{t.first.value() + static_cast<std::uint32_t>(p)};
                    out.sample({{"topic", t.name}, {"partition", std::to_string(p)}},
                               static_cast<double>(st->stats(pi).*field));
                }
            }
        });
    };
    per_partition("sluice_partition_bytes_on_disk", "Segment bytes on disk per topic partition.",
                  &log::partition_stats::bytes_on_disk);
    per_partition("sluice_partition_log_start_offset",
                  "First readable offset (after retention) per topic partition.",
                  &log::partition_stats::log_start_offset);
    per_partition("sluice_partition_segments", "Segment files per topic partition.",
                  &log::partition_stats::segments);
}

}  // namespace sluice::admin
