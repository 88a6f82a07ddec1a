// Integration tests of the DPDK backend (suite 'integration'):
//  - profile parsing and the drop-attribution peek (no EAL);
//  - net_pcap replay: two captures (two RX queues, two pipeline cores) mixing good events,
//    NDJSON, malformed JSON, missing fields, VLAN/QinQ, IPv6, IPv4 fragments, non-UDP, ARP,
//    ICMP echo, unknown ports and bad checksums, EAL in this process with
//    --no-huge -m 512 --file-prefix <unique> --no-pci; exact per-partition and DLQ contents,
//    counters invariant, ARP/ICMP replies read back from the tx_pcap;
//  - veth pair between two network namespaces created here: the DPDK side (net_af_packet, run
//    as a child `ip netns exec A dpdk_rx_driver`) must answer ARP for 169.254.0.1 and store
//    every sequence number a kernel UDP sender in namespace B sent, exactly once.
// The EAL can be initialised once per process: the pcap test owns this process's EAL.

#include "frame_builder.h"

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/log/partitioner.h>
#include <sluice/log/record_batch.h>
#include <sluice/net/dpdk_port.h>
#include <sluice/pipeline/pipeline.h>

#include <gtest/gtest.h>

#include <rte_mbuf_core.h>

#include "tests/log/log_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef SLUICE_DPDK_DRIVER
#define SLUICE_DPDK_DRIVER ""
#endif

namespace {

using namespace sluice;
using namespace sluice::testing;
namespace fs = std::filesystem;

using record = log::testing::read_record;

// Every record of a partition, each batch checked (log::testing::read_all).
std::vector<record> read_partition(const log::log_store& s, partition_index p) {
    std::string problem;
    auto out = log::testing::read_all(s, p, -1, &problem);
    if (!problem.empty()) ADD_FAILURE() << problem;
    return out;
}

std::string make_temp_dir() {
    std::string t = (fs::temp_directory_path() / "sluice-dpdk-XXXXXX").string();
    if (mkdtemp(t.data()) == nullptr) return {};
    return t;
}

// ---------------------------------------------------------------------------------------------
// No EAL.

TEST(dpdk_profile, parses_every_key) {
    std::string err;
    auto p = net::parse_dpdk_profile(R"(
[eal]
args = ["--no-huge", "-m", "256"]
vdevs = ["net_null0"]
allow = ["0000:3b:00.0"]
[port]
name = "net_null0"
rx_descriptors = 2048
tx_descriptors = 256
rss = false
promiscuous = true
verify_udp_checksum = false
mtu = 9000
[mempool]
mbufs = 16384
cache = 128
[rx]
burst = 16
reassembly_slots = 8
stats_interval_ms = 500
)", &err);
    ASSERT_TRUE(p) << err;
    EXPECT_EQ(p->eal_args, (std::vector<std::string>{"--no-huge", "-m", "256"}));
    EXPECT_EQ(p->vdevs, (std::vector<std::string>{"net_null0"}));
    EXPECT_EQ(p->allow, (std::vector<std::string>{"0000:3b:00.0"}));
    EXPECT_EQ(p->port_name, "net_null0");
    EXPECT_EQ(p->rx_descriptors, 2048);
    EXPECT_EQ(p->tx_descriptors, 256);
    EXPECT_FALSE(p->rss);
    EXPECT_TRUE(p->promiscuous);
    EXPECT_FALSE(p->verify_udp_checksum);
    EXPECT_EQ(p->mtu, 9000);
    EXPECT_EQ(p->mbufs, 16384u);
    EXPECT_EQ(p->cache, 128u);
    EXPECT_EQ(p->burst, 16);
    EXPECT_EQ(p->reassembly_slots, 8u);
    EXPECT_EQ(p->stats_interval_ms, 500u);
}

TEST(dpdk_profile, errors_name_the_key) {
    std::string err;
    EXPECT_FALSE(net::parse_dpdk_profile("[port]\nrx_descriptors = 5\n", &err));
    EXPECT_NE(err.find("port.rx_descriptors"), std::string::npos) << err;
    EXPECT_FALSE(net::parse_dpdk_profile("[port]\nqueues = 5\n", &err));
    EXPECT_NE(err.find("port.queues: unknown key"), std::string::npos) << err;
    EXPECT_FALSE(net::parse_dpdk_profile("[rx]\nburst = 65\n", &err));
    EXPECT_NE(err.find("rx.burst"), std::string::npos) << err;
    EXPECT_FALSE(net::parse_dpdk_profile("[eal]\nargs = [1]\n", &err));
    EXPECT_NE(err.find("eal.args[0]"), std::string::npos) << err;
    EXPECT_FALSE(net::parse_dpdk_profile("[mempool]\nmbufs = 100\ncache = 256\n", &err));
    EXPECT_NE(err.find("mempool.cache"), std::string::npos) << err;
    EXPECT_FALSE(net::parse_dpdk_profile("[eal\n", &err));
    EXPECT_FALSE(net::load_dpdk_profile("/nonexistent/x.toml", &err));
    EXPECT_NE(err.find("/nonexistent/x.toml"), std::string::npos) << err;
}

TEST(dpdk_profile, shipped_profiles_parse) {
    const fs::path dir = fs::path(SLUICE_SOURCE_ROOT) / "dpdk-config";
    if (!fs::is_directory(dir)) GTEST_SKIP() << "no dpdk-config/ at " << dir;
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".toml") continue;
        std::string err;
        EXPECT_TRUE(net::load_dpdk_profile(e.path().string(), &err)) << err;
        ++n;
    }
    EXPECT_GE(n, 8);
}

