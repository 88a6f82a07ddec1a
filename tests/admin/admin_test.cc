#include <sluice/admin/http_server.h>
#include <sluice/admin/metrics.h>
#include <sluice_config.h>

#include <gtest/gtest.h>

#include <thread>

#if SLUICE_HAVE_HTTPLIB
#include <httplib.h>
#endif

using namespace sluice::admin;

TEST(metrics, exposition_golden) {
    registry reg(2);
    auto recv = reg.counter("sluice_events_received_total", "Events received.", {{"topic", "events"}});
    auto rej = reg.counter("sluice_events_rejected_total", "Events rejected (in the DLQ).",
                           {{"topic", "events"}, {"reason", "not_json"}});
    auto rej2 = reg.counter("sluice_events_rejected_total", "Events rejected (in the DLQ).",
                            {{"topic", "we\"ird\\to\npic"}, {"reason", "missing_field"}});
    auto infl = reg.gauge("sluice_events_in_flight", "Events received, not yet durable.",
                          {{"topic", "events"}});
    auto lat = reg.histogram("sluice_ingest_latency_us", "Receive to durable, microseconds.",
                             {{"topic", "events"}}, 4);
    reg.callback_gauge("sluice_up", "Help with \\ and\nnewline.", {}, [] { return 1.0; });
    reg.collector("sluice_partition_high_watermark", "High watermark per partition.",
                  metric_type::gauge, [](sample_sink& s) {
                      s.sample({{"topic", "events"}, {"partition", "0"}}, 42);
                      s.sample({{"topic", "events"}, {"partition", "1"}}, 0.5);
                  });

    reg.cell(recv, 0).add(10);
    reg.cell(recv, 1).add(5);
    reg.cell(rej, 1).inc();
    reg.cell(rej2, 0).add(2);
    reg.cell(infl, 0).add(15);   // pipeline shard
    reg.cell(infl, 1).sub(12);   // writer shard
    auto h0 = reg.cell(lat, 0);
    auto h1 = reg.cell(lat, 1);
    h0.observe(0);   // le=1
    h0.observe(1);   // le=1
    h0.observe(3);   // le=4
    h1.observe(8);   // le=8
    h1.observe(9);   // +Inf
    h1.observe(1000);

    // Registering the same series again returns the same id.
    EXPECT_EQ(reg.counter("sluice_events_received_total", "Events received.", {{"topic", "events"}}).series,
              recv.series);
    EXPECT_EQ(reg.value(recv), 15u);
    EXPECT_EQ(reg.value(infl), 3);

    const std::string expected =
        "# HELP sluice_events_received_total Events received.\n"
        "# TYPE sluice_events_received_total counter\n"
        "sluice_events_received_total{topic=\"events\"} 15\n"
        "# HELP sluice_events_rejected_total Events rejected (in the DLQ).\n"
        "# TYPE sluice_events_rejected_total counter\n"
        "sluice_events_rejected_total{topic=\"events\",reason=\"not_json\"} 1\n"
        "sluice_events_rejected_total{topic=\"we\\\"ird\\\\to\\npic\",reason=\"missing_field\"} 2\n"
        "# HELP sluice_events_in_flight Events received, not yet durable.\n"
        "# TYPE sluice_events_in_flight gauge\n"
        "sluice_events_in_flight{topic=\"events\"} 3\n"
        "# HELP sluice_ingest_latency_us Receive to durable, microseconds.\n"
        "# TYPE sluice_ingest_latency_us histogram\n"
        "sluice_ingest_latency_us_bucket{topic=\"events\",le=\"1\"} 2\n"
        "sluice_ingest_latency_us_bucket{topic=\"events\",le=\"2\"} 2\n"
        "sluice_ingest_latency_us_bucket{topic=\"events\",le=\"4\"} 3\n"
        "sluice_ingest_latency_us_bucket{topic=\"events\",le=\"8\"} 4\n"
        "sluice_ingest_latency_us_bucket{topic=\"events\",le=\"+Inf\"} 6\n"
        "sluice_ingest_latency_us_sum{topic=\"events\"} 1021\n"
        "sluice_ingest_latency_us_count{topic=\"events\"} 6\n"
        "# HELP sluice_up Help with \\\\ and\\nnewline.\n"
        "# TYPE sluice_up gauge\n"
        "sluice_up 1\n"
        "# HELP sluice_partition_high_watermark High watermark per partition.\n"
        "# TYPE sluice_partition_high_watermark gauge\n"
        "sluice_partition_high_watermark{topic=\"events\",partition=\"0\"} 42\n"
        "sluice_partition_high_watermark{topic=\"events\",partition=\"1\"} 0.5\n";
    EXPECT_EQ(reg.exposition(), expected);
}

TEST(metrics, histogram_bucket_of) {
    EXPECT_EQ(histogram_cell::bucket_of(0, 24), 0u);
    EXPECT_EQ(histogram_cell::bucket_of(1, 24), 0u);
    EXPECT_EQ(histogram_cell::bucket_of(2, 24), 1u);
    EXPECT_EQ(histogram_cell::bucket_of(3, 24), 2u);
    EXPECT_EQ(histogram_cell::bucket_of(4, 24), 2u);
    EXPECT_EQ(histogram_cell::bucket_of(5, 24), 3u);
    EXPECT_EQ(histogram_cell::bucket_of(1u << 23, 24), 23u);
    EXPECT_EQ(histogram_cell::bucket_of((1u << 23) + 1, 24), 24u);  // +Inf
    EXPECT_EQ(histogram_cell::bucket_of(~0ull, 24), 24u);
}

