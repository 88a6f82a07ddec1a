// Unit tests of the per-core pipeline against a log_store on the in-memory storage backend.

#include <sluice/admin/metrics.h>
#include <sluice/base/clock.h>
#include <sluice/config/config.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/log/partitioner.h>
#include <sluice/log/record_batch.h>
#include <sluice/pipeline/pipeline.h>

#include <gtest/gtest.h>

#include "tests/log/log_test_util.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice;
using pipeline::drop_reason;
using pipeline::pipeline_options;
using pipeline::pipeline_set;
using pipeline::topic_route;

// Golden data (/work/shared/data/temp_readings.ndjson and temp_clean.expected.ndjson).
const std::vector<std::string> temp_readings = {
    R"({"sensor_id":42,"time_epoch":1551136074,"reading":13.05})",
    R"({"sensor_id":42,"time_epoch":1551136125,"reading":13.11})",
    R"({"sensor_id":null,"time_epoch":1551136125,"reading":13.11})",
    R"({"sensor_id":42,"time_epoch":1551138129,"reading":13.04})",
};
const std::vector<std::string> temp_clean = {
    R"({"sensor_id":42,"time_epoch":1551136074,"reading":13.05})",
    R"({"sensor_id":42,"time_epoch":1551136125,"reading":13.11})",
    R"({"sensor_id":42,"time_epoch":1551138129,"reading":13.04})",
};

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

log::store_options mem_options(std::shared_ptr<log::memory_storage> st, std::size_t ring = 1 << 20) {
    log::store_options o;
    o.data_dir = "/data";
    o.backend = std::move(st);
    o.flush_interval_us = 500;
    o.ring_bytes = ring;
    o.max_partitions = 64;
    o.max_appenders = 8;
    return o;
}

using record = log::testing::read_record;

// Every record of a partition, each batch checked (log::testing::read_all).
std::vector<record> read_partition(const log::log_store& s, partition_index p) {
    std::string problem;
    auto out = log::testing::read_all(s, p, -1, &problem);
    if (!problem.empty()) ADD_FAILURE() << problem;
    return out;
}

// A datagram payload with 64 bytes of tailroom (so the parser runs in place).
struct owned_datagram {
    std::string buf;
    pipeline::datagram d;
    owned_datagram(const std::string& payload, std::uint16_t port,
                   net::ip_address src = net::ip_address::v4(127, 0, 0, 1),
                   std::uint16_t src_port = 40000) {
        buf = payload + std::string(64, ' ');
        d.payload = bytes_view(reinterpret_cast<const std::byte*>(buf.data()), payload.size());
        d.tailroom = 64;
        d.src = src;
        d.src_port = src_port;
        d.dst_port = port;
    }
};

struct fixture {
    std::shared_ptr<log::memory_storage> mem = std::make_shared<log::memory_storage>();
    std::unique_ptr<log::log_store> store;
    std::unique_ptr<pipeline_set> set;
    std::unique_ptr<pipeline::pipeline> p;

    explicit fixture(pipeline_options opts, std::int32_t partitions = 4, bool start = true,
                     std::size_t ring = 1 << 20) {
        std::string err;
        store = log::log_store::open(mem_options(mem, ring), &err);
        if (!store) {
            ADD_FAILURE() << err;
            return;
        }
        for (const auto& t : opts.topics) {
            log::topic_spec spec;
            spec.name = t.name;
            spec.partitions = partitions;
            EXPECT_EQ(store->create_topic(spec, &err), errc::ok) << err;
            spec.name = t.name + ".dlq";
            spec.partitions = 1;
            EXPECT_EQ(store->create_topic(spec, &err), errc::ok) << err;
        }
        if (start) store->start();
        set = pipeline_set::make(*store, std::move(opts), &err);
        if (!set) {
            ADD_FAILURE() << err;
            return;
        }
        p = set->make_pipeline(0, &err);
        if (!p) ADD_FAILURE() << err;
    }

    void send(const std::vector<owned_datagram>& ds) {
        std::vector<pipeline::datagram> burst;
        for (const auto& d : ds) burst.push_back(d.d);
        EXPECT_EQ(p->process(burst), burst.size());
    }

