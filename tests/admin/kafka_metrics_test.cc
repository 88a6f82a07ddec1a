// register_kafka_metrics over a live kafka::server on loopback: Metadata, Produce (acks=-1), a
// long-polled Fetch and an OffsetCommit move the exported counters, histograms and consumer lag.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <sluice/admin/kafka_metrics.h>
#include <sluice/base/bytes.h>
#include <sluice/base/clock.h>
#include <sluice/kafka/codec.h>
#include <sluice/kafka/protocol.h>
#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

namespace sluice::admin {
namespace {

using bytes = std::vector<std::byte>;
using kafka::writer;
namespace api = kafka::api;

class KafkaMetrics : public ::testing::Test {
protected:
    void SetUp() override {
        _dir = std::filesystem::temp_directory_path() / ("sluice-kmetrics-" + std::to_string(mono_ns()));
        log::store_options so;
        so.data_dir = _dir.string();
        std::string err;
        _store = log::log_store::open(so, &err);
        ASSERT_TRUE(_store) << err;
        log::topic_spec t;
        t.name = "t";
        t.partitions = 1;
        ASSERT_EQ(_store->create_topic(t, &err), errc::ok) << err;
        _store->start();
        kafka::server_options o;
        o.listen_port = 0;
        _srv = kafka::server::create(*_store, o, &err);
        ASSERT_TRUE(_srv) << err;
        ASSERT_TRUE(_srv->start(&err)) << err;
        register_kafka_metrics(_reg, *_srv, *_store);
    }
    void TearDown() override {
        if (_fd >= 0) ::close(_fd);
        if (_srv) _srv->stop();
        _srv.reset();
        if (_store) _store->stop();
        _store.reset();
        std::filesystem::remove_all(_dir);
    }
    void connect_client() {
        _fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(_fd, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(_srv->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    }
    // One request frame with its size prefix.
    static bytes request(std::int16_t key, std::int16_t version, std::int32_t corr,
                         const std::function<void(writer&)>& body) {
        bytes b;
        writer w(b);
        w.i32(0);
        w.i16(key);
        w.i16(version);
        w.i32(corr);
        w.string("kmetrics-test");
        body(w);
        store_be(b.data(), static_cast<std::int32_t>(b.size() - 4));
        return b;
    }
    // Reads exactly n bytes within 5 s; false on EOF/timeout.
    bool read_n(std::byte* p, std::size_t n) {
        std::size_t got = 0;
        const std::int64_t until = mono_ns() + 5'000'000'000;
        while (got < n && mono_ns() < until) {
            pollfd pfd{_fd, POLLIN, 0};
            if (::poll(&pfd, 1, 100) <= 0) continue;
            ssize_t r = ::recv(_fd, p + got, n - got, 0);
            if (r <= 0) return false;
            got += static_cast<std::size_t>(r);
        }
        return got == n;
    }
    // Sends the request and returns its response body (after the correlation id).
    bytes call(const bytes& req, std::int32_t corr) {
        EXPECT_EQ(::send(_fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
        std::byte hdr[8];
        if (!read_n(hdr, 8)) {
            ADD_FAILURE() << "no response to corr " << corr;
            return {};
        }
        EXPECT_EQ(load_be<std::int32_t>(hdr + 4), corr);
        bytes rest(static_cast<std::size_t>(load_be<std::int32_t>(hdr) - 4));
        if (!read_n(rest.data(), rest.size())) ADD_FAILURE() << "short response to corr " << corr;
        return rest;
    }
    static bytes make_batch(int n) {
        bytes buf(16 * 1024);
        log::batch_builder b(buf);
        for (int i = 0; i < n; ++i) {
            std::string k = "k" + std::to_string(i), v = "v" + std::to_string(i);
            EXPECT_TRUE(b.append(1'700'000'000'000 + i, as_bytes(k), as_bytes(v)));
        }
        auto done = b.finish();
        return {done.begin(), done.end()};
    }
    // The value of one exposition line `series value`; NaN if absent.
    static double value_of(const std::string& text, const std::string& series) {
        const std::string key = series + " ";
        std::size_t at = 0;
        while ((at = text.find(key, at)) != std::string::npos) {
            if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + key.size(), nullptr);
            at += key.size();
        }
        return std::numeric_limits<double>::quiet_NaN();
    }

    std::filesystem::path _dir;
    std::unique_ptr<log::log_store> _store;
    std::unique_ptr<kafka::server> _srv;
    registry _reg{1};
    int _fd = -1;
};

TEST_F(KafkaMetrics, RequestsBytesHistogramsAndLag) {
    connect_client();
    // Before any traffic: advertised APIs export 0, lag has no series.
    std::string text = _reg.exposition();
    EXPECT_EQ(value_of(text, R"(sluice_kafka_requests_total{api="Produce"})"), 0);
    EXPECT_EQ(text.find("sluice_consumer_lag{"), std::string::npos);

    // Metadata v1, all topics.
    bytes md = call(request(api::metadata, 1, 1, [](writer& w) { w.i32(-1); }), 1);
    ASSERT_FALSE(md.empty());

    // Produce v7, acks=-1, 5 records to t/0: answered once durable.
    const bytes batch = make_batch(5);
    bytes pr = call(request(api::produce, 7, 2, [&](writer& w) {
                        w.nullable_string(std::nullopt);
                        w.i16(-1);
                        w.i32(30000);
                        w.array_len(1);
                        w.string("t");
                        w.array_len(1);
                        w.i32(0);
                        w.bytes(batch);
                    }),
                    2);
    {
        kafka::reader r(pr);
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.i16(), kafka::error::none);
        EXPECT_EQ(r.i64(), 0);  // base offset
        ASSERT_TRUE(r.ok());
    }
    const auto pi = _store->find_partition("t", 0);
    ASSERT_TRUE(pi);
    ASSERT_EQ(_store->high_watermark(*pi), 5);

    // Fetch v4 at the high watermark, min_bytes 1, max_wait 60 ms: long-polls, then answers empty.
    const std::int64_t fetch_start = mono_ns();
    bytes fr = call(request(api::fetch, 4, 3, [](writer& w) {
                        w.i32(-1);      // replica
                        w.i32(60);      // max_wait_ms
                        w.i32(1);       // min_bytes
                        w.i32(1 << 20); // max_bytes
                        w.i8(0);        // isolation
                        w.array_len(1);
                        w.string("t");
                        w.array_len(1);
                        w.i32(0);
                        w.i64(5);
                        w.i32(1 << 20);
                    }),
                    3);
    ASSERT_FALSE(fr.empty());
    const double fetch_took_s = static_cast<double>(mono_ns() - fetch_start) * 1e-9;

    // OffsetCommit v2, simple commit (generation -1, no member): t/0 at 2 and t/7 (unknown).
    bytes oc = call(request(api::offset_commit, 2, 4, [](writer& w) {
                        w.string("g1");
                        w.i32(-1);
                        w.string("");
                        w.i64(-1);
                        w.array_len(1);
                        w.string("t");
                        w.array_len(2);
                        w.i32(0);
                        w.i64(2);
                        w.nullable_string(std::nullopt);
                        w.i32(7);
                        w.i64(1);
                        w.nullable_string(std::nullopt);
                    }),
                    4);
    {
        kafka::reader r(oc);
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 2);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.i16(), kafka::error::none);
        EXPECT_EQ(r.i32(), 7);
        EXPECT_EQ(r.i16(), kafka::error::unknown_topic_or_partition);
        ASSERT_TRUE(r.ok());
    }

