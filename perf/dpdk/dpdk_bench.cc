// bench-pipeline-dpdk: capacity of ONE pipeline core fed by DPDK.
//
// Source: net_pcap with infinite_rx=1 replaying a capture of sensor events (~100 bytes each)
// from memory, forever (a CPU-bound synthetic NIC: each rx_burst copies the packets into fresh
// mbufs on the pipeline's own core). Two cases, each in a child process (the EAL can be
// initialised once per process): "one" = one event per packet, "ten" = ten NDJSON lines per
// packet. The pipeline core runs rx_burst -> decode -> parse -> partition -> batch -> append;
// the log writes to --dir (real files, O_DIRECT + io_uring) or, with --simulate-storage, to a
// storage backend that completes every write at once and keeps nothing (parse, no write).
//
// Same-run reference, same events, same core: simdjson On Demand over every payload with every
// value visited: iterate_many over each payload (the NDJSON path) and, for the one-per-packet
// case, per-document iterate, the faster kept. Each case runs in rounds (at least 3, ~0.6 s of
// pipeline each): the pipeline's loop is stopped after its slice and the reference runs on the
// pipeline's cpu right then, so each round's ratio compares the two at one time on one core.
// ratio = the median over the rounds of pipeline events/s / reference events/s (targets:
// >= 0.5 one per packet, >= 0.7 ten per packet); ratio_cpu = the same per CPU-second of the
// pipeline thread and of the reference loop (robust to the core being shared with other
// processes). The rates printed are the whole case's (pipeline) and the rounds' median
// (reference).
//
//   bench-pipeline-dpdk [--seconds 3] [--dir DIR] [--simulate-storage] [--packets 4096]
//                       [--pipeline-cpu N] [--batch-bytes N]
// --pipeline-cpu: the cpu of the pipeline (and of the receive floor's loop); default 1 with two
// or more cpus, else 0. The log writer (and its io-wq workers) runs on the lowest other cpu.
// --batch-bytes: the pipeline's batch size (pipeline_options::batch_bytes; default its default).
// Last line: RESULT {json}.

#include "../../tests/net/frame_builder.h"
#include "../common/discard_storage.h"
#include "../common/ondemand_reference.h"
#include "../common/pcap_port.h"
#include "../common/sensor_events.h"
#include "../common/sensor_store.h"

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/log/storage.h>
#include <sluice/net/dpdk_port.h>
#include <sluice/pipeline/pipeline.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <simdjson.h>

#include <pthread.h>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#define SLUICE_STR2(x) #x
#define SLUICE_STR(x) SLUICE_STR2(x)