    // Flushes and polls until nothing is in flight (bounded: 10 s).
    bool drain() {
        p->flush();
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            p->poll(mono_ns());
            if (p->in_flight() == 0) return true;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return p->in_flight() == 0;
    }

    // DLQ records count as rejected once handed to the log; waits (bounded) until durable.
    bool wait_hwm(const std::string& topic, std::int32_t n, std::int64_t hwm) const {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (store->high_watermark(part(topic, n)) < hwm && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        return store->high_watermark(part(topic, n)) >= hwm;
    }

    partition_index part(const std::string& topic, std::int32_t n) const {
        auto pi = store->find_partition(topic, n);
        EXPECT_TRUE(pi.has_value());
        return pi.value_or(partition_index{0});
    }
};

topic_route temp_route(std::uint16_t port = 5140) {
    topic_route r;
    r.name = "temp_readings";
    r.port = port;
    r.rules.key_pointer = "/sensor_id";
    r.rules.require_pointers = {"/sensor_id"};
    r.rules.timestamp_pointer = "/time_epoch";
    return r;
}

topic_route plain_route(const std::string& name, std::uint16_t port) {
    topic_route r;
    r.name = name;
    r.port = port;
    return r;
}

std::uint64_t dropped(const pipeline::topic_counters& c, drop_reason r) {
    return c.dropped[static_cast<std::size_t>(r)];
}
std::uint64_t rejected(const pipeline::topic_counters& c, event::reject_reason r) {
    return c.rejected[static_cast<std::size_t>(r)];
}

void check_golden(fixture& f) {
    ASSERT_TRUE(f.drain());
    const std::int32_t expect_p = log::partition_for_key(as_bytes("42"), 4);
    for (std::int32_t p = 0; p < 4; ++p) {
        auto recs = read_partition(*f.store, f.part("temp_readings", p));
        if (p != expect_p) {
            EXPECT_TRUE(recs.empty()) << "partition " << p;
            continue;
        }
        ASSERT_EQ(recs.size(), temp_clean.size());
        const std::int64_t ts[] = {1551136074000, 1551136125000, 1551138129000};
        for (std::size_t i = 0; i < recs.size(); ++i) {
            EXPECT_EQ(recs[i].offset, static_cast<std::int64_t>(i));
            EXPECT_EQ(recs[i].value, temp_clean[i]);
            EXPECT_EQ(recs[i].key, std::optional<std::string>("42"));
            EXPECT_EQ(recs[i].timestamp, ts[i]);
            EXPECT_EQ(recs[i].headers["src"], "127.0.0.1:40000");
        }
    }
    ASSERT_TRUE(f.wait_hwm("temp_readings.dlq", 0, 1));
    auto dlq = read_partition(*f.store, f.part("temp_readings.dlq", 0));
    ASSERT_EQ(dlq.size(), 1u);
    EXPECT_EQ(dlq[0].value, temp_readings[2]);
    EXPECT_FALSE(dlq[0].key.has_value());
    EXPECT_EQ(dlq[0].headers["reason"], "missing_field");
    EXPECT_EQ(dlq[0].headers["source"], "127.0.0.1:40000");

    auto snap = f.set->counters();
    ASSERT_EQ(snap.topic_names.size(), 2u);
    EXPECT_EQ(snap.topic_names[0], "temp_readings");
    EXPECT_EQ(snap.topic_names[1], "_unrouted");
    const auto& c = snap.topics[0];
    EXPECT_EQ(c.received, 4u);
    EXPECT_EQ(c.stored, 3u);
    EXPECT_EQ(rejected(c, event::reject_reason::missing_field), 1u);
    EXPECT_EQ(c.rejected_total(), 1u);
    EXPECT_EQ(c.dropped_total(), 0u);
    EXPECT_EQ(c.in_flight, 0u);
    EXPECT_TRUE(c.balanced());
    // Every stored event is in the receive -> durable histogram (the DLQ's rejected one is not).
    std::uint64_t events = 0;
    for (auto b : snap.cores[0].durable_latency_log2) events += b;
    EXPECT_EQ(events, c.stored);
    EXPECT_GE(snap.durable_latency_us(0.5), 1u);
    EXPECT_LT(snap.durable_latency_us(0.99), std::uint64_t{1} << 31);
}

TEST(pipeline, golden_data_matches_shared_files) {
    // The embedded copies above are the shared golden files (when present on this machine).
    auto in = read_lines("/work/shared/data/temp_readings.ndjson");
    auto out = read_lines("/work/shared/data/temp_clean.expected.ndjson");
    if (in.empty() || out.empty()) GTEST_SKIP() << "/work/shared/data not present";
    EXPECT_EQ(in, temp_readings);
    EXPECT_EQ(out, temp_clean);
}

TEST(pipeline, golden_temp_readings_one_ndjson_datagram) {
    pipeline_options o;
    o.topics = {temp_route()};
    fixture f(o);
    ASSERT_TRUE(f.p);
    std::string payload;
    for (const auto& l : temp_readings) payload += l + "\n";
    f.send({owned_datagram(payload, 5140)});
    check_golden(f);
}

TEST(pipeline, golden_temp_readings_one_event_per_datagram) {
    pipeline_options o;
    o.topics = {temp_route()};
    fixture f(o);
    ASSERT_TRUE(f.p);
    std::vector<owned_datagram> ds;
    for (const auto& l : temp_readings) ds.emplace_back(l, 5140);
    f.send(ds);
    check_golden(f);
}

// Without tailroom a datagram is parsed from the padded scratch copy, unless its burst was
// gathered (the gathered copy is padded): both give the golden result. Returns the scratch
// copies counted.
std::uint64_t golden_without_tailroom(bool gather_bursts) {
    pipeline_options o;
    o.topics = {temp_route()};
    o.gather_bursts = gather_bursts;
    fixture f(o);
    EXPECT_TRUE(f.p);
    if (!f.p) return ~std::uint64_t{0};
    std::vector<owned_datagram> ds;
    for (const auto& l : temp_readings) ds.emplace_back(l, 5140);
    for (auto& d : ds) d.d.tailroom = 0;
    f.send(ds);
    check_golden(f);
    return f.set->counters().cores[0].scratch_copies;
}

TEST(pipeline, golden_without_tailroom_uses_scratch) {
    EXPECT_EQ(golden_without_tailroom(false), 4u);
}

TEST(pipeline, golden_without_tailroom_gathered_needs_no_scratch) {
    EXPECT_EQ(golden_without_tailroom(true), 0u);
}

TEST(pipeline, keyless_round_robin_spreads_evenly) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.source_header = false;
    fixture f(o);
    ASSERT_TRUE(f.p);
    std::vector<owned_datagram> ds;
    for (int i = 0; i < 40; ++i) ds.emplace_back(R"({"seq":)" + std::to_string(i) + "}", 5140);
    f.send(ds);
    ASSERT_TRUE(f.drain());
    std::size_t total = 0;
    for (std::int32_t p = 0; p < 4; ++p) {
        auto recs = read_partition(*f.store, f.part("events", p));
        EXPECT_EQ(recs.size(), 10u) << "partition " << p;
        for (const auto& r : recs) {
            EXPECT_FALSE(r.key.has_value());
            EXPECT_TRUE(r.headers.empty());
        }
        total += recs.size();
    }
    EXPECT_EQ(total, 40u);
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 40u);
    EXPECT_EQ(c.stored, 40u);
    EXPECT_TRUE(c.balanced());
}

