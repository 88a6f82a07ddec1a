// Kernel-socket backend (net::socket_rx, both modes) and the socket loop over loopback.

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/net/socket_rx.h>
#include <sluice/pipeline/pipeline.h>
#include <sluice/pipeline/socket_worker.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

namespace {

using namespace sluice;

struct sender {
    int fd = -1;
    sockaddr_in to{};
    explicit sender(std::uint16_t port) {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~sender() { ::close(fd); }
    bool send(const std::string& s) const {
        return ::sendto(fd, s.data(), s.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(s.size());
    }
    std::uint16_t local_port() const {
        sockaddr_in a{};
        socklen_t l = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        return ntohs(a.sin_port);
    }
};

class socket_rx_modes : public ::testing::TestWithParam<net::socket_rx_mode> {
protected:
    std::unique_ptr<net::socket_rx> open(net::socket_rx_options o) {
        o.mode = GetParam();
        if (o.mode == net::socket_rx_mode::io_uring) {
            std::string why;
            if (!net::io_uring_multishot_available(&why)) {
                skip_reason = why;
                return nullptr;
            }
        }
        std::string err;
        auto rx = net::socket_rx::open(o, &err);
        EXPECT_TRUE(rx) << err;
        if (rx) {
            EXPECT_EQ(rx->uses_io_uring(), o.mode == net::socket_rx_mode::io_uring);
        }
        return rx;
    }
    std::string skip_reason;
};

// Receives until `n` datagrams arrived or 5 s passed.
std::vector<std::string> receive_n(net::socket_rx& rx, std::size_t n, std::vector<net::datagram>* meta = nullptr) {
    std::vector<std::string> out;
    std::array<net::datagram, 32> burst;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (out.size() < n && std::chrono::steady_clock::now() < until) {
        const std::size_t got = rx.receive(burst, 10'000'000);
        for (std::size_t i = 0; i < got; ++i) {
            out.emplace_back(reinterpret_cast<const char*>(burst[i].payload.data()), burst[i].payload.size());
            if (meta) meta->push_back(burst[i]);
            EXPECT_GE(burst[i].tailroom, 64u);
        }
    }
    return out;
}

TEST_P(socket_rx_modes, receives_payload_source_and_port) {
    net::socket_rx_options o;
    o.ports = {0, 0};
    auto rx = open(o);
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_TRUE(rx);
    ASSERT_EQ(rx->sockets(), 2u);
    sender a(rx->port(0)), b(rx->port(1));
    std::set<std::string> sent;
    for (int i = 0; i < 100; ++i) {
        std::string s = "{\"seq\":" + std::to_string(i) + "}";
        ASSERT_TRUE((i % 2 ? b : a).send(s));
        sent.insert(s);
    }
    std::vector<net::datagram> meta;
    auto got = receive_n(*rx, 100, &meta);
    ASSERT_EQ(got.size(), 100u);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), sent);
    // Metadata of the last burst is still valid (payloads until the next receive()).
    for (const auto& d : meta) {
        EXPECT_EQ(d.src, net::ip_address::v4(127, 0, 0, 1));
        EXPECT_TRUE(d.dst_port == rx->port(0) || d.dst_port == rx->port(1));
        EXPECT_TRUE(d.src_port == a.local_port() || d.src_port == b.local_port());
    }
}

TEST_P(socket_rx_modes, oversize_datagrams_are_counted_truncated) {
    net::socket_rx_options o;
    o.ports = {0};
    o.datagram_bytes_max = 100;
    auto rx = open(o);
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_TRUE(rx);
    sender s(rx->port(0));
    ASSERT_TRUE(s.send(std::string(500, 'x')));
    ASSERT_TRUE(s.send("{\"ok\":1}"));
    auto got = receive_n(*rx, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], "{\"ok\":1}");
    std::array<net::port_drops, 4> d;
    ASSERT_EQ(rx->take_drops(d), 1u);
    EXPECT_EQ(d[0].truncated, 1u);
    EXPECT_EQ(d[0].port, rx->port(0));
}

