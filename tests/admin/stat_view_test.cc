// Unit tests of the `sluice stat` model (admin/stat_view.h), the registry's callback histograms
// and the status page's self-containment.
#include <sluice/admin/dashboard_page.h>
#include <sluice/admin/log_metrics.h>
#include <sluice/admin/metrics.h>
#include <sluice/admin/stat_view.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>

using namespace sluice::admin;

namespace {

// A status body shaped like cmd_run's, with the given counters.
std::string status(double received, double stored, double hw0, double hw1, double flushes, double bytes_written,
                   double datagrams) {
    char buf[4096];
    std::snprintf(
        buf, sizeof buf,
        R"({"version":"0.1.0","uptime_ms":65000,"config":{"cores":1},
"topics":[{"name":"events","received":%.0f,"stored":%.0f,"rejected":3,"dropped":2,"in_flight":1,
  "rejected_by_reason":{"not_json":3},"dropped_by_reason":{"allow_list":2},
  "partitions":[{"partition":0,"log_start_offset":0,"high_watermark":%.0f},
                {"partition":1,"log_start_offset":0,"high_watermark":%.0f}],
  "dlq":{"name":"events.dlq","high_watermark":3}}],
"total":{"received":%.0f},
"cores":[{"core":0,"io_uring":true,"datagrams":%.0f,"bytes":%.0f,"scratch_copies":7,"batches":1,"batches_full":0,
  "topics":[{"name":"events","received":%.0f,"stored":%.0f,"rejected":3,"dropped":2,"in_flight":1,
    "rejected_by_reason":{"not_json":3},"dropped_by_reason":{"allow_list":2}}]}],
"log":{"flushes":%.0f,"bytes_written":%.0f,"appends_full":0,"io_errors":0,"no_space_errors":0,
  "fsync_ns_p50":1048576,"fsync_ns_p99":4194304}})",
        received, stored, hw0, hw1, received, datagrams, datagrams * 100, received, stored, flushes, bytes_written);
    return buf;
}

const char* metrics_a = R"(# HELP sluice_partition_bytes_on_disk x
# TYPE sluice_partition_bytes_on_disk gauge
sluice_partition_bytes_on_disk{topic="events",partition="0"} 4096
sluice_partition_bytes_on_disk{topic="events",partition="1"} 8192
# TYPE sluice_fsync_latency_seconds histogram
sluice_fsync_latency_seconds_bucket{le="0.001"} 10
sluice_fsync_latency_seconds_bucket{le="0.002"} 20
sluice_fsync_latency_seconds_bucket{le="0.004"} 20
sluice_fsync_latency_seconds_bucket{le="+Inf"} 20
sluice_fsync_latency_seconds_sum 0.03
sluice_fsync_latency_seconds_count 20
sluice_consumer_group_committed_offset{group="g1",topic="events",partition="0"} 40
)";
const char* metrics_b = R"(sluice_partition_bytes_on_disk{topic="events",partition="0"} 5000
sluice_partition_bytes_on_disk{topic="events",partition="1"} 9000
sluice_fsync_latency_seconds_bucket{le="0.001"} 10
sluice_fsync_latency_seconds_bucket{le="0.002"} 20
sluice_fsync_latency_seconds_bucket{le="0.004"} 120
sluice_fsync_latency_seconds_bucket{le="+Inf"} 120
sluice_consumer_group_committed_offset{group="g1",topic="events",partition="0"} 90
)";

}  // namespace

TEST(prometheus_text, parses_labels_escapes_and_special_values) {
    auto s = parse_prometheus_text(
        "# HELP a b\nfoo 1\nbar{x=\"a\\\"b\",y=\"c\\\\d\"} 2.5 1700000000\nbaz{le=\"+Inf\"} +Inf\nbroken{x=\"} 1\n\n");
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].name, "foo");
    EXPECT_EQ(s[0].value, 1);
    EXPECT_EQ(s[1].name, "bar");
    ASSERT_NE(s[1].label("x"), nullptr);
    EXPECT_EQ(*s[1].label("x"), "a\"b");
    EXPECT_EQ(*s[1].label("y"), "c\\d");
    EXPECT_EQ(s[1].value, 2.5);
    EXPECT_TRUE(std::isinf(s[2].value));
    EXPECT_EQ(s[1].label("nope"), nullptr);
}