// The pipeline computes the partition by multiplication (no division): every key must still
// land where log::partition_for_key (Kafka's murmur2 partitioner) puts it.
TEST(pipeline, keyed_events_land_on_the_kafka_partition) {
    pipeline_options o;
    topic_route r = plain_route("events", 5140);
    r.rules.key_pointer = "/id";
    o.topics = {r};
    o.source_header = false;
    constexpr std::int32_t partitions = 7;
    fixture f(o, partitions);
    ASSERT_TRUE(f.p);
    std::vector<owned_datagram> ds;
    for (int i = 0; i < 300; ++i) {
        ds.emplace_back(R"({"id":")" + std::to_string(i * 7919) + R"(x"})", 5140);
        if (ds.size() == 32) {
            f.send(ds);
            ds.clear();
        }
    }
    f.send(ds);
    ASSERT_TRUE(f.drain());
    std::size_t total = 0;
    for (std::int32_t p = 0; p < partitions; ++p) {
        for (const auto& rec : read_partition(*f.store, f.part("events", p))) {
            ASSERT_TRUE(rec.key.has_value());
            EXPECT_EQ(log::partition_for_key(as_bytes(*rec.key), partitions), p) << *rec.key;
            ++total;
        }
    }
    EXPECT_EQ(total, 300u);
}