// The NIC's checksum verdicts (mbuf ol_flags) decide which checks stay in software.
TEST(dpdk_checksum, nic_verdicts_to_decode_options) {
    const std::uint64_t ips[] = {RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD,
                                 RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_NONE};
    const std::uint64_t l4s[] = {RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, RTE_MBUF_F_RX_L4_CKSUM_BAD,
                                 RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_NONE};
    const std::uint64_t other = RTE_MBUF_F_RX_RSS_HASH | RTE_MBUF_F_RX_VLAN;  // no influence
    for (const std::uint64_t ip : ips)
        for (const std::uint64_t l4 : l4s) {
            const bool ip_trusted =
                ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE;
            const bool l4_trusted =
                l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE;
            const net::decode_options on = net::rx_checksum_options(ip | l4 | other, {});
            EXPECT_EQ(on.verify_ipv4_checksum, !ip_trusted) << ip << " " << l4;
            EXPECT_EQ(on.verify_udp_checksum, !l4_trusted) << ip << " " << l4;
            // port.verify_udp_checksum = false stays false whatever the NIC says.
            const net::decode_options off =
                net::rx_checksum_options(ip | l4, {.verify_udp_checksum = false});
            EXPECT_FALSE(off.verify_udp_checksum);
            EXPECT_EQ(off.verify_ipv4_checksum, !ip_trusted);
        }
    const net::decode_options none = net::rx_checksum_options(0, {});  // net_pcap: UNKNOWN
    EXPECT_TRUE(none.verify_ipv4_checksum);
    EXPECT_TRUE(none.verify_udp_checksum);
}

TEST(dpdk_peek, udp_port_of_dropped_frames) {
    const ipv4 a{10, 0, 0, 1}, b{10, 0, 0, 2};
    auto f1 = udp4(a, b, 1000, 5140, "{}", 0, 0, true);
    EXPECT_EQ(net::peek_udp_dst_port(bytes_view(reinterpret_cast<const std::byte*>(f1.data()), f1.size())), 5140);
    auto f2 = udp4(a, b, 1000, 5141, "{}", 7, 9);
    EXPECT_EQ(net::peek_udp_dst_port(bytes_view(reinterpret_cast<const std::byte*>(f2.data()), f2.size())), 5141);
    auto f3 = tcp4(a, b, 80);
    EXPECT_EQ(net::peek_udp_dst_port(bytes_view(reinterpret_cast<const std::byte*>(f3.data()), f3.size())), 0);
    auto f4 = udp6(1, 2, 1000, 5142, "{}");
    EXPECT_EQ(net::peek_udp_dst_port(bytes_view(reinterpret_cast<const std::byte*>(f4.data()), f4.size())), 5142);
    f4.resize(20);
    EXPECT_EQ(net::peek_udp_dst_port(bytes_view(reinterpret_cast<const std::byte*>(f4.data()), f4.size())), 0);
}

// ---------------------------------------------------------------------------------------------
// net_pcap replay (EAL in this process).

constexpr std::uint16_t sensors_port = 5140;
constexpr std::uint16_t logs_port = 5141;
const ipv4 our_ip{10, 9, 0, 1};
const ipv4 peer_a{10, 9, 0, 2};
const ipv4 peer_b{10, 9, 0, 3};

// What one capture should produce.
struct expectation {
    std::vector<frame> frames;
    std::vector<std::string> sensors;      // accepted events in arrival order
    std::vector<std::string> sources;      // their "src" header, same order
    std::vector<std::string> logs;         // accepted keyless events
    std::vector<std::string> dlq_values;   // sensors.dlq values
    std::vector<std::string> dlq_reasons;
    std::uint64_t sensors_bad_frame = 0;   // bad_frame drops attributed to sensors
    std::uint64_t unrouted_bad_frame = 0;  // ... to _unrouted
    std::uint64_t unrouted_no_route = 0;
};

std::string sensor_event(int id, int seq, std::size_t pad = 0) {
    return R"({"sensor_id":)" + std::to_string(id) + R"(,"seq":)" + std::to_string(seq) +
           R"(,"reading":)" + std::to_string(10 + seq % 7) + ".5,\"note\":\"" +
           std::string(pad, 'x') + "\"}";
}

