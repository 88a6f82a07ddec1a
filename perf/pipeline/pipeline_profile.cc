// profile-pipeline: a fixed, repeatable workload for profilers (callgrind, perf) on one
// pipeline core: pre-built datagrams of the ~100-byte sensor events bench-pipeline-dpdk
// replays (1 or 10 NDJSON lines per datagram) go through pipeline::process in bursts of 32
// into a log on a storage that discards writes (as bench-pipeline-dpdk --simulate-storage);
// the log's writer drains the ring on its own thread. No sockets, no DPDK, no clock in the loop except the pipeline's own.
//
//   profile-pipeline [--events N] [--per-packet 1|10] [--simulate-storage] [--parse-only]
//                    [--batch-bytes N (the pipeline's batch size)]
//                    [--linger-ms N (the pipeline's linger; default 1 ms)] [--backpressure]
//
// Under valgrind an event takes ~15 us of wall time, so the default 1 ms linger ends every
// batch after ~70 events (~8 records per partition): --batch-bytes changes nothing there
// unless --linger-ms is raised (e.g. 100000) so that batches fill to batch_bytes.
// --backpressure: the log's writer is not started and the ring is 1 MiB, so after the first
// ~16 batches every batch ends as a backpressure drop (try_append returns full), as most do in
// bench-pipeline-dpdk with a disk that takes ~2.2 M events/s.
//
// Under callgrind, compare `pipeline::process` inclusive instructions per event between builds
// (the event count is fixed, so instructions are repeatable on a loaded machine):
//   valgrind --tool=callgrind --toggle-collect='sluice::pipeline::pipeline::process*'
//       build/perf/pipeline/profile-pipeline --events 200000
// --parse-only runs event_parser::parse_datagram alone over the same payloads (--exact: without
// the structural fast path, for A/B in one binary). --reference runs bench-pipeline-dpdk's
// reference (simdjson On Demand, every value visited; iterate_many, or iterate with
// --per-packet 1) over the same payloads: its instructions per event against
// pipeline::process's are a repeatable stand-in for that benchmark's ratio on a loaded box.

#include "../common/discard_storage.h"
#include "../common/ondemand_reference.h"
#include "../common/sensor_events.h"
#include "../common/sensor_store.h"

#include <sluice/base/clock.h>
#include <sluice/event/event.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/pipeline/pipeline.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;