    text = _reg.exposition();
    SCOPED_TRACE(text);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_requests_total{api="Metadata"})"), 1);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_requests_total{api="Produce"})"), 1);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_requests_total{api="Fetch"})"), 1);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_requests_total{api="OffsetCommit"})"), 1);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_errors_total{api="OffsetCommit",code="3"})"), 1);
    EXPECT_EQ(text.find("sluice_kafka_errors_total{api=\"Produce\""), std::string::npos);
    EXPECT_GT(value_of(text, "sluice_kafka_bytes_in_total"), static_cast<double>(batch.size()));
    EXPECT_GT(value_of(text, "sluice_kafka_bytes_out_total"), 0);
    EXPECT_EQ(value_of(text, "sluice_kafka_connections"), 1);
    EXPECT_EQ(value_of(text, "sluice_kafka_connections_total"), 1);
    EXPECT_EQ(value_of(text, "sluice_kafka_produce_batches_total"), 1);
    EXPECT_EQ(value_of(text, "sluice_kafka_produce_bytes_total"), static_cast<double>(batch.size()));
    EXPECT_EQ(value_of(text, "sluice_kafka_produce_rejected_total"), 0);
    // The Produce went straight into the ring: nothing queued behind it, never stalled.
    EXPECT_EQ(value_of(text, "sluice_kafka_append_backlog_bytes"), 0);
    EXPECT_EQ(value_of(text, "sluice_kafka_append_backlog_stalls_total"), 0);
    EXPECT_EQ(value_of(text, "sluice_kafka_malformed_requests_total"), 0);
    EXPECT_EQ(value_of(text, "sluice_kafka_offset_commits_total"), 1);

    EXPECT_EQ(value_of(text, "sluice_kafka_produce_ack_seconds_count"), 1);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_produce_ack_seconds_bucket{le="+Inf"})"), 1);
    EXPECT_GT(value_of(text, "sluice_kafka_produce_ack_seconds_sum"), 0);
    EXPECT_EQ(value_of(text, "sluice_kafka_fetch_wait_seconds_count"), 1);
    const double waited = value_of(text, "sluice_kafka_fetch_wait_seconds_sum");
    EXPECT_GE(waited, 0.045);  // max_wait 60 ms, the loop wakes on ms deadlines
    EXPECT_LE(waited, fetch_took_s);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_fetch_wait_seconds_bucket{le="0.032768"})"), 0);
    EXPECT_EQ(value_of(text, R"(sluice_kafka_fetch_wait_seconds_bucket{le="+Inf"})"), 1);

    EXPECT_EQ(value_of(text, R"(sluice_consumer_group_committed_offset{group="g1",topic="t",partition="0"})"), 2);
    EXPECT_EQ(value_of(text, R"(sluice_consumer_lag{group="g1",topic="t",partition="0"})"),
              static_cast<double>(_store->high_watermark(*pi) - 2));
    EXPECT_EQ(value_of(text, R"(sluice_consumer_lag{group="g1",topic="t",partition="0"})"), 3);
    EXPECT_EQ(text.find("partition=\"7\""), std::string::npos);  // never committed
}

TEST(KafkaApiLabel, Names) {
    EXPECT_EQ(kafka_api_label(kafka::api::produce), "Produce");
    EXPECT_EQ(kafka_api_label(kafka::api::offset_commit), "OffsetCommit");
    EXPECT_EQ(kafka_api_label(kafka::api::api_versions), "ApiVersions");
    EXPECT_EQ(kafka_api_label(42), "42");
}

}  // namespace
}  // namespace sluice::admin