TEST(metrics, format_value) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(-3), "-3");
    EXPECT_EQ(format_value(0.25), "0.25");
    EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
    EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
    EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(metrics, default_cells_are_harmless) {
    counter_cell c;
    gauge_cell g;
    histogram_cell h;
    c.add(3);
    g.add(-1);
    h.observe(5);
    SUCCEED();  // would crash if default cells pointed nowhere
}

TEST(metrics, concurrent_increments_from_two_threads_sum_exactly) {
    registry reg(2);
    auto id = reg.counter("sluice_test_total", "Test.", {});
    auto hid = reg.histogram("sluice_test_us", "Test.", {}, 8);
    // Many series so both shards' cells span several cache lines and chunks.
    for (int i = 0; i < 600; ++i) {
        (void)reg.counter("sluice_filler_total", "Filler.", {{"i", std::to_string(i)}});
    }
    auto id2 = reg.counter("sluice_test2_total", "Test.", {});
    constexpr std::uint64_t n = 1'000'000;
    auto work = [&](std::uint32_t shard) {
        auto c = reg.cell(id, shard);
        auto c2 = reg.cell(id2, shard);
        auto h = reg.cell(hid, shard);
        for (std::uint64_t i = 0; i < n; ++i) {
            c.inc();
            c2.add(2);
            if ((i & 1023) == 0) h.observe(i & 7);
        }
    };
    std::thread t0(work, 0), t1(work, 1);
    // Scrape concurrently while they run (must be safe, values monotonic).
    std::uint64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        std::uint64_t v = reg.value(id);
        EXPECT_GE(v, last);
        last = v;
        (void)reg.exposition();
    }
    t0.join();
    t1.join();
    EXPECT_EQ(reg.value(id), 2 * n);
    EXPECT_EQ(reg.value(id2), 4 * n);
    const std::string text = reg.exposition();
    EXPECT_NE(text.find("sluice_test_total 2000000\n"), std::string::npos);
    EXPECT_NE(text.find("sluice_test_us_count 1954\n"), std::string::npos) << text.substr(0, 2000);

    // Shared cells: several threads on one shard with fetch_add.
    auto shared = reg.cell(id, 0);
    std::thread a([&] { for (int i = 0; i < 100000; ++i) shared.add_shared(1); });
    std::thread b([&] { for (int i = 0; i < 100000; ++i) shared.add_shared(1); });
    a.join();
    b.join();
    EXPECT_EQ(reg.value(id), 2 * n + 200000);
}

#if SLUICE_HAVE_HTTPLIB
TEST(http, roundtrip_on_ephemeral_port) {
    registry reg(1);
    auto id = reg.counter("sluice_events_received_total", "Events received.", {{"topic", "events"}});
    reg.cell(id, 0).add(7);
    http_server srv(reg, [] { return std::string("{\"state\":\"running\"}"); });
    srv.add_route("/extra", "text/plain", [] { return std::string("extra\n"); });
    std::string err;
    ASSERT_TRUE(srv.start("127.0.0.1", 0, &err)) << err;
    ASSERT_NE(srv.port(), 0);

    httplib::Client cli("127.0.0.1", srv.port());
    cli.set_connection_timeout(5);
    cli.set_read_timeout(5);
    auto m = cli.Get("/metrics");
    ASSERT_TRUE(m) << httplib::to_string(m.error());
    EXPECT_EQ(m->status, 200);
    EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(m->body.find("sluice_events_received_total{topic=\"events\"} 7\n"), std::string::npos)
        << m->body;

    auto s = cli.Get("/v1/status");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->status, 200);
    EXPECT_EQ(s->body, "{\"state\":\"running\"}");
    EXPECT_EQ(s->get_header_value("Content-Type"), "application/json");

    auto root = cli.Get("/");
    ASSERT_TRUE(root);
    EXPECT_EQ(root->status, 200);
    EXPECT_NE(root->body.find("/metrics"), std::string::npos);

    auto extra = cli.Get("/extra");
    ASSERT_TRUE(extra);
    EXPECT_EQ(extra->body, "extra\n");

    auto missing = cli.Get("/nope");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);

    // A second server cannot bind the same port: clear error naming the setting.
    http_server srv2(reg, {});
    EXPECT_FALSE(srv2.start("127.0.0.1", srv.port(), &err));
    EXPECT_NE(err.find("admin.listen 127.0.0.1:"), std::string::npos) << err;

    srv.stop();
    srv.stop();  // idempotent
    auto after = cli.Get("/metrics");
    EXPECT_FALSE(after);
}

TEST(http, start_then_immediate_stop) {
    registry reg(1);
    for (int i = 0; i < 20; ++i) {
        http_server srv(reg, {});
        std::string err;
        ASSERT_TRUE(srv.start("127.0.0.1", 0, &err)) << err;
        srv.stop();
    }
}
#endif