TEST_P(socket_rx_modes, kernel_overflow_is_reported) {
    net::socket_rx_options o;
    o.ports = {0};
    o.rcvbuf_bytes = 4096;  // tiny: the kernel drops most of a burst
    o.buffers = 4;
    auto rx = open(o);
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_TRUE(rx);
    sender s(rx->port(0));
    const std::string payload(1000, 'y');
    for (int i = 0; i < 2000; ++i) (void)s.send(payload);
    // Drain what the kernel kept, then read the drop counter (SO_MEMINFO).
    std::array<net::datagram, 32> burst;
    std::uint64_t received = 0;
    for (int i = 0; i < 100; ++i) {
        const std::size_t n = rx->receive(burst, 2'000'000);
        received += n;
        if (n == 0 && i > 3) break;
    }
    rx->refresh_drops();
    std::uint64_t overflow = 0;
    std::array<net::port_drops, 4> d;
    for (std::size_t i = 0, k = rx->take_drops(d); i < k; ++i) overflow += d[i].kernel_overflow;
    // A later datagram's SO_RXQ_OVFL cmsg repeats the same cumulative count: not counted twice.
    ASSERT_TRUE(s.send("{}"));
    received += receive_n(*rx, 1).size();
    for (std::size_t i = 0, k = rx->take_drops(d); i < k; ++i) overflow += d[i].kernel_overflow;
    EXPECT_GT(received, 1u);
    EXPECT_GT(overflow, 0u);
    EXPECT_EQ(received + overflow, 2001u);
}

// With few provided buffers the multishot recvmsg ends with -ENOBUFS while datagrams are still
// queued in the socket; receive() must re-arm before it waits, never sleep its whole wait unarmed
// (that left the socket filling up and overflowing under load while the core was idle).
TEST_P(socket_rx_modes, queued_datagrams_are_received_without_waiting_after_enobufs) {
    net::socket_rx_options o;
    o.ports = {0};
    o.buffers = 4;
    o.burst = 4;
    auto rx = open(o);
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_TRUE(rx);
    sender s(rx->port(0));
    constexpr std::size_t sent = 64;
    for (std::size_t i = 0; i < sent; ++i) ASSERT_TRUE(s.send("{\"seq\":" + std::to_string(i) + "}"));
    std::array<net::datagram, 4> burst;
    std::size_t received = 0;
    for (std::size_t call = 0; call < sent && received < sent; ++call) {
        const std::size_t n = rx->receive(burst, 300'000'000);
        ASSERT_GT(n, 0u) << "receive() came back empty after " << received << " of " << sent
                         << " queued datagrams (call " << call << ", enobufs " << rx->stats().enobufs << ")";
        received += n;
    }
    EXPECT_EQ(received, sent);
    if (GetParam() == net::socket_rx_mode::io_uring) {
        EXPECT_GT(rx->stats().enobufs, 0u);  // the scenario under test happened
    }
}

INSTANTIATE_TEST_SUITE_P(modes, socket_rx_modes,
                         ::testing::Values(net::socket_rx_mode::io_uring, net::socket_rx_mode::recvmmsg),
                         [](const auto& info) {
                             return info.param == net::socket_rx_mode::io_uring ? std::string("io_uring")
                                                                                : std::string("recvmmsg");
                         });

TEST(socket_loop, end_to_end_over_loopback) {
    auto mem = std::make_shared<log::memory_storage>();
    log::store_options so;
    so.data_dir = "/data";
    so.backend = mem;
    so.flush_interval_us = 500;
    so.max_partitions = 16;
    so.max_appenders = 4;
    std::string err;
    auto store = log::log_store::open(so, &err);
    ASSERT_TRUE(store) << err;
    net::socket_rx_options ro;
    ro.ports = {0};
    auto rx = net::socket_rx::open(ro, &err);
    ASSERT_TRUE(rx) << err;
    const std::uint16_t port = rx->port(0);
    log::topic_spec t;
    t.name = "events";
    t.partitions = 2;
    ASSERT_EQ(store->create_topic(t, &err), errc::ok);
    t.name = "events.dlq";
    t.partitions = 1;
    ASSERT_EQ(store->create_topic(t, &err), errc::ok);
    store->start();
    pipeline::pipeline_options po;
    pipeline::topic_route r;
    r.name = "events";
    r.port = port;
    r.rules.key_pointer = "/k";
    po.topics = {r};
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    ASSERT_TRUE(set) << err;
    auto p = set->make_pipeline(0, &err);
    ASSERT_TRUE(p) << err;
    std::atomic<bool> stop{false};
    bool drained = false;
    std::thread core([&] { drained = pipeline::run_socket_loop(*p, *rx, stop); });
    sender s(port);
    for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(s.send("{\"k\":" + std::to_string(i % 7) + ",\"seq\":" + std::to_string(i) + "}"));
        if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(s.send("not json"));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (set->counters().topics[0].received < 501 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    stop.store(true, std::memory_order_release);
    core.join();
    EXPECT_TRUE(drained);
    auto c = set->counters().topics[0];
    EXPECT_EQ(c.received, 501u);
    EXPECT_EQ(c.stored, 500u);
    EXPECT_EQ(c.rejected_total(), 1u);
    EXPECT_EQ(c.in_flight, 0u);
    EXPECT_TRUE(c.balanced());
    EXPECT_EQ(store->high_watermark(*store->find_partition("events", 0)) +
                  store->high_watermark(*store->find_partition("events", 1)),
              500);
}

}  // namespace
