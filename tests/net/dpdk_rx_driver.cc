// Test driver for the DPDK backend in a child process (the veth test runs it inside a network
// namespace): profile -> dpdk_port (1 queue) -> one pipeline -> log_store on a real directory
// (topic "sensors" on UDP 5140, 4 partitions, key /sensor_id, + "sensors.dlq"). Runs until
// SIGTERM/SIGINT or --max-seconds, drains, prints its counters and exits 0.
// Exit 77 when EAL init fails (the test skips), 1 on any other error.
//
//   dpdk_rx_driver --profile P.toml --address 169.254.0.1 --dir DATA [--ready FILE]
//                  [--max-seconds N]

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>
#include <sluice/net/dpdk_port.h>
#include <sluice/pipeline/pipeline.h>

#include <arpa/inet.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

using namespace sluice;

int main(int argc, char** argv) {
    std::string profile_path, address = "169.254.0.1", dir, ready;
    int max_seconds = 60;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--profile") profile_path = v;
        else if (k == "--address") address = v;
        else if (k == "--dir") dir = v;
        else if (k == "--ready") ready = v;
        else if (k == "--max-seconds") max_seconds = std::atoi(v.c_str());
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 1;
        }
    }
    // Signals go to sigtimedwait below only (blocked before EAL creates its threads).
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    std::string err;
    auto profile = net::load_dpdk_profile(profile_path, &err);
    if (!profile) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
    }
    net::dpdk_port_options po;
    po.profile = *profile;
    po.queues = 1;
    po.program_name = "dpdk_rx_driver";
    in_addr a{};
    if (inet_pton(AF_INET, address.c_str(), &a) != 1) {
        std::fprintf(stderr, "bad --address %s\n", address.c_str());
        return 1;
    }
    std::memcpy(po.address.bytes.data(), &a, 4);
    bool eal_failed = false;
    auto port = net::dpdk_port::open(po, &err, &eal_failed);
    if (!port) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return eal_failed ? 77 : 1;
    }

    log::store_options so;
    so.data_dir = dir;
    so.flush_interval_us = 1000;
    auto store = log::log_store::open(so, &err);
    if (!store) {
        std::fprintf(stderr, "log: %s\n", err.c_str());
        return 1;
    }
    for (auto [name, parts] : {std::pair<std::string, int>{"sensors", 4}, {"sensors.dlq", 1}}) {
        if (store->find_topic(name)) continue;
        log::topic_spec spec;
        spec.name = name;
        spec.partitions = parts;
        if (store->create_topic(spec, &err) != errc::ok) {
            std::fprintf(stderr, "create_topic %s: %s\n", name.c_str(), err.c_str());
            return 1;
        }
    }
    store->start();
    pipeline::pipeline_options opts;
    pipeline::topic_route r;
    r.name = "sensors";
    r.port = 5140;
    r.rules.key_pointer = "/sensor_id";
    r.rules.require_pointers = {"/sensor_id"};
    opts.topics.push_back(r);
    opts.cores = 1;
    auto set = pipeline::pipeline_set::make(*store, opts, &err);
    if (!set) {
        std::fprintf(stderr, "pipeline: %s\n", err.c_str());
        return 1;
    }
    auto p = set->make_pipeline(0, &err);
    if (!p) {
        std::fprintf(stderr, "pipeline: %s\n", err.c_str());
        return 1;
    }
    bool drained = false;
    std::thread rx([&] { drained = port->run_queue(0, *p); });
    std::printf("port %s (%s) mac %02x:%02x:%02x:%02x:%02x:%02x\n", port->info().name.c_str(),
                port->info().driver.c_str(), port->info().mac.bytes[0], port->info().mac.bytes[1],
                port->info().mac.bytes[2], port->info().mac.bytes[3], port->info().mac.bytes[4],
                port->info().mac.bytes[5]);
    std::fflush(stdout);
    if (!ready.empty()) std::ofstream(ready) << "ready\n";

    // sigtimedwait fails with EINTR after a SIGSTOP/SIGCONT pair (tests freeze this process to
    // overflow the receive ring): wait again for the rest of the time.
    const std::int64_t until_ns = mono_ns() + std::int64_t{max_seconds} * 1'000'000'000;
    for (;;) {
        const std::int64_t left_ns = until_ns - mono_ns();
        if (left_ns <= 0) break;
        timespec ts{left_ns / 1'000'000'000, left_ns % 1'000'000'000};
        if (sigtimedwait(&sigs, nullptr, &ts) >= 0 || errno != EINTR) break;
    }
    port->request_stop();
    rx.join();
    const auto q = port->queue_stats(0);
    const auto snap = set->counters();
    const auto t = snap.total();
    p.reset();
    set.reset();
    store->stop();
    std::printf("frames=%llu datagrams=%llu arp_replies=%llu icmp_replies=%llu ignored=%llu "
                "tx_failed=%llu nic_missed=%llu received=%llu stored=%llu rejected=%llu "
                "dropped=%llu in_flight=%llu drained=%d\n",
                (unsigned long long)q.frames, (unsigned long long)q.datagrams,
                (unsigned long long)q.arp_replies, (unsigned long long)q.icmp_replies,
                (unsigned long long)q.ignored, (unsigned long long)q.tx_failed,
                (unsigned long long)q.nic_missed, (unsigned long long)t.received,
                (unsigned long long)t.stored, (unsigned long long)t.rejected_total(),
                (unsigned long long)t.dropped_total(), (unsigned long long)t.in_flight,
                drained ? 1 : 0);
    for (std::size_t i = 0; i < net::drop_reason_count; ++i)
        if (q.frame_drops[i] != 0)
            std::printf("frame_drop %s=%llu\n",
                        std::string(net::to_string(static_cast<net::drop_reason>(i))).c_str(),
                        (unsigned long long)q.frame_drops[i]);
    port->close();
    return drained ? 0 : 1;
}
