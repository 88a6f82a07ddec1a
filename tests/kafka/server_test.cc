// kafka::server over loopback: pipelined requests answered in order, oversized frames close the
// connection, counters move.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <sluice/base/clock.h>
#include <sluice/kafka/codec.h>
#include <sluice/kafka/protocol.h>
#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

namespace sluice::kafka {
namespace {

// Reads exactly n bytes within timeout_ns; false on EOF/timeout.
bool read_exactly(int fd, std::byte* p, std::size_t n, std::int64_t timeout_ns) {
    std::size_t got = 0;
    const std::int64_t until = mono_ns() + timeout_ns;
    while (got < n && mono_ns() < until) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        ssize_t r = ::recv(fd, p + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return got == n;
}

using bytes = std::vector<std::byte>;

class KafkaServer : public ::testing::Test {
protected:
    void SetUp() override {
        _dir = std::filesystem::temp_directory_path() / ("sluice-kafka-srv-" + std::to_string(mono_ns()));
        log::store_options so;
        so.data_dir = _dir.string();
        std::string err;
        _store = log::log_store::open(so, &err);
        ASSERT_TRUE(_store) << err;
        _store->start();
        server_options o;
        o.listen_port = 0;
        o.max_request_bytes = 1 << 20;
        o.max_in_flight_per_connection = 4;
        _srv = server::create(*_store, o, &err);
        ASSERT_TRUE(_srv) << err;
        ASSERT_TRUE(_srv->start(&err)) << err;
    }
    void TearDown() override {
        if (_srv) _srv->stop();
        _srv.reset();
        if (_store) _store->stop();
        _store.reset();
        std::filesystem::remove_all(_dir);
    }
    int connect_client() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(_srv->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        return fd;
    }
    static bytes frame(std::int16_t key, std::int16_t version, std::int32_t corr) {
        bytes b;
        writer w(b);
        w.i32(0);
        w.i16(key);
        w.i16(version);
        w.i32(corr);
        w.string("srv-test");
        if (key == api::metadata) w.i32(-1);
        store_be(b.data(), static_cast<std::int32_t>(b.size() - 4));
        return b;
    }
    // Reads exactly n bytes within 5 s; false on EOF/timeout.
    static bool read_n(int fd, std::byte* p, std::size_t n) { return read_exactly(fd, p, n, 5'000'000'000); }
    static std::int32_t read_response_corr(int fd) {
        std::byte hdr[8];
        if (!read_n(fd, hdr, 8)) return -1;
        auto size = load_be<std::int32_t>(hdr);
        bytes rest(static_cast<std::size_t>(size - 4));
        if (!read_n(fd, rest.data(), rest.size())) return -1;
        return load_be<std::int32_t>(hdr + 4);
    }
    std::filesystem::path _dir;
    std::unique_ptr<log::log_store> _store;
    std::unique_ptr<server> _srv;
};

TEST_F(KafkaServer, PipelinedRequestsAnswerInOrder) {
    int fd = connect_client();
    bytes all;
    constexpr int n = 50;  // more than max_in_flight: reading pauses and resumes
    for (int i = 0; i < n; ++i) {
        bytes f = frame(i % 2 ? api::metadata : api::api_versions, i % 2 ? 1 : 2, 1000 + i);
        all.insert(all.end(), f.begin(), f.end());
    }
    ASSERT_EQ(::send(fd, all.data(), all.size(), MSG_NOSIGNAL), static_cast<ssize_t>(all.size()));
    for (int i = 0; i < n; ++i) ASSERT_EQ(read_response_corr(fd), 1000 + i);
    ::close(fd);
    auto st = _srv->stats();
    EXPECT_EQ(st.broker.requests_by_api[api::api_versions], 25u);
    EXPECT_EQ(st.broker.requests_by_api[api::metadata], 25u);
    EXPECT_EQ(st.broker.answers_by_api_code[api::api_versions][error::none + 1], 25u);
    EXPECT_GE(st.bytes_in, all.size());
    EXPECT_GT(st.bytes_out, 0u);
    EXPECT_GE(st.connections_accepted, 1u);
}

TEST_F(KafkaServer, OversizedFrameClosesConnection) {
    int fd = connect_client();
    std::byte size[4];
    store_be(size, std::int32_t{2 << 20});  // > max_request_bytes (1 MiB)
    ASSERT_EQ(::send(fd, size, 4, MSG_NOSIGNAL), 4);
    std::byte b;
    EXPECT_FALSE(read_n(fd, &b, 1));  // EOF
    ::close(fd);
    // The server still serves others.
    int fd2 = connect_client();
    bytes f = frame(api::api_versions, 0, 77);
    ASSERT_EQ(::send(fd2, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
    EXPECT_EQ(read_response_corr(fd2), 77);
    ::close(fd2);
    EXPECT_GE(_srv->stats().requests_too_large, 1u);
}

// A stalled log (its writer not started: appends wait in the ring, then behind it in the broker's
// queue): once the queued copies pass append_backlog_bytes_max the server reads no more from the
// socket, so the queue stays bounded; when the log moves again every Produce is answered, in
// order, without error, and every record is stored.
TEST(KafkaServerBacklog, StopsReadingWhileTheLogIsBehind) {
    const auto dir = std::filesystem::temp_directory_path() / ("sluice-kafka-backlog-" + std::to_string(mono_ns()));
    log::store_options so;
    so.data_dir = dir.string();
    so.ring_bytes = 256 << 10;
    std::string err;
    auto store = log::log_store::open(so, &err);
    ASSERT_TRUE(store) << err;
    log::topic_spec t;
    t.name = "t";
    t.partitions = 1;
    ASSERT_EQ(store->create_topic(t, &err), errc::ok) << err;
    server_options o;
    o.listen_port = 0;
    o.broker.append_backlog_bytes_max = 256 << 10;
    auto srv = server::create(*store, o, &err);
    ASSERT_TRUE(srv) << err;
    ASSERT_TRUE(srv->start(&err)) << err;

    constexpr int requests = 48, records_per_batch = 32;
    bytes all;
    const std::string value(1000, 'v');
    for (int i = 0; i < requests; ++i) {
        bytes batch(64 << 10);
        log::batch_builder b(batch);
        for (int r = 0; r < records_per_batch; ++r) ASSERT_TRUE(b.append(1'700'000'000'000 + r, std::nullopt, as_bytes(value)));
        auto done = b.finish();
        bytes f;
        writer w(f);
        w.i32(0);
        w.i16(api::produce);
        w.i16(7);
        w.i32(500 + i);
        w.string("backlog-test");
        w.nullable_string(std::nullopt);  // transactional_id
        w.i16(1);                          // acks
        w.i32(60'000);
        w.array_len(1);
        w.string("t");
        w.array_len(1);
        w.i32(0);
        w.bytes(done);
        store_be(f.data(), static_cast<std::int32_t>(f.size() - 4));
        all.insert(all.end(), f.begin(), f.end());
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(srv->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::thread sender([&] {
        std::size_t at = 0;
        while (at < all.size()) {
            ssize_t n = ::send(fd, all.data() + at, all.size() - at, MSG_NOSIGNAL);
            if (n <= 0) break;
            at += static_cast<std::size_t>(n);
        }
    });
    // The backlog passes its bound, then the server stops reading.
    std::int64_t until = mono_ns() + 5'000'000'000;
    while (srv->stats().broker.append_backlog_stalls == 0 && mono_ns() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_GE(srv->stats().broker.append_backlog_stalls, 1u);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto read1 = srv->stats().bytes_in;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto s2 = srv->stats();
    EXPECT_EQ(s2.bytes_in, read1);  // not reading
    EXPECT_LT(s2.bytes_in, all.size());
    // Bounded: at most the bound plus what one receive buffer held past it.
    EXPECT_LE(s2.broker.append_backlog_bytes, o.broker.append_backlog_bytes_max + (128u << 10));

    store->start();  // the log moves again
    for (int i = 0; i < requests; ++i) {
        std::byte hdr[8];
        ASSERT_TRUE(read_exactly(fd, hdr, 8, 10'000'000'000)) << i;
        const auto size = load_be<std::int32_t>(hdr);
        ASSERT_EQ(load_be<std::int32_t>(hdr + 4), 500 + i);
        bytes rest(static_cast<std::size_t>(size - 4));
        ASSERT_TRUE(read_exactly(fd, rest.data(), rest.size(), 10'000'000'000));
        reader r(rest);
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.i16(), error::none) << i;
        EXPECT_EQ(r.i64(), static_cast<std::int64_t>(i) * records_per_batch);  // base offset, in order
    }
    sender.join();
    ::close(fd);
    EXPECT_EQ(store->high_watermark(*store->find_partition("t", 0)), requests * records_per_batch);
    EXPECT_EQ(srv->stats().broker.append_backlog_bytes, 0u);
    srv->stop();
    srv.reset();
    store->stop();
    store.reset();
    std::filesystem::remove_all(dir);
}

TEST(KafkaHostPort, Parse) {
    std::string h;
    std::uint16_t p = 0;
    EXPECT_TRUE(parse_host_port("127.0.0.1:9092", h, p));
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, 9092);
    EXPECT_TRUE(parse_host_port("[::1]:19092", h, p));
    EXPECT_EQ(h, "::1");
    EXPECT_FALSE(parse_host_port("nohost", h, p));
    EXPECT_FALSE(parse_host_port("h:99999", h, p));
    EXPECT_FALSE(parse_host_port(":9092", h, p));
}

}  // namespace
}  // namespace sluice::kafka