TEST(pipeline, unknown_port_is_no_route) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    fixture f(o);
    ASSERT_TRUE(f.p);
    f.send({owned_datagram(R"({"a":1})", 9999), owned_datagram(R"({"a":2})", 5140)});
    ASSERT_TRUE(f.drain());
    auto snap = f.set->counters();
    EXPECT_EQ(snap.topics[1].received, 1u);
    EXPECT_EQ(dropped(snap.topics[1], drop_reason::no_route), 1u);
    EXPECT_EQ(snap.topics[0].stored, 1u);
    EXPECT_TRUE(snap.total().balanced());
    EXPECT_EQ(snap.total().received, 2u);
}

// One burst alternating between two topics and an unknown port: each datagram counts under its
// own destination port's topic (handle() looks the route up again whenever the port changes).
TEST(pipeline, interleaved_ports_in_one_burst_count_per_topic) {
    pipeline_options o;
    o.topics = {plain_route("a", 5140), plain_route("b", 5141)};
    fixture f(o, 1);
    ASSERT_TRUE(f.p);
    f.send({owned_datagram(R"({"x":1})", 5140), owned_datagram(R"({"x":2})", 5141),
            owned_datagram(R"({"x":3})", 5141), owned_datagram(R"({"x":4})", 9999),
            owned_datagram("not json", 5141), owned_datagram(R"({"x":5})", 5140)});
    ASSERT_TRUE(f.drain());
    ASSERT_TRUE(f.wait_hwm("b.dlq", 0, 1));
    auto snap = f.set->counters();
    EXPECT_EQ(snap.topics[0].received, 2u);
    EXPECT_EQ(snap.topics[0].stored, 2u);
    EXPECT_EQ(snap.topics[1].received, 3u);
    EXPECT_EQ(snap.topics[1].stored, 2u);
    EXPECT_EQ(rejected(snap.topics[1], event::reject_reason::not_json), 1u);
    EXPECT_EQ(dropped(snap.topics[2], drop_reason::no_route), 1u);
    EXPECT_TRUE(snap.total().balanced());
    auto a = read_partition(*f.store, f.part("a", 0));
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].value, R"({"x":1})");
    EXPECT_EQ(a[1].value, R"({"x":5})");
    auto b = read_partition(*f.store, f.part("b", 0));
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[0].value, R"({"x":2})");
    EXPECT_EQ(b[1].value, R"({"x":3})");
    auto dlq = read_partition(*f.store, f.part("b.dlq", 0));
    ASSERT_EQ(dlq.size(), 1u);
    EXPECT_EQ(dlq[0].value, "not json");
}

TEST(pipeline, allow_list_drops_are_counted) {
    config::allow_list allow;
    std::string err;
    ASSERT_TRUE(allow.add("10.0.0.0/8", &err)) << err;
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.allow = &allow;
    fixture f(o);
    ASSERT_TRUE(f.p);
    std::vector<owned_datagram> ds;
    for (int i = 0; i < 5; ++i) ds.emplace_back(R"({"x":1})", 5140, net::ip_address::v4(127, 0, 0, 1));
    for (int i = 0; i < 3; ++i) ds.emplace_back(R"({"x":2})", 5140, net::ip_address::v4(10, 1, 2, 3));
    net::ip_address v6;
    v6.v6 = true;
    v6.bytes[15] = 1;  // ::1
    ds.emplace_back(R"({"x":3})", 5140, v6);
    f.send(ds);
    ASSERT_TRUE(f.drain());
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 9u);
    EXPECT_EQ(dropped(c, drop_reason::allow_list), 6u);
    EXPECT_EQ(c.stored, 3u);
    EXPECT_TRUE(c.balanced());
}