namespace {

using namespace sluice;
namespace fs = std::filesystem;

using perf::discard_storage;

std::string machine_name() {
    std::string cpu = "unknown cpu";
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    utsname u{};
    uname(&u);
    return std::string(u.nodename) + ": " + cpu + " x" +
           std::to_string(std::thread::hardware_concurrency()) + " cpus, kernel " + u.release;
}

// ---- reference: simdjson On Demand, every value visited (perf/common/ondemand_reference.h) --

namespace od = simdjson::ondemand;
using perf::visit_object;

struct reference {
    double many_eps = 0;  // iterate_many over each payload
    double iter_eps = 0;  // per-document iterate (one event per packet only)
    double many_cpu_eps = 0;  // the same per CPU-second of the measuring thread
    double iter_cpu_eps = 0;
};

// CPU time of the calling thread: rates per CPU-second do not count time the (shared) core
// spent running other processes, so they compare across a loaded machine's ups and downs.
std::int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct rates {
    double wall = 0;  // events per second
    double cpu = 0;   // events per CPU-second
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Runs `fn` over all payloads repeatedly for ~seconds; returns events/s and events per
// CPU-second (each the median of 5 slices).
template <typename Fn>
rates rate(const std::vector<simdjson::padded_string>& payloads, std::size_t events_per_pass,
           double seconds, Fn fn) {
    std::vector<double> slices, cpu_slices;
    for (int s = 0; s < 5; ++s) {
        const std::int64_t t0 = mono_ns();
        const std::int64_t c0 = thread_cpu_ns();
        std::uint64_t events = 0;
        while (mono_ns() - t0 < static_cast<std::int64_t>(seconds * 1e9 / 5)) {
            std::size_t got = 0;
            for (const auto& p : payloads) got += fn(p);
            if (got != events_per_pass) {
                std::fprintf(stderr, "reference: parsed %zu of %zu events\n", got, events_per_pass);
                std::exit(1);
            }
            events += got;
        }
        slices.push_back(static_cast<double>(events) / (static_cast<double>(mono_ns() - t0) / 1e9));
        cpu_slices.push_back(static_cast<double>(events) /
                             (static_cast<double>(thread_cpu_ns() - c0) / 1e9));
    }
    return {median(slices), median(cpu_slices)};
}

reference run_reference(const std::vector<std::string>& payloads, unsigned per_packet,
                        double seconds) {
    std::vector<simdjson::padded_string> ps;
    for (const auto& p : payloads) ps.emplace_back(p);
    const std::size_t events = payloads.size() * per_packet;
    od::parser parser;
    reference r;
    const rates many = rate(ps, events, seconds, [&](const simdjson::padded_string& p) {
        std::size_t n = 0;
        od::document_stream stream;
        if (parser.iterate_many(p, std::max<std::size_t>(p.size(), 4096)).get(stream) !=
            simdjson::SUCCESS)
            return n;
        for (auto doc : stream) {
            od::object o;
            if (doc.get_object().get(o) == simdjson::SUCCESS && visit_object(o)) ++n;
        }
        return n;
    });
    r.many_eps = many.wall;
    r.many_cpu_eps = many.cpu;
    if (per_packet == 1) {
        const rates iter = rate(ps, events, seconds, [&](const simdjson::padded_string& p) {
            od::document doc;
            if (parser.iterate(p).get(doc) != simdjson::SUCCESS) return std::size_t{0};
            od::object o;
            return std::size_t{doc.get_object().get(o) == simdjson::SUCCESS && visit_object(o)};
        });
        r.iter_eps = iter.wall;
        r.iter_cpu_eps = iter.cpu;
    }
    return r;
}

// ---- pipeline case (child process) ---------------------------------------------------------------

struct case_result {
    double events_per_s = 0, stored_per_s = 0, dropped_per_s = 0, rejected_per_s = 0;
    double mbytes_per_s = 0;  // UDP payload bytes/s
    double measured_s = 0;
    double events_per_cpu_s = 0;  // per CPU-second of the pipeline thread (not wall)
    double rx_cpu_irqs_per_s = 0;  // device interrupts the pipeline's cpu served (host tuning)
    std::uint64_t nic_missed = 0, backpressure = 0, tailroom_min = 0, scratch_copies = 0;
    // Medians over the case's rounds: the ratio of each round's pipeline rate to the reference
    // measured right after it on the same cpu, and that reference.
    double ratio = 0, ratio_cpu = 0;
    // The whole case's pipeline rate against the fastest round's reference: the strictest
    // reading (a maximum over noisy samples favours the reference).
    double ratio_strict = 0, ratio_strict_cpu = 0;
    reference ref;
    std::string per_round;  // each round's ratio
    bool ok = false;
};

// Device interrupts (numbered lines of /proc/interrupts) served so far by `cpu`. A storage or
// network IRQ routed to the pipeline's cpu takes time from it (and its softirq work runs in the
// pipeline thread's time slice); tuning/sluice-tune.sh --pipeline-cpus moves them.
std::uint64_t device_irqs_on(unsigned cpu) {
    std::ifstream in("/proc/interrupts");
    std::string line;
    std::uint64_t sum = 0;
    if (!std::getline(in, line)) return 0;  // header: CPU0 CPU1 ...
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string label = line.substr(0, colon);
        if (label.find_first_not_of(' ') == std::string::npos ||
            label.find_first_not_of(" 0123456789") != std::string::npos)
            continue;  // LOC, RES, CAL, ...: not device interrupts
        const char* q = line.c_str() + colon + 1;
        for (unsigned c = 0; c <= cpu; ++c) {
            char* end = nullptr;
            const unsigned long long v = std::strtoull(q, &end, 10);
            if (end == q) break;
            if (c == cpu) sum += v;
            q = end;
        }
    }
    return sum;
}

// The pipeline's cpu and the writer's (-1: not pinned); set by main() before any case.
unsigned g_pipeline_cpu = 0;
int g_writer_cpu = -1;
// The pipeline's batch size (--batch-bytes); 0 = its default.
std::size_t g_batch_bytes = 0;

void pin_to(unsigned cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

// The capture replayed forever by net_pcap on one queue, as every case uses it.
std::unique_ptr<net::dpdk_port> open_pcap_port(const std::string& pcap, std::size_t packets,
                                               const std::string& tag) {
    return perf::open_pcap_port(pcap, packets, "bench-pipeline-dpdk", tag);
}

// Receive floor: the same port and capture with nothing done per packet but reading its first
// payload byte and freeing it (rte_eth_rx_burst + rte_pktmbuf_free_bulk on the pinned core).
// net_pcap copies every packet into a fresh mbuf; this is what that costs on its own, so
// packets/s here bounds the events/s of any pipeline on this source at one event per packet.
int run_rx_floor(const std::string& pcap, std::size_t packets, double seconds, int out_fd) {
    auto port = open_pcap_port(pcap, packets, "rx");
    if (!port) return 1;
    const std::uint16_t pid = port->info().port_id;
    std::uint64_t got = 0;
    double wall_s = 0, cpu_s = 0;
    std::thread rx([&] {
        pin_to(g_pipeline_cpu);
        std::array<rte_mbuf*, 32> bufs{};
        unsigned sink = 0;
        auto spin = [&](std::int64_t ns, bool count) {
            const std::int64_t until = mono_ns() + ns;
            while (mono_ns() < until) {
                for (int k = 0; k < 64; ++k) {
                    const std::uint16_t n = rte_eth_rx_burst(pid, 0, bufs.data(), bufs.size());
                    for (std::uint16_t i = 0; i < n; ++i)
                        sink += *(rte_pktmbuf_mtod(bufs[i], const unsigned char*) + 42);
                    rte_pktmbuf_free_bulk(bufs.data(), n);
                    if (count) got += n;
                }
            }
        };
        spin(500'000'000, false);  // warm-up, as the pipeline cases
        const std::int64_t t0 = mono_ns(), c0 = thread_cpu_ns();
        spin(static_cast<std::int64_t>(seconds * 1e9), true);
        wall_s = static_cast<double>(mono_ns() - t0) / 1e9;
        cpu_s = static_cast<double>(thread_cpu_ns() - c0) / 1e9;
        if (sink == 0xffffffffu) std::fprintf(stderr, " ");  // keeps the reads
    });
    rx.join();
    port->close();
    char line[128];
    const int n = std::snprintf(line, sizeof line, "%.1f %.1f\n", static_cast<double>(got) / wall_s,
                                cpu_s > 0 ? static_cast<double>(got) / cpu_s : 0.0);
    return write(out_fd, line, static_cast<std::size_t>(n)) == n ? 0 : 1;
}

// One round of a case: the pipeline measured over a slice, then the reference on the same cpu
// right after it. Pairing them this closely is what makes the ratio mean something here: this
// shared host's cores change speed for seconds at a time (the reference alone read 4.0 M and
// 7.2 M events/s in runs minutes apart), and a reference taken at another time, or on another
// cpu, measured that as much as sluice.
struct round_result {
    double events = 0, wall_s = 0, cpu_s = 0;
    reference ref;
    [[nodiscard]] double ref_best() const noexcept { return std::max(ref.many_eps, ref.iter_eps); }
    [[nodiscard]] double ref_best_cpu() const noexcept {
        return std::max(ref.many_cpu_eps, ref.iter_cpu_eps);
    }
    [[nodiscard]] double ratio() const noexcept {
        return ref_best() > 0 ? events / wall_s / ref_best() : 0;
    }
    [[nodiscard]] double ratio_cpu() const noexcept {
        return ref_best_cpu() > 0 && cpu_s > 0 ? events / cpu_s / ref_best_cpu() : 0;
    }
};

// Pipeline slices of ~round_seconds each, at least 3 (the median needs an odd count).
constexpr double round_seconds = 0.6;
constexpr double reference_seconds = 0.4;  // per reference kind, per round

int run_case(const std::string& pcap, std::size_t packets, const std::string& dir,
             bool simulate, double seconds, const std::vector<std::string>& payloads,
             unsigned per_packet, int out_fd, const std::string& tag) {
    std::string err;
    auto port = open_pcap_port(pcap, packets, tag);
    if (!port) return 1;
    log::store_options so;
    if (simulate) {
        so.data_dir = "/bench";
        so.backend = std::make_shared<discard_storage>();
    } else {
        so.data_dir = dir;
    }
    so.ring_bytes = 32 << 20;
    // The pipeline thread on its cpu; the writer and its io_uring workers (punted fdatasync,
    // fallocate) on another, as `sluice run` places them, so they do not preempt the core
    // measured.
    const unsigned rx_cpu = g_pipeline_cpu;
    so.writer_cpu = g_writer_cpu;
    auto store = perf::open_sensor_store(so, "bench-pipeline-dpdk");
    if (!store) return 1;
    pipeline::pipeline_options opts;
    opts.topics = {perf::capacity_route()};
    opts.cores = 1;
    if (g_batch_bytes != 0) opts.batch_bytes = g_batch_bytes;
    auto set = pipeline::pipeline_set::make(*store, opts, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        std::fprintf(stderr, "bench-pipeline-dpdk: %s\n", err.c_str());
        return 1;
    }
    const int rounds = std::max(3, static_cast<int>(seconds / round_seconds + 0.5)) | 1;
    const double slice_s = seconds / rounds;
    std::vector<round_result> rr;
    case_result cr;
    std::uint64_t received = 0, stored = 0, dropped = 0, rejected = 0, bytes = 0;
    std::uint64_t backpressure = 0, nic_missed = 0, scratch = 0, irqs = 0;
    double wall_s = 0, cpu_s = 0;
    for (int round = 0; round < rounds; ++round) {
        std::thread rx([&] {
            pin_to(rx_cpu);
            port->run_queue(0, *p);
        });
        // Warm-up: caches, and the log's ring filled again (it drained while the loop was
        // stopped) so each slice sees the steady state.
        std::this_thread::sleep_for(std::chrono::milliseconds(round == 0 ? 500 : 200));
        clockid_t rx_clock{};
        const bool have_rx_clock = pthread_getcpuclockid(rx.native_handle(), &rx_clock) == 0;
        auto rx_cpu_ns = [&]() -> std::int64_t {
            timespec ts{};
            if (!have_rx_clock || clock_gettime(rx_clock, &ts) != 0) return 0;
            return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        };
        const auto s0 = set->counters();
        const auto q0 = port->queue_stats(0);
        const std::int64_t t0 = mono_ns();
        const std::int64_t c0 = rx_cpu_ns();
        const std::uint64_t irq0 = device_irqs_on(rx_cpu);
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(slice_s * 1000)));
        const auto s1 = set->counters();
        const auto q1 = port->queue_stats(0);
        const std::int64_t t1 = mono_ns();
        const std::int64_t c1 = rx_cpu_ns();
        const std::uint64_t irq1 = device_irqs_on(rx_cpu);
        port->request_stop();
        rx.join();
        port->resume();
        const auto a = s0.topics[0], b = s1.topics[0];
        round_result r;
        r.events = static_cast<double>(b.received - a.received);
        r.wall_s = static_cast<double>(t1 - t0) / 1e9;
        r.cpu_s = c1 > c0 ? static_cast<double>(c1 - c0) / 1e9 : 0;
        received += b.received - a.received;
        stored += b.stored - a.stored;
        dropped += b.dropped_total() - a.dropped_total();
        rejected += b.rejected_total() - a.rejected_total();
        bytes += s1.cores[0].bytes - s0.cores[0].bytes;
        constexpr auto bp = static_cast<std::size_t>(pipeline::drop_reason::backpressure);
        backpressure += b.dropped[bp] - a.dropped[bp];
        nic_missed += q1.nic_missed - q0.nic_missed;
        scratch += s1.cores[0].scratch_copies - s0.cores[0].scratch_copies;
        irqs += irq1 > irq0 ? irq1 - irq0 : 0;
        wall_s += r.wall_s;
        cpu_s += r.cpu_s;
        cr.tailroom_min = q1.tailroom_min;
        // The reference on the pipeline's cpu, right after its slice (the loop has stopped).
        std::thread ref([&] {
            pin_to(rx_cpu);
            r.ref = run_reference(payloads, per_packet, reference_seconds);
        });
        ref.join();
        rr.push_back(r);
    }
    cr.measured_s = wall_s;
    cr.events_per_s = static_cast<double>(received) / wall_s;
    cr.events_per_cpu_s = cpu_s > 0 ? static_cast<double>(received) / cpu_s : 0;
    cr.stored_per_s = static_cast<double>(stored) / wall_s;
    cr.dropped_per_s = static_cast<double>(dropped) / wall_s;
    cr.rejected_per_s = static_cast<double>(rejected) / wall_s;
    cr.mbytes_per_s = static_cast<double>(bytes) / wall_s / 1e6;
    cr.backpressure = backpressure;
    cr.nic_missed = nic_missed;
    cr.scratch_copies = scratch;
    cr.rx_cpu_irqs_per_s = static_cast<double>(irqs) / wall_s;
    std::vector<double> ratios, ratios_cpu, many, iter, many_cpu, iter_cpu;
    for (const round_result& r : rr) {
        ratios.push_back(r.ratio());
        ratios_cpu.push_back(r.ratio_cpu());
        many.push_back(r.ref.many_eps);
        iter.push_back(r.ref.iter_eps);
        many_cpu.push_back(r.ref.many_cpu_eps);
        iter_cpu.push_back(r.ref.iter_cpu_eps);
    }
    cr.ratio = median(ratios);
    cr.ratio_cpu = median(ratios_cpu);
    cr.ref = {median(many), median(iter), median(many_cpu), median(iter_cpu)};
    double best = 0, best_cpu = 0;
    for (const round_result& r : rr) {
        best = std::max(best, r.ref_best());
        best_cpu = std::max(best_cpu, r.ref_best_cpu());
    }
    cr.ratio_strict = best > 0 ? cr.events_per_s / best : 0;
    cr.ratio_strict_cpu = best_cpu > 0 ? cr.events_per_cpu_s / best_cpu : 0;
    std::string per_round;
    for (const double x : ratios) per_round += (per_round.empty() ? "" : ",") + std::to_string(x).substr(0, 5);
    p.reset();
    set.reset();
    store->stop();
    port->close();
    char line[1024];
    const int n = std::snprintf(
        line, sizeof line,
        "%.1f %.1f %.1f %.1f %.3f %.3f %llu %llu %llu %llu %.1f %.1f %.4f %.4f %.1f %.1f %.1f %.1f "
        "%.4f %.4f %s\n",
        cr.events_per_s, cr.stored_per_s, cr.dropped_per_s, cr.rejected_per_s, cr.mbytes_per_s,
        cr.measured_s, (unsigned long long)cr.nic_missed, (unsigned long long)cr.backpressure,
        (unsigned long long)cr.tailroom_min, (unsigned long long)cr.scratch_copies,
        cr.events_per_cpu_s, cr.rx_cpu_irqs_per_s, cr.ratio, cr.ratio_cpu, cr.ref.many_eps,
        cr.ref.iter_eps, cr.ref.many_cpu_eps, cr.ref.iter_cpu_eps, cr.ratio_strict,
        cr.ratio_strict_cpu, per_round.c_str());
    return n < static_cast<int>(sizeof line) && write(out_fd, line, static_cast<std::size_t>(n)) == n ? 0 : 1;
}