TEST(stat_view, rejects_non_json_status) {
    stat_sample s;
    std::string err;
    EXPECT_FALSE(parse_stat_sample("<html>", "", 0, &s, &err));
    EXPECT_NE(err.find("not JSON"), std::string::npos);
    EXPECT_FALSE(parse_stat_sample("[1,2]", "", 0, &s, &err));
}

TEST(stat_view, rates_between_two_samples) {
    stat_sample a, b;
    std::string err;
    ASSERT_TRUE(parse_stat_sample(status(1000, 900, 400, 500, 10, 1 << 20, 100), metrics_a, 10.0, &a, &err)) << err;
    ASSERT_TRUE(parse_stat_sample(status(3000, 2900, 1400, 1500, 30, 3 << 20, 300), metrics_b, 12.0, &b, &err)) << err;
    ASSERT_EQ(b.topics.size(), 1u);
    ASSERT_EQ(b.topics[0].partitions.size(), 2u);
    EXPECT_EQ(b.topics[0].partitions[1].bytes_on_disk, 9000);
    EXPECT_EQ(b.topics[0].dlq_high_watermark, 3);
    ASSERT_EQ(b.groups.size(), 1u);
    EXPECT_EQ(b.groups[0].lag, 1400 - 90);  // high watermark - committed

    const stat_view v = compute_stat_view(&a, b, "127.0.0.1:9644");
    EXPECT_DOUBLE_EQ(v.interval_s, 2.0);
    ASSERT_EQ(v.topics.size(), 1u);
    EXPECT_DOUBLE_EQ(v.topics[0].received_s, 1000);
    EXPECT_DOUBLE_EQ(v.topics[0].stored_s, 1000);
    EXPECT_DOUBLE_EQ(v.topics[0].partition_events_s[0], 500);
    EXPECT_DOUBLE_EQ(v.cores[0].packets_s, 100);
    EXPECT_DOUBLE_EQ(v.cores[0].bytes_s, 10000);
    EXPECT_DOUBLE_EQ(v.cores[0].events_s, 1000);
    EXPECT_EQ(b.cores[0].drops_by_reason.at("allow_list"), 2);
    EXPECT_EQ(b.cores[0].parse_failures_by_reason.at("not_json"), 3);
    EXPECT_DOUBLE_EQ(v.log.flushes_s, 10);
    EXPECT_DOUBLE_EQ(v.log.bytes_written_s, 1 << 20);
    // Interval histogram: the 100 new flushes all fell in (2 ms, 4 ms].
    EXPECT_EQ(v.log.fsync_window, "interval");
    EXPECT_NEAR(v.log.fsync_p50_s, 0.003, 1e-9);
    EXPECT_NEAR(v.log.fsync_p99_s, 0.00398, 1e-9);

    const std::string j = render_stat_json(v);
    EXPECT_NE(j.find("\"received_per_s\":1000"), std::string::npos) << j;
    EXPECT_NE(j.find("\"bytes_on_disk\":14000"), std::string::npos) << j;
    EXPECT_NE(j.find("\"fsync_latency_window\":\"interval\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"lag\":1310"), std::string::npos) << j;
    EXPECT_EQ(j.back(), '\n');

    const std::string t = render_stat_text(v, 100, 40, false);
    EXPECT_NE(t.find("events"), std::string::npos);
    EXPECT_NE(t.find("1.00k"), std::string::npos) << t;
    EXPECT_NE(t.find("allow_list=2"), std::string::npos) << t;
    EXPECT_NE(t.find("g1"), std::string::npos) << t;
    int lines = 0;
    std::size_t pos = 0, prev = 0;
    while ((pos = t.find('\n', prev)) != std::string::npos) {
        EXPECT_LE(pos - prev, 100u);
        prev = pos + 1;
        ++lines;
    }
    EXPECT_LE(lines, 40);
    // A tiny screen is cut, never overflowed.
    const std::string small = render_stat_text(v, 40, 6, true);
    int n = 0;
    for (char c : small) n += c == '\n';
    EXPECT_LE(n, 6);
}