expectation mixed_capture() {
    expectation e;
    int seq = 0;
    auto good = [&](int id, std::uint16_t vlan = 0, std::uint16_t outer = 0) {
        const std::string ev = sensor_event(id, seq++);
        e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, ev, vlan, outer));
        e.sensors.push_back(ev);
        e.sources.push_back("10.9.0.2:40000");
    };
    for (int i = 0; i < 12; ++i) good(i % 5);
    // NDJSON: 5 events in one datagram (trailing newline).
    {
        std::string nd;
        for (int i = 0; i < 5; ++i) {
            const std::string ev = sensor_event(7 + i, seq++);
            nd += ev + "\n";
            e.sensors.push_back(ev);
            e.sources.push_back("10.9.0.2:40000");
        }
        e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, nd));
    }
    // Malformed JSON and a missing required field: DLQ.
    e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, R"({"sensor_id":3,"seq":)"));
    e.dlq_values.push_back(R"({"sensor_id":3,"seq":)");
    e.dlq_reasons.push_back("not_json");
    e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, R"({"seq":99,"reading":1})"));
    e.dlq_values.push_back(R"({"seq":99,"reading":1})");
    e.dlq_reasons.push_back("missing_field");
    // VLAN and QinQ tagged.
    good(1, 100);
    good(2, 200, 300);
    // IPv6.
    {
        const std::string ev = sensor_event(4, seq++);
        e.frames.push_back(udp6(2, 1, 40000, sensors_port, ev));
        e.sensors.push_back(ev);
        e.sources.push_back("[fd00::2]:40000");
    }
    // IPv4 fragmented NDJSON datagram (~3.2 KB, 3 fragments), sent last fragment first.
    {
        std::string nd;
        std::vector<std::string> evs;
        for (int i = 0; i < 24; ++i) {
            evs.push_back(sensor_event(i % 6, seq++, 60));
            nd += evs.back() + "\n";
        }
        auto frags = udp4_fragments(peer_a, our_ip, 40000, sensors_port, nd, 777, 1200);
        EXPECT_EQ(frags.size(), 3u);
        e.frames.push_back(frags[2]);
        e.frames.push_back(frags[0]);
        good(3);  // arrives before the datagram completes
        e.frames.push_back(frags[1]);
        for (auto& ev : evs) {
            e.sensors.push_back(ev);
            e.sources.push_back("10.9.0.2:40000");
        }
    }
    // Non-UDP, ARP (ours and someone else's), ICMP echo to us: not events; TCP is a bad_frame.
    e.frames.push_back(tcp4(peer_a, our_ip, 80));
    ++e.unrouted_bad_frame;
    e.frames.push_back(arp_request(peer_a, our_ip));
    e.frames.push_back(arp_request(peer_a, ipv4{10, 9, 0, 99}));
    e.frames.push_back(icmp_echo(peer_a, our_ip, 0x1234, 7, "ping-payload"));
    // Unknown port: no_route on _unrouted. Bad checksums: bad_frame on the port's topic.
    e.frames.push_back(udp4(peer_a, our_ip, 40000, 9999, sensor_event(1, 1000)));
    ++e.unrouted_no_route;
    e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, sensor_event(1, 1001), 0, 0, true));
    ++e.sensors_bad_frame;
    e.frames.push_back(udp4(peer_a, our_ip, 40000, sensors_port, sensor_event(1, 1002), 0, 0, false, true));
    ++e.sensors_bad_frame;
    // Keyless topic.
    for (int i = 0; i < 4; ++i) {
        const std::string ev = R"({"msg":"line )" + std::to_string(i) + R"("})";
        e.frames.push_back(udp4(peer_a, our_ip, 40001, logs_port, ev));
        e.logs.push_back(ev);
    }
    for (int i = 0; i < 8; ++i) good(i);
    return e;
}

// Queue 1's capture: good events from another source.
expectation simple_capture() {
    expectation e;
    for (int i = 0; i < 40; ++i) {
        const std::string ev = sensor_event(i % 9, 5000 + i);
        e.frames.push_back(udp4(peer_b, our_ip, 41000, sensors_port, ev));
        e.sensors.push_back(ev);
        e.sources.push_back("10.9.0.3:41000");
    }
    return e;
}

struct store_fixture {
    std::shared_ptr<log::memory_storage> mem = std::make_shared<log::memory_storage>();
    std::unique_ptr<log::log_store> store;

    bool open() {
        log::store_options o;
        o.data_dir = "/data";
        o.backend = mem;
        o.flush_interval_us = 500;
        o.ring_bytes = 1 << 20;
        o.max_partitions = 64;
        o.max_appenders = 8;
        std::string err;
        store = log::log_store::open(o, &err);
        if (!store) {
            ADD_FAILURE() << err;
            return false;
        }
        for (auto [name, parts] : {std::pair<std::string, int>{"sensors", 4}, {"logs", 2}}) {
            log::topic_spec spec;
            spec.name = name;
            spec.partitions = parts;
            EXPECT_EQ(store->create_topic(spec, &err), errc::ok) << err;
            spec.name = name + ".dlq";
            spec.partitions = 1;
            EXPECT_EQ(store->create_topic(spec, &err), errc::ok) << err;
        }
        store->start();
        return true;
    }