// Runs fn(write_fd) in a forked child (each case needs its own EAL: it initialises once per
// process) and returns what the child wrote, or nullopt unless it exited 0.
std::optional<std::string> child_output(const std::function<int(int)>& fn) {
    int fds[2];
    if (pipe(fds) != 0) return std::nullopt;
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        ::close(fds[0]);
        _exit(fn(fds[1]));
    }
    ::close(fds[1]);
    char buf[1024] = {};
    std::size_t got = 0;
    for (ssize_t n; got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0;)
        got += static_cast<std::size_t>(n);
    ::close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return std::nullopt;
    return std::string(buf, got);
}

case_result fork_case(const std::string& pcap, std::size_t packets, const std::string& dir,
                      bool simulate, double seconds, const std::vector<std::string>& payloads,
                      unsigned per_packet, const std::string& tag) {
    case_result cr;
    const auto out = child_output([&](int fd) {
        return run_case(pcap, packets, dir, simulate, seconds, payloads, per_packet, fd, tag);
    });
    unsigned long long nm = 0, bp = 0, tr = 0, sc = 0;
    char per_round[512] = {};
    if (out && std::sscanf(out->c_str(),
                           "%lf %lf %lf %lf %lf %lf %llu %llu %llu %llu %lf %lf %lf %lf %lf %lf "
                           "%lf %lf %lf %lf %511s",
                           &cr.events_per_s, &cr.stored_per_s, &cr.dropped_per_s,
                           &cr.rejected_per_s, &cr.mbytes_per_s, &cr.measured_s, &nm, &bp, &tr,
                           &sc, &cr.events_per_cpu_s, &cr.rx_cpu_irqs_per_s, &cr.ratio,
                           &cr.ratio_cpu, &cr.ref.many_eps, &cr.ref.iter_eps,
                           &cr.ref.many_cpu_eps, &cr.ref.iter_cpu_eps, &cr.ratio_strict,
                           &cr.ratio_strict_cpu, per_round) == 21) {
        cr.nic_missed = nm;
        cr.backpressure = bp;
        cr.tailroom_min = tr;
        cr.scratch_copies = sc;
        cr.per_round = per_round;
        cr.ok = true;
    }
    return cr;
}