TEST(pipeline, rate_limit_per_source) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.rate_limit_per_source = 1;  // 1 datagram/s, bucket depth 5
    o.rate_limit_burst = 5;
    fixture f(o);
    ASSERT_TRUE(f.p);
    std::vector<owned_datagram> ds;
    for (int i = 0; i < 20; ++i) ds.emplace_back(R"({"x":1})", 5140, net::ip_address::v4(192, 0, 2, 1));
    for (int i = 0; i < 3; ++i) ds.emplace_back(R"({"x":2})", 5140, net::ip_address::v4(192, 0, 2, 2));
    f.send(ds);
    ASSERT_TRUE(f.drain());
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 23u);
    // One burst takes microseconds: at 1/s at most one token refills.
    EXPECT_GE(dropped(c, drop_reason::rate_limit), 14u);
    EXPECT_LE(dropped(c, drop_reason::rate_limit), 15u);
    EXPECT_EQ(c.stored + dropped(c, drop_reason::rate_limit), 23u);
    EXPECT_TRUE(c.balanced());
}

TEST(pipeline, backpressure_drops_are_counted_and_rx_never_blocks) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.batch_bytes = 1024;  // many small batches
    o.source_header = false;
    // Writer not started: batches pile up in a 64 KiB ring until try_append reports full.
    fixture f(o, 1, /*start=*/false, /*ring=*/64 * 1024);
    ASSERT_TRUE(f.p);
    const std::string pad(200, 'x');
    std::vector<owned_datagram> ds;
    for (int i = 0; i < 2000; ++i)
        ds.emplace_back(R"({"seq":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}", 5140);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < ds.size(); i += 32) {
        std::vector<pipeline::datagram> burst;
        for (std::size_t j = i; j < std::min(ds.size(), i + 32); ++j) burst.push_back(ds[j].d);
        EXPECT_EQ(f.p->process(burst), burst.size());
    }
    f.p->flush();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    auto mid = f.set->counters().topics[0];
    EXPECT_TRUE(mid.balanced());
    EXPECT_GT(dropped(mid, drop_reason::backpressure), 0u);
    EXPECT_GT(mid.in_flight, 0u);
    EXPECT_GT(f.set->counters().cores[0].batches_full, 0u);
    f.store->start();
    ASSERT_TRUE(f.drain());
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 2000u);
    EXPECT_EQ(c.in_flight, 0u);
    EXPECT_EQ(c.stored + dropped(c, drop_reason::backpressure), 2000u);
    EXPECT_TRUE(c.balanced());
    // Exactly the stored events are in the log, each seq at most once, in order.
    auto recs = read_partition(*f.store, f.part("events", 0));
    EXPECT_EQ(recs.size(), c.stored);
    int last = -1;
    for (const auto& r : recs) {
        const int seq = std::stoi(r.value.substr(7));
        EXPECT_GT(seq, last);
        last = seq;
    }
}

TEST(pipeline, overflow_beyond_parser_output_is_counted) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.events_per_datagram_max = 2;
    fixture f(o, 1);
    ASSERT_TRUE(f.p);
    f.send({owned_datagram("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n", 5140)});
    ASSERT_TRUE(f.drain());
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 5u);
    EXPECT_EQ(c.stored, 2u);
    EXPECT_EQ(dropped(c, drop_reason::overflow), 3u);
    EXPECT_TRUE(c.balanced());
}