    std::vector<record> partition(const std::string& t, int n) const {
        auto p = store->find_partition(t, n);
        EXPECT_TRUE(p.has_value()) << t << "-" << n;
        return p ? read_partition(*store, *p) : std::vector<record>{};
    }
};

pipeline::pipeline_options route_options(unsigned cores) {
    pipeline::pipeline_options o;
    pipeline::topic_route s;
    s.name = "sensors";
    s.port = sensors_port;
    s.rules.key_pointer = "/sensor_id";
    s.rules.require_pointers = {"/sensor_id"};
    o.topics.push_back(s);
    pipeline::topic_route l;
    l.name = "logs";
    l.port = logs_port;
    o.topics.push_back(l);
    o.cores = cores;
    o.linger_ns = 200'000;
    return o;
}

TEST(dpdk_pcap, replay_two_queues_into_the_log) {
    const std::string dir = make_temp_dir();
    ASSERT_FALSE(dir.empty());
    const expectation ea = mixed_capture();
    const expectation eb = simple_capture();
    ASSERT_TRUE(write_pcap(dir + "/a.pcap", ea.frames));
    ASSERT_TRUE(write_pcap(dir + "/b.pcap", eb.frames));

    std::string err;
    auto profile = net::parse_dpdk_profile(
        "[eal]\nargs = [\"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--file-prefix\", "
        "\"sluice-t-" + std::to_string(getpid()) + "\", \"--log-level\", \"lib.eal:warning\"]\n"
        "vdevs = [\"net_pcap0,rx_pcap=" + dir + "/a.pcap,rx_pcap=" + dir + "/b.pcap,tx_pcap=" +
        dir + "/tx0.pcap,tx_pcap=" + dir + "/tx1.pcap\"]\n"
        "[port]\nrx_descriptors = 256\ntx_descriptors = 256\n[mempool]\nmbufs = 4096\n",
        &err);
    ASSERT_TRUE(profile) << err;
    net::dpdk_port_options po;
    po.profile = *profile;
    po.queues = 2;
    po.address = net::ip_address::v4(our_ip.a, our_ip.b, our_ip.c, our_ip.d);
    bool eal_failed = false;
    auto port = net::dpdk_port::open(po, &err, &eal_failed);
    if (!port && eal_failed) GTEST_SKIP() << "EAL init failed (resources?): " << err;
    ASSERT_TRUE(port) << err;
    EXPECT_EQ(port->info().driver, "net_pcap");
    EXPECT_EQ(port->info().queues, 2u);
    EXPECT_FALSE(port->info().rss);  // net_pcap hashes nothing: rss_hf masked to 0
    EXPECT_EQ(port->info().rss_hf, 0u);

    store_fixture sf;
    ASSERT_TRUE(sf.open());
    auto set = pipeline::pipeline_set::make(*sf.store, route_options(2), &err);
    ASSERT_TRUE(set) << err;
    auto p0 = set->make_pipeline(0, &err);
    ASSERT_TRUE(p0) << err;
    auto p1 = set->make_pipeline(1, &err);
    ASSERT_TRUE(p1) << err;

    bool drained0 = false, drained1 = false;
    std::thread t0([&] { drained0 = port->run_queue(0, *p0); });
    std::thread t1([&] { drained1 = port->run_queue(1, *p1); });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until &&
           (port->queue_stats(0).frames < ea.frames.size() ||
            port->queue_stats(1).frames < eb.frames.size()))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    port->request_stop();
    t0.join();
    t1.join();
    EXPECT_TRUE(drained0);
    EXPECT_TRUE(drained1);

    // After resume() the loops run again (bench-pipeline-dpdk pauses its pipeline this way):
    // the captures are used up, so nothing arrives and nothing is counted twice (the exact
    // counts below still hold).
    const auto first0 = port->queue_stats(0);
    port->resume();
    EXPECT_FALSE(port->stop_requested());
    std::thread again0([&] { drained0 = port->run_queue(0, *p0); });
    std::thread again1([&] { drained1 = port->run_queue(1, *p1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    port->request_stop();
    again0.join();
    again1.join();
    EXPECT_TRUE(drained0);
    EXPECT_TRUE(drained1);
    EXPECT_EQ(port->queue_stats(0).frames, first0.frames);
    EXPECT_EQ(port->queue_stats(0).nic_missed, first0.nic_missed);

    const auto q0 = port->queue_stats(0);
    const auto q1 = port->queue_stats(1);
    EXPECT_EQ(q0.frames, ea.frames.size());
    EXPECT_EQ(q1.frames, eb.frames.size());
    EXPECT_EQ(q0.arp_replies, 1u);
    EXPECT_EQ(q0.icmp_replies, 1u);
    EXPECT_EQ(q0.ignored, 1u);  // the ARP request for another address
    EXPECT_EQ(q0.fragments, 3u);
    EXPECT_EQ(q0.reassembled, 1u);
    EXPECT_EQ(q0.frame_drops[static_cast<std::size_t>(net::drop_reason::not_udp)], 1u);
    EXPECT_EQ(q0.frame_drops[static_cast<std::size_t>(net::drop_reason::bad_checksum)], 2u);
    EXPECT_GE(q0.tailroom_min, net::json_padding_bytes);  // every datagram parsed in place
    EXPECT_EQ(q0.multi_segment, 0u);

    // Wait (bounded) until the DLQ records are durable too.
    auto dlq = sf.store->find_partition("sensors.dlq", 0);
    ASSERT_TRUE(dlq);
    for (int i = 0; i < 2000 && sf.store->high_watermark(*dlq) < std::int64_t(ea.dlq_values.size()); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));

    // Counters: exact per topic and balanced, nothing in flight.
    const auto snap = set->counters();
    ASSERT_EQ(snap.topic_names.size(), 3u);
    EXPECT_EQ(snap.topic_names[2], pipeline::unrouted_topic);
    const auto& cs = snap.topics[0];
    const auto& cl = snap.topics[1];
    const auto& cu = snap.topics[2];
    for (const auto& c : snap.topics) {
        EXPECT_TRUE(c.balanced());
        EXPECT_EQ(c.in_flight, 0u);
    }
    const std::uint64_t sensors_ok = ea.sensors.size() + eb.sensors.size();
    EXPECT_EQ(cs.stored, sensors_ok);
    EXPECT_EQ(cs.rejected_total(), ea.dlq_values.size());
    EXPECT_EQ(cs.rejected[static_cast<std::size_t>(event::reject_reason::not_json)], 1u);
    EXPECT_EQ(cs.rejected[static_cast<std::size_t>(event::reject_reason::missing_field)], 1u);
    EXPECT_EQ(cs.dropped[static_cast<std::size_t>(pipeline::drop_reason::bad_frame)],
              ea.sensors_bad_frame);
    EXPECT_EQ(cs.dropped_total(), ea.sensors_bad_frame);
    EXPECT_EQ(cs.received, sensors_ok + ea.dlq_values.size() + ea.sensors_bad_frame);
    EXPECT_EQ(cl.stored, ea.logs.size());
    EXPECT_EQ(cl.received, ea.logs.size());
    EXPECT_EQ(cu.dropped[static_cast<std::size_t>(pipeline::drop_reason::bad_frame)],
              ea.unrouted_bad_frame);
    EXPECT_EQ(cu.dropped[static_cast<std::size_t>(pipeline::drop_reason::no_route)],
              ea.unrouted_no_route);
    EXPECT_EQ(cu.received, ea.unrouted_bad_frame + ea.unrouted_no_route);
    EXPECT_EQ(cu.stored, 0u);
    EXPECT_EQ(snap.per_core.size(), 2u);
    EXPECT_EQ(snap.per_core[1][0].stored, eb.sensors.size());

    // Per partition: every record on partition_for_key(key); per source, arrival order.
    std::map<std::string, std::map<int, std::vector<std::string>>> want;  // src -> part -> values
    auto key_of = [](const std::string& ev) {
        const auto b = ev.find(':') + 1;
        return ev.substr(b, ev.find(',') - b);
    };
    auto part_of = [](const std::string& key) {
        return log::partition_for_key(
            bytes_view(reinterpret_cast<const std::byte*>(key.data()), key.size()), 4);
    };
    for (const auto* e : {&ea, &eb}) {
        ASSERT_EQ(e->sensors.size(), e->sources.size());
        for (std::size_t i = 0; i < e->sensors.size(); ++i)
            want[e->sources[i]][part_of(key_of(e->sensors[i]))].push_back(e->sensors[i]);
    }
    std::size_t total = 0;
    for (int p = 0; p < 4; ++p) {
        std::map<std::string, std::vector<std::string>> got;
        for (auto& r : sf.partition("sensors", p)) {
            ASSERT_TRUE(r.key.has_value());
            EXPECT_EQ(part_of(*r.key), p);
            EXPECT_EQ(*r.key, key_of(r.value));
            got[r.headers["src"]].push_back(r.value);
            ++total;
        }
        EXPECT_LE(got.size(), 3u);
        for (const auto& src : {"10.9.0.2:40000", "10.9.0.3:41000", "[fd00::2]:40000"})
            EXPECT_EQ(got[src], want[src][p]) << "partition " << p << " source " << src;
    }
    EXPECT_EQ(total, sensors_ok);
    std::multiset<std::string> logs_got, logs_want(ea.logs.begin(), ea.logs.end());
    for (int p = 0; p < 2; ++p)
        for (const auto& r : sf.partition("logs", p)) {
            EXPECT_FALSE(r.key.has_value());
            logs_got.insert(r.value);
        }
    EXPECT_EQ(logs_got, logs_want);
    const auto dlq_records = sf.partition("sensors.dlq", 0);
    ASSERT_EQ(dlq_records.size(), ea.dlq_values.size());
    for (std::size_t i = 0; i < dlq_records.size(); ++i) {
        EXPECT_EQ(dlq_records[i].value, ea.dlq_values[i]);
        EXPECT_EQ(dlq_records[i].headers.at("reason"), ea.dlq_reasons[i]);
    }
    EXPECT_TRUE(sf.partition("logs.dlq", 0).empty());

    // Replies: queue 0's TX went to tx0.pcap (flushed on close).
    const net::mac_address mac = port->info().mac;
    port->close();
    sf.store->stop();
    const auto tx = read_pcap(dir + "/tx0.pcap");
    ASSERT_EQ(tx.size(), 2u);
    const frame& arp = tx[0];
    ASSERT_GE(arp.size(), 42u);
    EXPECT_EQ(arp[12], 0x08);
    EXPECT_EQ(arp[13], 0x06);
    EXPECT_EQ(arp[21], 2);  // opcode reply
    EXPECT_TRUE(std::equal(mac.bytes.begin(), mac.bytes.end(), arp.begin() + 22));  // sender MAC
    EXPECT_EQ((std::vector<std::uint8_t>(arp.begin() + 28, arp.begin() + 32)),
              (std::vector<std::uint8_t>{10, 9, 0, 1}));
    EXPECT_TRUE(std::equal(src_mac, src_mac + 6, arp.begin()));  // to the requester
    const frame& icmp = tx[1];
    ASSERT_GE(icmp.size(), 42u);
    EXPECT_EQ(icmp[23], 1);   // ICMP
    EXPECT_EQ(icmp[34], 0);   // echo reply
    EXPECT_EQ((std::vector<std::uint8_t>(icmp.begin() + 30, icmp.begin() + 34)),
              (std::vector<std::uint8_t>{10, 9, 0, 2}));
    EXPECT_TRUE(read_pcap(dir + "/tx1.pcap").empty());
    fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// veth pair between two namespaces; DPDK net_af_packet in namespace A (child process).

int sh(const std::string& cmd) {
    const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct netns_pair {
    std::string a, b;
    bool ok = false;
    bool checksums_complete = false;
    std::string why;
    netns_pair() {
        const std::string tag = "sluice-t-" + std::to_string(getpid());
        a = tag + "-a";
        b = tag + "-b";
        if (sh("ip netns add " + a) != 0) {
            why = "ip netns add failed";
            return;
        }
        if (sh("ip netns add " + b) != 0) {
            why = "ip netns add failed";
            return;
        }
        const std::vector<std::string> cmds = {
            "ip -n " + a + " link add veth-dp type veth peer name veth-gen netns " + b,
            "ip -n " + a + " link set lo up",
            "ip -n " + b + " link set lo up",
            "ip -n " + a + " link set veth-dp up",
            "ip -n " + b + " link set veth-gen up",
            "ip -n " + b + " addr add 169.254.0.2/16 dev veth-gen",
            // Keep the kernel quiet on the DPDK side: no address, no IPv6 autoconf chatter.
            "ip netns exec " + a + " sysctl -qw net.ipv6.conf.veth-dp.disable_ipv6=1",
            "ip netns exec " + b + " sysctl -qw net.ipv6.conf.veth-gen.disable_ipv6=1",
        };
        for (const auto& c : cmds)
            if (sh(c) != 0) {
                why = "failed: " + c;
                return;
            }
        // GRO off on both ends (af_packet frames must fit framesz). TX checksum offload off on
        // the sender: a veth hands AF_PACKET frames with CHECKSUM_PARTIAL (UDP checksum not
        // filled in), which the decoder rightly rejects. Without ethtool: verify nothing.
        sh("ip netns exec " + a + " ethtool -K veth-dp gro off");
        sh("ip netns exec " + b + " ethtool -K veth-gen gro off");
        checksums_complete = sh("ip netns exec " + b + " ethtool -K veth-gen tx off") == 0;
        ok = true;
    }
    ~netns_pair() {
        sh("ip netns del " + a);
        sh("ip netns del " + b);
    }
};

// The DPDK receiver (dpdk_rx_driver, net_af_packet on veth-dp) as a child inside namespace A.
struct veth_driver {
    std::string dir, data, log_text;
    pid_t pid = -1;
    int status = 0;
    std::string error;  // start(): why it could not start; empty = running
    bool eal_failed = false;

    // verify_udp_checksum: 1/0 forces it, -1 = whenever the sender's checksums are complete.
    bool start(const netns_pair& ns, int framecnt, int verify_udp_checksum = -1) {
        dir = make_temp_dir();
        if (dir.empty()) return fail("no temp dir");
        const std::string profile = dir + "/af_packet.toml";
        {
            std::ofstream p(profile);
            p << "[eal]\nargs = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--file-prefix\", "
                 "\"sluice-t-" << getpid() << "-veth\", \"--log-level\", \"lib.eal:warning\"]\n"
                 "vdevs = [\"net_af_packet0,iface=veth-dp,qpairs=1,framecnt=" << framecnt << "\"]\n"
                 "[port]\nrx_descriptors = 1024\ntx_descriptors = 256\n"
              << "verify_udp_checksum = "
              << ((verify_udp_checksum < 0 ? ns.checksums_complete : verify_udp_checksum == 1) ? "true" : "false")
              << "\n";
        }
        data = dir + "/data";
        const std::string ready = dir + "/ready";
        pid = fork();
        if (pid < 0) return fail("fork failed");
        if (pid == 0) {
            const int out = ::open((dir + "/driver.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) {
                dup2(out, 1);
                dup2(out, 2);
            }
            execl("/usr/sbin/ip", "ip", "netns", "exec", ns.a.c_str(), SLUICE_DPDK_DRIVER,
                  "--profile", profile.c_str(), "--address", "169.254.0.1", "--dir", data.c_str(),
                  "--ready", ready.c_str(), "--max-seconds", "60", static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 300; ++i) {
            if (fs::exists(ready)) return true;
            int st = 0;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                read_log();
                eal_failed = WIFEXITED(st) && WEXITSTATUS(st) == 77;
                return fail((eal_failed ? "EAL init failed: " : "driver exited early: ") + log_text);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return fail("driver not ready");
    }
    // SIGTERM, wait (bounded); true iff it exited 0. log_text holds its output.
    bool stop() {
        if (pid <= 0) return false;
        kill(pid, SIGCONT);
        kill(pid, SIGTERM);
        for (int i = 0; i < 200; ++i) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        read_log();
        return pid == -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    // A "name=value" figure from the driver's closing line.
    long long figure(const std::string& name) const {
        const auto at = log_text.find(" " + name + "=");
        return at == std::string::npos ? -1 : std::atoll(log_text.c_str() + at + name.size() + 2);
    }
    ~veth_driver() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        if (!dir.empty()) fs::remove_all(dir);
    }

private:
    bool fail(std::string why) {
        error = std::move(why);
        return false;
    }
    void read_log() {
        std::ifstream l(dir + "/driver.log");
        std::stringstream ss;
        ss << l.rdbuf();
        log_text = ss.str();
    }
};

// Sends events seq first..first+count-1 from namespace B with a kernel UDP socket (which needs
// our ARP reply to resolve 169.254.0.1); pauses 10 ms every `pause_every` datagrams (0 = never).
int send_events(const netns_pair& ns, const std::string& dir, int first, int count, int pause_every) {
    const std::string py =
        "import socket,time,json\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        "for i in range(" + std::to_string(first) + "," + std::to_string(first + count) + "):\n"
        "  s.sendto(json.dumps({'sensor_id':i%13,'seq':i,'reading':20.5}).encode(),('169.254.0.1',5140))\n"
        "  if " + std::to_string(pause_every) + " and i%" + std::to_string(std::max(pause_every, 1)) +
        "==" + std::to_string(std::max(pause_every, 1) - 1) + ": time.sleep(0.01)\n";
    {
        std::ofstream f(dir + "/send.py");
        f << py;
    }
    return sh("ip netns exec " + ns.b + " /usr/bin/python3 " + dir + "/send.py");
}

// Every stored seq, counted.
std::map<int, int> stored_seqs(const std::string& data) {
    log::store_options o;
    o.data_dir = data;
    std::string err;
    auto store = log::log_store::open(o, &err);
    EXPECT_TRUE(store) << err;
    std::map<int, int> seen;
    if (!store) return seen;
    for (int p = 0; p < 4; ++p) {
        auto pi = store->find_partition("sensors", p);
        EXPECT_TRUE(pi);
        if (!pi) continue;
        for (auto& r : read_partition(*store, *pi)) {
            const auto at = r.value.find("\"seq\":");  // python's json.dumps adds a space
            EXPECT_NE(at, std::string::npos) << r.value;
            if (at == std::string::npos) continue;
            ++seen[std::atoi(r.value.c_str() + at + 6)];
            EXPECT_EQ(r.headers["src"].rfind("169.254.0.2:", 0), 0u) << r.headers["src"];
        }
    }
    return seen;
}

// seq 0..n-1 each stored exactly once, nothing else.
void expect_every_seq_once(std::map<int, int> seen, int n, const std::string& context) {
    int missing = 0, dup = 0;
    for (int i = 0; i < n; ++i) {
        if (seen[i] == 0) ++missing;
        if (seen[i] > 1) ++dup;
    }
    EXPECT_EQ(missing, 0) << context;
    EXPECT_EQ(dup, 0);
    EXPECT_EQ(seen.size(), std::size_t(n));
}

#define SKIP_UNLESS_VETH_POSSIBLE()                                                            \
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";          \
    if (std::string(SLUICE_DPDK_DRIVER).empty() || access(SLUICE_DPDK_DRIVER, X_OK) != 0)      \
        GTEST_SKIP() << "no driver binary";                                                    \
    if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/python3 (sender)"

TEST(dpdk_veth, af_packet_answers_arp_and_stores_every_seq_once) {
    SKIP_UNLESS_VETH_POSSIBLE();
    netns_pair ns;
    if (!ns.ok) GTEST_SKIP() << "ip netns unavailable: " << ns.why;
    veth_driver d;
    if (!d.start(ns, 4096)) {
        if (d.eal_failed) GTEST_SKIP() << d.error;
        FAIL() << d.error;
    }
    const int n_events = 2000;
    EXPECT_EQ(send_events(ns, d.dir, 0, n_events, 100), 0);
    // The neighbour entry on B's side must have been learned from our ARP reply.
    EXPECT_EQ(sh("ip -n " + ns.b + " neigh show 169.254.0.1 | grep -q lladdr"), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(d.stop()) << d.log_text;

    expect_every_seq_once(stored_seqs(d.data), n_events, d.log_text);
    EXPECT_NE(d.log_text.find("arp_replies="), std::string::npos) << d.log_text;
}

// `sluice gen --dpdk` in namespace B (net_af_packet on veth-gen) sends to the DPDK receiver in A:
// the generator learns the receiver's MAC by ARP through DPDK (answered by the receiver), builds
// every frame itself, its UDP checksums are verified by the receiver, and every seq is stored
// exactly once.
TEST(dpdk_veth, gen_dpdk_tx_stores_every_seq_once) {
    SKIP_UNLESS_VETH_POSSIBLE();
    netns_pair ns;
    if (!ns.ok) GTEST_SKIP() << "ip netns unavailable: " << ns.why;
    veth_driver d;
    if (!d.start(ns, 4096, 1)) {
        if (d.eal_failed) GTEST_SKIP() << d.error;
        FAIL() << d.error;
    }
    const std::string profile = d.dir + "/gen.toml";
    {
        std::ofstream p(profile);
        p << "[eal]\nargs = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--file-prefix\", "
             "\"sluice-t-" << getpid() << "-gen\", \"--log-level\", \"lib.eal:warning\"]\n"
             "vdevs = [\"net_af_packet1,iface=veth-gen,qpairs=1\"]\n";
    }
    const int n_events = 3000;
    const std::string out = d.dir + "/gen.out";
    const int rc = sh("ip netns exec " + ns.b + " " + SLUICE_BIN + " gen --dpdk " + profile +
                      " --source 169.254.0.2 --target 169.254.0.1:5140 --count " +
                      std::to_string(n_events) + " --rate 20000 > " + out + " 2>&1; exit $?");
    std::ifstream g(out);
    std::stringstream gs;
    gs << g.rdbuf();
    ASSERT_EQ(rc, 0) << gs.str();
    EXPECT_NE(gs.str().find("\"events\":" + std::to_string(n_events) + ","), std::string::npos) << gs.str();
    EXPECT_NE(gs.str().find("\"send_errors\":0}"), std::string::npos) << gs.str();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(d.stop()) << d.log_text;

    expect_every_seq_once(stored_seqs(d.data), n_events, d.log_text);
    EXPECT_EQ(d.figure("stored"), n_events) << d.log_text;
}

// The receiver is frozen (SIGSTOP) while a burst arrives, so the AF_PACKET ring overflows in the
// kernel. net_af_packet does not count that; sluice must (nic_missed): every datagram sent is
// either stored or counted as missed, exactly.
TEST(dpdk_veth, af_packet_ring_overflow_is_counted) {
    SKIP_UNLESS_VETH_POSSIBLE();
    netns_pair ns;
    if (!ns.ok) GTEST_SKIP() << "ip netns unavailable: " << ns.why;
    veth_driver d;
    const int framecnt = 512;
    if (!d.start(ns, framecnt)) {
        if (d.eal_failed) GTEST_SKIP() << d.error;
        FAIL() << d.error;
    }
    const int warm = 100, burst = 5000;
    ASSERT_EQ(send_events(ns, d.dir, 0, warm, 50), 0);  // resolves ARP while the driver runs
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(kill(d.pid, SIGSTOP), 0);
    ASSERT_EQ(send_events(ns, d.dir, warm, burst, 0), 0);
    ASSERT_EQ(kill(d.pid, SIGCONT), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > one device-counter poll
    ASSERT_TRUE(d.stop()) << d.log_text;

    auto seen = stored_seqs(d.data);
    long long stored = 0;
    for (auto& [seq, n] : seen) {
        EXPECT_EQ(n, 1) << "seq " << seq;
        stored += n;
    }
    for (int i = 0; i < warm; ++i) EXPECT_EQ(seen[i], 1) << "warm-up seq " << i;
    const long long missed = d.figure("nic_missed");
    // The ring holds at most framecnt frames while the receiver is stopped.
    EXPECT_GE(missed, burst - framecnt) << d.log_text;
    EXPECT_EQ(stored + missed, warm + burst) << d.log_text;
    EXPECT_EQ(d.figure("dropped"), missed) << d.log_text;
    EXPECT_EQ(d.figure("stored"), stored) << d.log_text;
}

}  // namespace