// Receive floor in a child (its own EAL): packets/s and packets per CPU-second; 0s on failure.
std::pair<double, double> fork_rx_floor(const std::string& pcap, std::size_t packets, double seconds) {
    const auto out = child_output([&](int fd) { return run_rx_floor(pcap, packets, seconds, fd); });
    double pps = 0, cpu_pps = 0;
    if (!out || std::sscanf(out->c_str(), "%lf %lf", &pps, &cpu_pps) != 2) return {0, 0};
    return {pps, cpu_pps};
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 3;
    std::string dir;
    bool simulate = false;
    std::size_t packets = 4096;
    int pipeline_cpu = -1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--seconds") seconds = std::atof(next().c_str());
        else if (a == "--dir") dir = next();
        else if (a == "--simulate-storage") simulate = true;
        else if (a == "--packets") packets = static_cast<std::size_t>(std::atoll(next().c_str()));
        else if (a == "--pipeline-cpu") pipeline_cpu = std::atoi(next().c_str());
        else if (a == "--batch-bytes") g_batch_bytes = static_cast<std::size_t>(std::atoll(next().c_str()));
        else {
            std::fprintf(stderr,
                         "usage: bench-pipeline-dpdk [--seconds S] [--dir DIR] "
                         "[--simulate-storage] [--packets N] [--pipeline-cpu N] [--batch-bytes N]\n");
            return 2;
        }
    }
    const unsigned ncpu = std::max(1u, std::thread::hardware_concurrency());
    if (pipeline_cpu < 0) pipeline_cpu = ncpu > 1 ? 1 : 0;
    if (static_cast<unsigned>(pipeline_cpu) >= ncpu) {
        std::fprintf(stderr, "bench-pipeline-dpdk: --pipeline-cpu %d: this machine has %u cpus\n",
                     pipeline_cpu, ncpu);
        return 2;
    }
    g_pipeline_cpu = static_cast<unsigned>(pipeline_cpu);
    if (ncpu > 1) g_writer_cpu = g_pipeline_cpu == 0 ? 1 : 0;
    if (seconds <= 0 || packets == 0) return 2;
    bool own_dir = false;
    if (dir.empty()) {
        std::string t = (fs::temp_directory_path() / "sluice-bench-dpdk-XXXXXX").string();
        if (mkdtemp(t.data()) == nullptr) return 1;
        dir = t;
        own_dir = true;
    }
    fs::create_directories(dir);
    std::printf("bench-pipeline-dpdk on %s\n", machine_name().c_str());
    std::printf("pipeline on cpu %u, log writer %s\n", g_pipeline_cpu,
                g_writer_cpu < 0 ? "not pinned" : ("on cpu " + std::to_string(g_writer_cpu)).c_str());
    std::printf("simdjson runtime kernel %s, On Demand built for %s; storage %s; %zu packets per capture; %.1f s per case\n",
                simdjson::get_active_implementation()->name().c_str(),
                SLUICE_STR(SIMDJSON_BUILTIN_IMPLEMENTATION), simulate ? "simulated (writes discarded)" : ("files in " + dir).c_str(), packets,
                seconds);

    struct case_def {
        const char* name;
        unsigned per_packet;
    };
    const case_def cases[] = {{"one", 1}, {"ten", 10}};
    std::map<std::string, case_result> results;
    std::map<std::string, double> payload_bytes;
    std::pair<double, double> rx_floor{0, 0};  // packets/s, packets per CPU-second
    for (const auto& c : cases) {
        const auto payloads = perf::sensor_payloads(packets, c.per_packet);
        std::vector<testing::frame> frames;
        double bytes = 0;
        for (const auto& p : payloads) {
            frames.push_back(testing::udp4({169, 254, 0, 2}, {169, 254, 0, 1}, 40000, 5140, p));
            bytes += static_cast<double>(p.size());
        }
        payload_bytes[c.name] = bytes / static_cast<double>(packets * c.per_packet);
        const std::string pcap = dir + "/" + c.name + ".pcap";
        if (!testing::write_pcap(pcap, frames)) {
            std::fprintf(stderr, "bench-pipeline-dpdk: cannot write %s\n", pcap.c_str());
            return 1;
        }
        const std::string data = dir + "/data-" + c.name;
        fs::remove_all(data);
        case_result cr = fork_case(pcap, packets, data, simulate, seconds, payloads,
                                   c.per_packet, c.name);
        if (!cr.ok) {
            std::fprintf(stderr, "bench-pipeline-dpdk: case %s failed\n", c.name);
            return 1;
        }
        results[c.name] = cr;
        if (c.per_packet == 1) rx_floor = fork_rx_floor(pcap, packets, std::min(seconds, 2.0));
        if (own_dir || simulate) fs::remove_all(data);
        fs::remove(pcap);
        const reference& r = cr.ref;
        std::printf("case %-3s (%u event(s)/packet, %.0f B/event): pipeline %.0f events/s "
                    "(stored %.0f/s, dropped %.0f/s [backpressure %llu, nic_missed %llu], "
                    "%.1f MB/s payload, tailroom min %llu B, scratch copies %llu, %.0f device "
                    "IRQs/s on the pipeline cpu); reference iterate_many %.0f events/s%s; "
                    "ratio per round %s\n",
                    c.name, c.per_packet, payload_bytes[c.name], cr.events_per_s, cr.stored_per_s,
                    cr.dropped_per_s, (unsigned long long)cr.backpressure,
                    (unsigned long long)cr.nic_missed, cr.mbytes_per_s,
                    (unsigned long long)cr.tailroom_min, (unsigned long long)cr.scratch_copies,
                    cr.rx_cpu_irqs_per_s, r.many_eps,
                    c.per_packet == 1
                        ? (", iterate " + std::to_string(static_cast<long long>(r.iter_eps)) +
                           " events/s").c_str()
                        : "",
                    cr.per_round.c_str());
    }
    if (own_dir) fs::remove_all(dir);

    const auto& one = results["one"];
    const auto& ten = results["ten"];
    const double ref_one = std::max(one.ref.many_eps, one.ref.iter_eps);
    const double ratio_one = one.ratio;
    const double ratio_ten = ten.ratio;
    // The same per CPU-second of the measuring thread (pipeline core / reference loop): on a
    // shared machine the wall-clock ratio also measures how often each got its core.
    const double ref_one_cpu = std::max(one.ref.many_cpu_eps, one.ref.iter_cpu_eps);
    const double ratio_one_cpu = one.ratio_cpu;
    const double ratio_ten_cpu = ten.ratio_cpu;
    std::printf("ratio (median of the rounds) one/packet %.3f (target >= 0.5), ten/packet %.3f "
                "(target >= 0.7); "
                "per CPU-second: one %.3f (pipeline %.0f vs reference %.0f events/CPU-s), "
                "ten %.3f (%.0f vs %.0f)\n",
                ratio_one, ratio_ten, ratio_one_cpu, one.events_per_cpu_s, ref_one_cpu,
                ratio_ten_cpu, ten.events_per_cpu_s, ten.ref.many_cpu_eps);
    std::printf("strict (whole case vs the fastest round's reference): one/packet %.3f (%.3f per "
                "CPU-s), ten/packet %.3f (%.3f per CPU-s)\n",
                one.ratio_strict, one.ratio_strict_cpu, ten.ratio_strict, ten.ratio_strict_cpu);
    // At one event per packet no pipeline on this source can exceed the receive floor.
    const double floor_ratio = ref_one > 0 ? rx_floor.first / ref_one : 0;
    const double floor_ratio_cpu = ref_one_cpu > 0 ? rx_floor.second / ref_one_cpu : 0;
    std::printf("receive floor (net_pcap rx_burst + free, nothing else): %.0f packets/s, %.0f per "
                "CPU-s: at one event per packet no pipeline here exceeds ratio %.3f (%.3f per CPU-s)\n",
                rx_floor.first, rx_floor.second, floor_ratio, floor_ratio_cpu);
    std::printf(
        "RESULT {\"bench\":\"pipeline-dpdk\",\"machine\":\"%s\",\"storage\":\"%s\","
        "\"pipeline_cores\":1,\"seconds\":%.1f,"
        "\"one_per_packet\":{\"events_per_s\":%.0f,\"stored_per_s\":%.0f,\"dropped_per_s\":%.0f,"
        "\"payload_mb_per_s\":%.2f,\"ref_iterate_many_events_per_s\":%.0f,"
        "\"ref_iterate_events_per_s\":%.0f,\"ratio\":%.3f,\"target\":0.5,"
        "\"events_per_cpu_s\":%.0f,\"ref_events_per_cpu_s\":%.0f,\"ratio_cpu\":%.3f,"
        "\"ratio_strict\":%.3f,\"ratio_strict_cpu\":%.3f,"
        "\"rx_floor_pps\":%.0f,\"rx_floor_ratio\":%.3f,\"rx_floor_ratio_cpu\":%.3f},"
        "\"ten_per_packet\":{\"events_per_s\":%.0f,\"stored_per_s\":%.0f,\"dropped_per_s\":%.0f,"
        "\"payload_mb_per_s\":%.2f,\"ref_iterate_many_events_per_s\":%.0f,\"ratio\":%.3f,"
        "\"target\":0.7,\"events_per_cpu_s\":%.0f,\"ref_events_per_cpu_s\":%.0f,"
        "\"ratio_cpu\":%.3f,\"ratio_strict\":%.3f,\"ratio_strict_cpu\":%.3f}}\n",
        machine_name().c_str(), simulate ? "simulated" : "files", seconds, one.events_per_s,
        one.stored_per_s, one.dropped_per_s, one.mbytes_per_s, one.ref.many_eps,
        one.ref.iter_eps, ratio_one, one.events_per_cpu_s, ref_one_cpu, ratio_one_cpu,
        one.ratio_strict, one.ratio_strict_cpu, rx_floor.first, floor_ratio, floor_ratio_cpu,
        ten.events_per_s, ten.stored_per_s, ten.dropped_per_s, ten.mbytes_per_s,
        ten.ref.many_eps, ratio_ten, ten.events_per_cpu_s, ten.ref.many_cpu_eps,
        ratio_ten_cpu, ten.ratio_strict, ten.ratio_strict_cpu);
    return 0;
}
