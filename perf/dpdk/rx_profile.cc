// profile-rx-dpdk: a fixed workload for profilers on the DPDK receive path of one pipeline core,
// over the frames bench-pipeline-dpdk replays (one ~90-byte sensor event per UDP datagram,
// 4096 distinct frames). Not a benchmark: no reference, no RESULT line.
//
//   profile-rx-dpdk --decode [--frames N]        decode_frame alone (reused result, as
//                                                run_queue calls it) over N frames
//   profile-rx-dpdk [--seconds S] [--per-packet K]  net_pcap infinite_rx -> dpdk_port::run_queue
//                                                -> pipeline (storage discarded), then stop
//
// Under callgrind the instruction counts per frame are repeatable on a loaded machine:
//   valgrind --tool=callgrind --toggle-collect='sluice::net::decode_frame*'
//       build/perf/profile-rx-dpdk --decode --frames 1000000
//   valgrind --tool=callgrind build/perf/profile-rx-dpdk --seconds 20
//     then callgrind_annotate --inclusive=yes: (run_queue - pipeline::process - pipeline::poll)
//     / frames (printed) is the receive path's own cost per frame, net_pcap's copy included.

#include "../../tests/net/frame_builder.h"
#include "../common/discard_storage.h"
#include "../common/pcap_port.h"
#include "../common/sensor_events.h"
#include "../common/sensor_store.h"

#include <sluice/base/clock.h>
#include <sluice/net/dpdk_port.h>
#include <sluice/net/frame.h>
#include <sluice/pipeline/pipeline.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;

int main(int argc, char** argv) {
    bool decode_only = false;
    std::uint64_t frames_n = 1'000'000;
    double seconds = 10;
    unsigned per_packet = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
        if (a == "--decode") decode_only = true;
        else if (a == "--frames") frames_n = std::strtoull(next(), nullptr, 10);
        else if (a == "--seconds") seconds = std::atof(next());
        else if (a == "--per-packet") per_packet = static_cast<unsigned>(std::atoi(next()));
        else {
            std::fprintf(stderr, "usage: profile-rx-dpdk [--decode [--frames N]] [--seconds S] "
                                 "[--per-packet K]\n");
            return 2;
        }
    }
    constexpr std::size_t distinct = 4096;
    const auto payloads = perf::sensor_payloads(distinct, per_packet == 0 ? 1 : per_packet);
    std::vector<testing::frame> frames;
    for (const auto& p : payloads)
        frames.push_back(testing::udp4({169, 254, 0, 2}, {169, 254, 0, 1}, 40000, 5140, p));

    if (decode_only) {
        // Frames copied into 2 KiB slots like mbufs, so the tailroom is real readable memory.
        constexpr std::size_t slot = 2048;
        std::vector<std::byte> mem(distinct * slot);
        for (std::size_t i = 0; i < distinct; ++i)
            std::memcpy(mem.data() + i * slot, frames[i].data(), frames[i].size());
        net::decode_result d;
        const net::decode_options o;
        std::uint64_t udp = 0, bytes = 0;
        for (std::uint64_t f = 0; f < frames_n; ++f) {
            const std::size_t i = f % distinct;
            const bytes_view fr(mem.data() + i * slot, frames[i].size());
            if (net::decode_frame(fr, slot - fr.size(), o, d) == net::decode_status::udp) {
                ++udp;
                bytes += d.datagram.payload.size() + d.datagram.tailroom + d.datagram.src_port;
            }
        }
        std::printf("decode: %llu frames, %llu udp (check %llu)\n",
                    static_cast<unsigned long long>(frames_n), static_cast<unsigned long long>(udp),
                    static_cast<unsigned long long>(bytes));
        return udp == frames_n ? 0 : 1;
    }

    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("sluice-rx-profile-" + std::to_string(getpid())))
                                .string();
    std::filesystem::create_directories(dir);
    const std::string pcap = dir + "/one.pcap";
    if (!testing::write_pcap(pcap, frames)) return 1;
    std::string err;
    auto port = perf::open_pcap_port(pcap, distinct, "profile-rx-dpdk", "rx", "512");
    if (!port) return 1;
    log::store_options so;
    so.data_dir = "/profile";
    so.backend = std::make_shared<perf::discard_storage>();
    so.ring_bytes = 32 << 20;
    auto store = perf::open_sensor_store(so, "profile-rx-dpdk");
    if (!store) return 1;
    pipeline::pipeline_options opts;
    opts.topics = {perf::capacity_route()};
    opts.cores = 1;
    auto set = pipeline::pipeline_set::make(*store, opts, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        std::fprintf(stderr, "profile-rx-dpdk: %s\n", err.c_str());
        return 1;
    }
    std::thread rx([&] { port->run_queue(0, *p); });
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(seconds * 1000)));
    port->request_stop();
    rx.join();
    const auto q = port->queue_stats(0);
    const auto c = set->counters();
    std::printf("driver %s\n", port->info().driver.c_str());
    std::printf("frames %llu bursts %llu datagrams %llu received %llu bad_frame drops %llu\n",
                static_cast<unsigned long long>(q.frames), static_cast<unsigned long long>(q.bursts),
                static_cast<unsigned long long>(q.datagrams),
                static_cast<unsigned long long>(c.topics[0].received),
                static_cast<unsigned long long>(
                    c.topics[0].dropped[static_cast<std::size_t>(pipeline::drop_reason::bad_frame)]));
    p.reset();
    set.reset();
    store->stop();
    port->close();
    std::filesystem::remove_all(dir);
    return 0;
}