int main(int argc, char** argv) {
    std::uint64_t events = 200'000;
    unsigned per_packet = 1;
    bool simulate = false;
    bool parse_only = false;
    bool exact = false;
    bool reference = false;
    bool backpressure = false;
    std::size_t batch_bytes = pipeline::pipeline_options{}.batch_bytes;
    std::int64_t linger_ns = pipeline::pipeline_options{}.linger_ns;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
        if (a == "--events") events = std::strtoull(next(), nullptr, 10);
        else if (a == "--per-packet") per_packet = static_cast<unsigned>(std::atoi(next()));
        else if (a == "--simulate-storage") simulate = true;
        else if (a == "--parse-only") parse_only = true;
        else if (a == "--exact") exact = true;
        else if (a == "--reference") reference = true;
        else if (a == "--backpressure") backpressure = true;
        else if (a == "--batch-bytes") batch_bytes = std::strtoull(next(), nullptr, 10);
        else if (a == "--linger-ms") linger_ns = std::strtoll(next(), nullptr, 10) * 1'000'000;
        else {
            std::fprintf(stderr, "usage: profile-pipeline [--events N] [--per-packet 1|10] "
                                 "[--simulate-storage] [--parse-only] [--exact] [--reference] "
                                 "[--batch-bytes N] [--linger-ms N] [--backpressure]\n");
            return 2;
        }
    }
    if (per_packet == 0 || events == 0) return 2;

    constexpr std::size_t distinct = 4096;
    std::vector<std::string> bufs = perf::sensor_payloads(distinct, per_packet);
    std::vector<pipeline::datagram> ds(distinct);
    for (std::size_t i = 0; i < distinct; ++i) {
        const std::size_t len = bufs[i].size();
        bufs[i].append(128, ' ');  // DPDK mbufs leave >= 526 bytes after the payload
        ds[i].payload = bytes_view(reinterpret_cast<const std::byte*>(bufs[i].data()), len);
        ds[i].tailroom = 128;
        ds[i].src = net::ip_address::v4(169, 254, 0, 2);
        ds[i].src_port = 40000;
        ds[i].dst_port = 5140;
    }
    const std::uint64_t datagrams = (events + per_packet - 1) / per_packet;

    const pipeline::topic_route route = perf::capacity_route();
    const event::topic_rules& rules = route.rules;

    if (reference) {
        std::vector<simdjson::padded_string> ps;
        for (std::size_t i = 0; i < distinct; ++i)
            ps.emplace_back(reinterpret_cast<const char*>(ds[i].payload.data()), ds[i].payload.size());
        simdjson::ondemand::parser parser;
        std::uint64_t visited = 0;
        const std::int64_t t0 = mono_ns();
        for (std::uint64_t d = 0; d < datagrams; ++d) {
            const simdjson::padded_string& p = ps[d % distinct];
            if (per_packet == 1) {
                simdjson::ondemand::document doc;
                simdjson::ondemand::object o;
                if (parser.iterate(p).get(doc) == simdjson::SUCCESS &&
                    doc.get_object().get(o) == simdjson::SUCCESS && perf::visit_object(o))
                    ++visited;
                continue;
            }
            simdjson::ondemand::document_stream stream;
            if (parser.iterate_many(p, std::max<std::size_t>(p.size(), 4096)).get(stream) !=
                simdjson::SUCCESS)
                continue;
            for (auto doc : stream) {
                simdjson::ondemand::object o;
                if (doc.get_object().get(o) == simdjson::SUCCESS && perf::visit_object(o)) ++visited;
            }
        }
        const std::int64_t t1 = mono_ns();
        std::printf("reference: %llu events visited, %.1f ns/event (wall)\n",
                    static_cast<unsigned long long>(visited),
                    static_cast<double>(t1 - t0) / static_cast<double>(datagrams * per_packet));
        return visited == datagrams * per_packet ? 0 : 1;
    }

    if (parse_only) {
        auto cr = event::compiled_rules::make(rules);
        event::parser_options popt;
        popt.structural_fast_path = !exact;
        event::event_parser parser(popt);
        std::vector<event::event_result> out(256);
        std::uint64_t accepted = 0;
        const std::int64_t t0 = mono_ns();
        for (std::uint64_t d = 0; d < datagrams; ++d) {
            const auto& dg = ds[d % distinct];
            const std::size_t n = parser.parse_datagram(dg.payload, dg.tailroom, *cr, 1, out);
            for (std::size_t k = 0; k < n; ++k) accepted += out[k].accepted();
        }
        const std::int64_t t1 = mono_ns();
        std::printf("parse only: %llu events accepted, %.1f ns/event (wall)\n",
                    static_cast<unsigned long long>(accepted),
                    static_cast<double>(t1 - t0) / static_cast<double>(datagrams * per_packet));
        return accepted == datagrams * per_packet ? 0 : 1;
    }

    auto mem = std::make_shared<perf::discard_storage>();
    log::store_options so;
    so.data_dir = "/profile";
    so.backend = mem;
    so.ring_bytes = backpressure ? 1 << 20 : 32 << 20;
    auto store = perf::open_sensor_store(so, "profile-pipeline", !backpressure);
    if (!store) return 1;
    std::string err;
    pipeline::pipeline_options po;
    po.topics = {route};
    po.simulate_storage = simulate;
    po.batch_bytes = batch_bytes;
    po.linger_ns = linger_ns;
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        std::fprintf(stderr, "profile-pipeline: %s\n", err.c_str());
        return 1;
    }
    const std::int64_t t0 = mono_ns();
    std::uint64_t done = 0;
    std::int64_t last_poll = t0;
    while (done < datagrams) {
        const std::size_t at = done % distinct;
        const std::size_t n = std::min<std::uint64_t>({32, distinct - at, datagrams - done});
        (void)p->process(std::span<const pipeline::datagram>(ds.data() + at, n));
        done += n;
        const std::int64_t now = mono_ns();
        if (now - last_poll >= 20'000) {  // as dpdk_port's run_queue
            p->poll(now);
            last_poll = now;
        }
    }
    p->flush();
    const std::int64_t t1 = mono_ns();
    for (int i = 0; !backpressure && i < 100000 && p->in_flight() != 0; ++i) {
        p->poll(mono_ns());
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    const auto snap = set->counters();
    const auto& t = snap.topics[0];
    std::printf("pipeline: %llu events received, %llu stored, %llu dropped, %llu in flight, "
                "%.1f ns/event (wall, incl. flush)\n",
                static_cast<unsigned long long>(t.received), static_cast<unsigned long long>(t.stored),
                static_cast<unsigned long long>(t.dropped_total()),
                static_cast<unsigned long long>(t.in_flight),
                static_cast<double>(t1 - t0) / static_cast<double>(datagrams * per_packet));
    store->stop();
    if (backpressure) return t.balanced() && t.received == datagrams * per_packet ? 0 : 1;
    return t.balanced() && t.stored == datagrams * per_packet ? 0 : 1;
}