TEST(pipeline, dlq_records_are_truncated_and_carry_reason) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.dlq_value_bytes_max = 16;
    fixture f(o, 1);
    ASSERT_TRUE(f.p);
    const std::string bad = "this is not json at all, and it is long";
    f.send({owned_datagram(bad, 5140, net::ip_address::v4(198, 51, 100, 7), 1234),
            owned_datagram("[1,2]", 5140), owned_datagram("   ", 5140)});
    ASSERT_TRUE(f.drain());
    ASSERT_TRUE(f.wait_hwm("events.dlq", 0, 3));
    auto dlq = read_partition(*f.store, f.part("events.dlq", 0));
    ASSERT_EQ(dlq.size(), 3u);
    EXPECT_EQ(dlq[0].value, bad.substr(0, 16));
    EXPECT_EQ(dlq[0].headers["reason"], "not_json");
    EXPECT_EQ(dlq[0].headers["source"], "198.51.100.7:1234");
    EXPECT_EQ(dlq[1].value, "[1,2]");
    EXPECT_EQ(dlq[1].headers["reason"], "not_object");
    EXPECT_EQ(dlq[2].headers["reason"], "empty");
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.received, 3u);
    EXPECT_EQ(rejected(c, event::reject_reason::not_json), 1u);
    EXPECT_EQ(rejected(c, event::reject_reason::not_object), 1u);
    EXPECT_EQ(rejected(c, event::reject_reason::empty), 1u);
    EXPECT_TRUE(c.balanced());
}

TEST(pipeline, count_drops_from_backend) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    fixture f(o, 1);
    ASSERT_TRUE(f.p);
    f.p->count_drops(5140, drop_reason::kernel_overflow, 7);
    f.p->count_drops(0, drop_reason::nic_missed, 2);
    auto snap = f.set->counters();
    EXPECT_EQ(snap.topics[0].received, 7u);
    EXPECT_EQ(dropped(snap.topics[0], drop_reason::kernel_overflow), 7u);
    EXPECT_EQ(dropped(snap.topics[1], drop_reason::nic_missed), 2u);
    EXPECT_TRUE(snap.total().balanced());
}