TEST(stat_view, counters_going_backwards_give_zero_rate) {
    stat_sample a, b;
    std::string err;
    ASSERT_TRUE(parse_stat_sample(status(5000, 5000, 10, 10, 5, 100, 50), "", 1.0, &a, &err));
    ASSERT_TRUE(parse_stat_sample(status(10, 10, 5, 5, 1, 10, 5), "", 2.0, &b, &err));
    const stat_view v = compute_stat_view(&a, b, "x");
    EXPECT_EQ(v.topics[0].received_s, 0);
    EXPECT_EQ(v.cores[0].packets_s, 0);
    // No histogram in /metrics: percentiles since start from the status.
    EXPECT_EQ(v.log.fsync_window, "since_start");
    EXPECT_NEAR(v.log.fsync_p99_s, 4194304e-9, 1e-12);
}

TEST(stat_view, histogram_quantile_interpolates) {
    EXPECT_EQ(histogram_quantile(0.5, {}), -1);
    EXPECT_EQ(histogram_quantile(0.5, {{1, 0}, {INFINITY, 0}}), -1);
    EXPECT_DOUBLE_EQ(histogram_quantile(0.5, {{1, 10}, {2, 20}, {INFINITY, 20}}), 1.0);
    EXPECT_DOUBLE_EQ(histogram_quantile(0.75, {{1, 10}, {2, 20}, {INFINITY, 20}}), 1.5);
    EXPECT_DOUBLE_EQ(histogram_quantile(0.99, {{1, 10}, {2, 10}, {INFINITY, 20}}), 2.0);  // +Inf bucket
}

TEST(stat_view, formatting) {
    EXPECT_EQ(format_si(999), "999");
    EXPECT_EQ(format_si(1234567), "1.23M");
    EXPECT_EQ(format_bytes(1536), "1.5 KiB");
    EXPECT_EQ(format_bytes(-1), "?");
    EXPECT_EQ(format_seconds(0.0012), "1.20 ms");
    EXPECT_EQ(format_seconds(0.00085), "850 us");
}

TEST(registry, callback_histogram_exposition) {
    registry reg(1);
    reg.callback_histogram("lat_seconds", "Latency.", {{"dev", "a"}}, [] {
        histogram_snapshot h;
        h.upper_bounds = {0.001048576, 0.5};
        h.counts = {3, 4, 1};
        h.sum = 1.25;
        return h;
    });
    const std::string t = reg.exposition();
    EXPECT_NE(t.find("# TYPE lat_seconds histogram\n"), std::string::npos) << t;
    EXPECT_NE(t.find("lat_seconds_bucket{dev=\"a\",le=\"0.001048576\"} 3\n"), std::string::npos) << t;
    EXPECT_NE(t.find("lat_seconds_bucket{dev=\"a\",le=\"0.5\"} 7\n"), std::string::npos) << t;
    EXPECT_NE(t.find("lat_seconds_bucket{dev=\"a\",le=\"+Inf\"} 8\n"), std::string::npos) << t;
    EXPECT_NE(t.find("lat_seconds_sum{dev=\"a\"} 1.25\n"), std::string::npos) << t;
    EXPECT_NE(t.find("lat_seconds_count{dev=\"a\"} 8\n"), std::string::npos) << t;
    // Round trip through the stat parser.
    stat_sample s;
    std::string err;
    ASSERT_TRUE(parse_stat_sample("{}", "", 0, &s, &err));
}

TEST(log_metrics, fsync_bucket_bounds_are_log2_nanoseconds) {
    EXPECT_DOUBLE_EQ(fsync_bucket_upper_seconds(0), 2e-9);
    EXPECT_DOUBLE_EQ(fsync_bucket_upper_seconds(19), 1048576e-9);
}

TEST(dashboard_page, self_contained_and_polls_both_endpoints) {
    const std::string_view p = dashboard_page();
    EXPECT_EQ(p.substr(0, 15), "<!doctype html>");
    EXPECT_NE(p.find("/v1/status"), std::string_view::npos);
    EXPECT_NE(p.find("/metrics"), std::string_view::npos);
    EXPECT_NE(p.find("<canvas"), std::string_view::npos);
    // No external resources: no http(s) URLs, no src= or href= to other hosts.
    EXPECT_EQ(p.find("http://"), std::string_view::npos);
    EXPECT_EQ(p.find("https://"), std::string_view::npos);
    EXPECT_EQ(p.find("src=\""), std::string_view::npos);
    EXPECT_EQ(p.find("<link"), std::string_view::npos);
}