TEST(pipeline, linger_flushes_without_more_input) {
    pipeline_options o;
    o.topics = {plain_route("events", 5140)};
    o.linger_ns = 2'000'000;
    fixture f(o, 1);
    ASSERT_TRUE(f.p);
    f.send({owned_datagram(R"({"a":1})", 5140)});
    f.p->poll(mono_ns());
    EXPECT_EQ(f.set->counters().cores[0].batches_appended, 0u);  // younger than linger
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (f.set->counters().topics[0].stored == 0 && std::chrono::steady_clock::now() < until) {
        f.p->poll(mono_ns());
        std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    EXPECT_EQ(f.set->counters().topics[0].stored, 1u);
}

TEST(pipeline, snapshots_balance_while_a_core_runs) {
    pipeline_options o;
    o.topics = {temp_route()};
    o.batch_bytes = 4096;
    fixture f(o, 4, true, 256 * 1024);
    ASSERT_TRUE(f.p);
    std::atomic<bool> stop{false};
    std::thread core([&] {
        std::vector<owned_datagram> ds;
        for (int i = 0; i < 32; ++i)
            ds.emplace_back(i % 7 == 0 ? std::string("garbage")
                                       : R"({"sensor_id":)" + std::to_string(i) + R"(,"time_epoch":1})",
                            static_cast<std::uint16_t>(i % 11 == 0 ? 1 : 5140));
        std::vector<pipeline::datagram> burst;
        for (auto& d : ds) burst.push_back(d.d);
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        while (!stop.load() && std::chrono::steady_clock::now() < until) {
            (void)f.p->process(burst);
            f.p->poll(mono_ns());
        }
    });
    int snaps = 0;
    bool saw_in_flight = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
    while (std::chrono::steady_clock::now() < until) {
        auto s = f.set->counters();
        for (const auto& t : s.topics) EXPECT_TRUE(t.balanced());
        saw_in_flight |= s.topics[0].in_flight > 0;
        ++snaps;
    }
    stop = true;
    core.join();
    EXPECT_GT(snaps, 10);
    EXPECT_TRUE(saw_in_flight);
    ASSERT_TRUE(f.drain());
    auto c = f.set->counters().topics[0];
    EXPECT_EQ(c.in_flight, 0u);
    EXPECT_TRUE(c.balanced());
    EXPECT_GT(c.stored, 0u);
    EXPECT_GT(c.rejected_total(), 0u);
}

TEST(pipeline, metrics_exposition_has_design_names) {
    pipeline_options o;
    o.topics = {temp_route()};
    fixture f(o);
    ASSERT_TRUE(f.p);
    admin::registry reg(2);
    f.set->register_metrics(reg);
    std::string payload;
    for (const auto& l : temp_readings) payload += l + "\n";
    f.send({owned_datagram(payload, 5140)});
    ASSERT_TRUE(f.drain());
    ASSERT_TRUE(f.wait_hwm("temp_readings.dlq", 0, 1));
    const std::string text = reg.exposition();
    EXPECT_NE(text.find("sluice_events_received_total{topic=\"temp_readings\"} 4\n"), std::string::npos) << text;
    EXPECT_NE(text.find("sluice_events_stored_total{topic=\"temp_readings\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("sluice_events_rejected_total{topic=\"temp_readings\",reason=\"missing_field\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("sluice_events_dropped_total{topic=\"temp_readings\",reason=\"backpressure\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("sluice_events_in_flight{topic=\"temp_readings\"} 0\n"), std::string::npos);
    const std::int32_t p = log::partition_for_key(as_bytes("42"), 4);
    EXPECT_NE(text.find("sluice_partition_high_watermark{topic=\"temp_readings\",partition=\"" +
                        std::to_string(p) + "\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("sluice_partition_high_watermark{topic=\"temp_readings.dlq\",partition=\"0\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("sluice_pipeline_datagrams_total{core=\"0\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("sluice_pipeline_durable_latency_us{quantile=\"0.99\"} "), std::string::npos);

    // The same latency as a Prometheus histogram in seconds: cumulative buckets that never go
    // down, +Inf == _count == the 3 events stored (not the DLQ's), a positive _sum.
    const std::string h = "sluice_pipeline_durable_latency_seconds";
    EXPECT_NE(text.find("# TYPE " + h + " histogram\n"), std::string::npos) << text;
    std::vector<std::pair<std::string, double>> buckets;
    double count = -1, sum = -1;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(h + "_bucket{le=\"", 0) == 0) {
            const auto q = line.find('"', h.size() + 12);
            ASSERT_NE(q, std::string::npos) << line;
            buckets.emplace_back(line.substr(h.size() + 12, q - h.size() - 12), std::stod(line.substr(q + 3)));
        } else if (line.rfind(h + "_count ", 0) == 0) {
            count = std::stod(line.substr(h.size() + 7));
        } else if (line.rfind(h + "_sum ", 0) == 0) {
            sum = std::stod(line.substr(h.size() + 5));
        }
    }
    ASSERT_EQ(buckets.size(), pipeline::latency_buckets) << text;
    EXPECT_EQ(buckets.front().first, "1e-06");
    EXPECT_EQ(buckets.back().first, "+Inf");
    for (std::size_t i = 1; i < buckets.size(); ++i) {
        EXPECT_LE(buckets[i - 1].second, buckets[i].second) << buckets[i].first;
        if (i + 1 < buckets.size()) {
            EXPECT_LT(std::stod(buckets[i - 1].first), std::stod(buckets[i].first));
        }
    }
    EXPECT_EQ(count, 3);
    EXPECT_EQ(buckets.back().second, count);
    EXPECT_GT(sum, 0);
    EXPECT_LT(sum, 3 * 60.0);  // three events, each well under a minute
}

TEST(pipeline, make_rejects_missing_topics) {
    auto mem = std::make_shared<log::memory_storage>();
    std::string err;
    auto store = log::log_store::open(mem_options(mem), &err);
    ASSERT_TRUE(store) << err;
    pipeline_options o;
    o.topics = {plain_route("nope", 5140)};
    auto set = pipeline_set::make(*store, o, &err);
    EXPECT_FALSE(set);
    EXPECT_NE(err.find("nope"), std::string::npos);
}

}  // namespace
