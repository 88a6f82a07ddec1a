// bench-pipeline: efficiency of sluice's kernel-socket ingest path.
//
// 1. pipeline core (in process): pre-built datagrams (1 event each) through pipeline::process
//    into a log on the in-memory storage backend: events/s and ns/event on one core.
// 2. kernel path, same load, same run: `sluice gen` sends N events (1 per datagram, fixed rate)
//    over loopback to
//      a) `sluice run` (durable: real files, group commit), or with --simulate-storage an
//         in-process socket_rx + pipeline whose log runs on the in-memory backend (parse, no
//         write), and
//      b) rsyslogd (imudp -> omfile, raw message per line), the reference,
//    and CPU-seconds (user + system of the receiving process) per million events handled.
//    With --simulate-capture (synthetic input, real writes) the sluice side is instead the
//    pipeline core in process fed pre-built datagrams, into a log on real files (no reference).
// Last line: RESULT {json}.

#include "../common/sensor_store.h"

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/net/socket_rx.h>
#include <sluice/pipeline/pipeline.h>
#include <sluice/pipeline/socket_worker.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef SLUICE_BIN_PATH
#define SLUICE_BIN_PATH ""
#endif

namespace fs = std::filesystem;
using namespace sluice;

namespace {

std::string machine() {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model = "unknown cpu";
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    utsname u{};
    uname(&u);
    return fmt::format("{} x{} / {} {}", model, std::thread::hardware_concurrency(), u.sysname, u.release);
}

double proc_cpu_s(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), {});
    const auto rp = s.rfind(')');
    if (rp == std::string::npos) return -1;
    std::istringstream f(s.substr(rp + 2));
    std::string tok;
    std::vector<std::string> v;
    while (f >> tok) v.push_back(tok);
    // After ")": field 3 is state (index 0) ... utime = field 14 (index 11), stime = 15 (12).
    if (v.size() < 13) return -1;
    return (std::stod(v[11]) + std::stod(v[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_s() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}
double thread_cpu_s() {
    rusage r{};
    getrusage(RUSAGE_THREAD, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

std::uint16_t free_port(int type) {
    int fd = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string http_get(std::uint16_t port, const std::string& path) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return {};
    }
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

double metric(const std::string& text, const std::string& series) {
    const auto p = text.find("\n" + series + " ");
    if (p == std::string::npos) return -1;
    return std::atof(text.c_str() + p + 1 + series.size() + 1);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out_path) {
    const pid_t pid = fork();
    if (pid == 0) {
        if (!out_path.empty()) {
            FILE* f = std::fopen(out_path.c_str(), "w");
            if (f) {
                dup2(fileno(f), 1);
                dup2(fileno(f), 2);
            }
        }
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid, int seconds) {
    for (int i = 0; i < seconds * 100; ++i) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    return -1;
}

// Runs the generator to completion (blocking).
bool run_gen(const std::string& sluice, std::uint16_t port, std::uint64_t events, std::uint64_t rate,
             const std::string& out) {
    std::vector<std::string> argv = {sluice, "gen", "--target", fmt::format("127.0.0.1:{}", port), "--count",
                                     std::to_string(events), "--batch", "1"};
    if (rate > 0) {
        argv.push_back("--rate");
        argv.push_back(std::to_string(rate));
    }
    return wait_exit(spawn(argv, out), 3600) == 0;
}

// Waits until `count()` stops growing for `quiet_ms` (bounded by max_s).
template <typename F>
std::uint64_t wait_stable(F count, int quiet_ms = 300, int max_s = 120) {
    std::uint64_t last = count();
    auto since = std::chrono::steady_clock::now();
    const auto until = since + std::chrono::seconds(max_s);
    while (std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const std::uint64_t now = count();
        if (now != last) {
            last = now;
            since = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - since > std::chrono::milliseconds(quiet_ms)) {
            break;
        }
    }
    return last;
}

struct side_result {
    bool ok = false;
    std::uint64_t handled = 0;
    double cpu_s = 0;
    double wall_s = 0;
    double p50_us = -1;  // receive -> durable (log2 bucket upper bound), sluice run only
    double p99_us = -1;
    std::string note;
};

// --- pipeline core, in process --------------------------------------------------------------

struct core_result {
    double events_per_s = 0;
    double ns_per_event = 0;
    std::uint64_t stored = 0;
};

// The sensors topic as every sluice side here routes it (the same rules as `sluice run`'s config).
pipeline::topic_route sensor_route(std::uint16_t port) {
    pipeline::topic_route route;
    route.name = "sensors";
    route.port = port;
    route.rules.key_pointer = "/sensor_id";
    route.rules.require_pointers = {"/sensor_id"};
    route.rules.timestamp_pointer = "/time_epoch";
    return route;
}

// Pre-built datagrams (one sensor event each, 64 bytes of tailroom) for the in-process modes.
struct synthetic_input {
    static constexpr std::size_t distinct = 4096;
    std::vector<std::string> bufs;
    std::vector<pipeline::datagram> ds;
    synthetic_input() : bufs(distinct), ds(distinct) {
        for (std::size_t i = 0; i < distinct; ++i) {
            bufs[i] = fmt::format(R"({{"sensor_id":{},"temp":{:.2f},"time_epoch":1700000000,"seq":{}}})",
                                  i % 1000, 15.0 + static_cast<double>(i % 2000) / 100.0, i);
            const std::size_t len = bufs[i].size();
            bufs[i].append(64, ' ');
            ds[i].payload = bytes_view(reinterpret_cast<const std::byte*>(bufs[i].data()), len);
            ds[i].tailroom = 64;
            ds[i].src = net::ip_address::v4(127, 0, 0, 1);
            ds[i].src_port = 40000;
            ds[i].dst_port = 5140;
        }
    }
    // The next burst (at most 32, not wrapping past the last distinct datagram) once `done` of
    // `events` have gone.
    std::span<const pipeline::datagram> burst(std::uint64_t done, std::uint64_t events) const {
        const std::size_t at = done % distinct;
        return {ds.data() + at, std::min<std::size_t>({32, distinct - at, events - done})};
    }
};

core_result bench_core(std::uint64_t events) {
    core_result r;
    auto mem = std::make_shared<log::memory_storage>();
    log::store_options so;
    so.data_dir = "/bench";
    so.backend = mem;
    so.ring_bytes = 64 << 20;
    std::string err;
    auto store = perf::open_sensor_store(so, "bench-pipeline");
    if (!store) return r;
    pipeline::pipeline_options po;
    po.topics = {sensor_route(5140)};
    po.simulate_storage = true;  // the pipeline's own cost: parse, partition, batch, CRC
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        std::fprintf(stderr, "bench-pipeline: %s\n", err.c_str());
        return r;
    }
    const synthetic_input in;
    const double c0 = thread_cpu_s();
    const std::int64_t t0 = mono_ns();
    std::uint64_t done = 0;
    while (done < events) {
        const auto b = in.burst(done, events);
        (void)p->process(b);
        done += b.size();
        if ((done & 1023) < 32) p->poll(mono_ns());
    }
    p->flush();
    const std::int64_t t1 = mono_ns();
    const double c1 = thread_cpu_s();
    for (int i = 0; i < 100000 && p->in_flight() != 0; ++i) {
        p->poll(mono_ns());
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    r.stored = set->counters().topics[0].stored;
    r.events_per_s = static_cast<double>(events) / (static_cast<double>(t1 - t0) / 1e9);
    r.ns_per_event = (c1 - c0) * 1e9 / static_cast<double>(events);
    store->stop();
    return r;
}

// --- sluice side of the kernel path ---------------------------------------------------------

side_result bench_sluice_run(const std::string& sluice, const fs::path& work, std::uint64_t events,
                             std::uint64_t rate) {
    side_result r;
    const std::uint16_t udp = free_port(SOCK_DGRAM), kafka = free_port(SOCK_STREAM), admin = free_port(SOCK_STREAM);
    const fs::path cfg = work / "sluice.toml";
    {
        std::ofstream f(cfg);
        f << fmt::format(R"(data_dir = "{}"
[ingest]
address = "127.0.0.1"
cores = 1
[kafka]
listen = "127.0.0.1:{}"
[admin]
listen = "127.0.0.1:{}"
[[topic]]
name = "sensors"
port = {}
partitions = 8
key = "/sensor_id"
require = ["/sensor_id"]
timestamp = "/time_epoch"
)",
                         (work / "data").string(), kafka, admin, udp);
    }
    const pid_t pid = spawn({sluice, "run", "--config", cfg.string()}, (work / "run.log").string());
    std::string m;
    for (int i = 0; i < 200 && m.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        m = http_get(admin, "/metrics");
    }
    if (m.empty()) {
        r.note = "sluice run did not start (see " + (work / "run.log").string() + ")";
        kill(pid, SIGKILL);
        wait_exit(pid, 5);
        return r;
    }
    auto stored = [&] {
        const double v = metric(http_get(admin, "/metrics"), R"(sluice_events_stored_total{topic="sensors"})");
        return v < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(v);
    };
    const double c0 = proc_cpu_s(pid);
    const std::int64_t t0 = mono_ns();
    if (!run_gen(sluice, udp, events, rate, (work / "gen-sluice.log").string())) r.note = "gen failed";
    r.handled = wait_stable(stored);
    r.wall_s = static_cast<double>(mono_ns() - t0) / 1e9;
    r.cpu_s = proc_cpu_s(pid) - c0;
    const std::string text = http_get(admin, "/metrics");
    r.p50_us = metric(text, R"(sluice_pipeline_durable_latency_us{quantile="0.5"})");
    r.p99_us = metric(text, R"(sluice_pipeline_durable_latency_us{quantile="0.99"})");
    kill(pid, SIGTERM);
    r.ok = wait_exit(pid, 60) == 0 && r.handled > 0;
    return r;
}

side_result bench_sluice_simulated(const std::string& sluice, std::uint64_t events, std::uint64_t rate) {
    side_result r;
    // The log only resolves topics here: the pipeline builds and checksums batches and counts
    // them stored without appending (pipeline_options::simulate_storage); the writer idles.
    auto mem = std::make_shared<log::memory_storage>();
    log::store_options so;
    so.data_dir = "/bench";
    so.backend = mem;
    std::string err;
    auto store = perf::open_sensor_store(so, "bench-pipeline");
    net::socket_rx_options ro;
    ro.ports = {0};
    auto rx = net::socket_rx::open(ro, &err);
    if (!store || !rx) {
        r.note = store ? err : "cannot open the in-memory log";
        return r;
    }
    pipeline::pipeline_options po;
    po.topics = {sensor_route(rx->port(0))};
    po.simulate_storage = true;
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        r.note = err;
        return r;
    }
    std::atomic<bool> stop{false};
    std::thread core([&] { (void)pipeline::run_socket_loop(*p, *rx, stop); });
    const double c0 = self_cpu_s();
    const std::int64_t t0 = mono_ns();
    if (!run_gen(sluice, rx->port(0), events, rate, "/dev/null")) r.note = "gen failed";
    r.handled = wait_stable([&] { return set->counters().topics[0].stored; });
    r.wall_s = static_cast<double>(mono_ns() - t0) / 1e9;
    r.cpu_s = self_cpu_s() - c0;
    stop.store(true, std::memory_order_release);
    core.join();
    r.ok = r.handled > 0;
    return r;
}

// --simulate-capture: synthetic input, real writes. The pre-built datagrams go through one
// pipeline core in process (no socket, no NIC) at `rate` events/s (0 = flat out) into a log on
// real files under `work` with the default group commit; CPU = the whole process (pipeline,
// writer, io_uring workers). The storage half of the kernel path, alone.
side_result bench_sluice_capture_simulated(const fs::path& work, std::uint64_t events,
                                           std::uint64_t rate) {
    side_result r;
    log::store_options so;
    so.data_dir = (work / "capture-data").string();
    std::string err;
    auto store = perf::open_sensor_store(so, "bench-pipeline");
    if (!store) {
        r.note = "cannot open the log in " + so.data_dir;
        return r;
    }
    pipeline::pipeline_options po;
    po.topics = {sensor_route(5140)};
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    auto p = set ? set->make_pipeline(0, &err) : nullptr;
    if (!p) {
        r.note = err;
        return r;
    }
    const synthetic_input in;
    const double c0 = self_cpu_s();
    const std::int64_t t0 = mono_ns();
    std::uint64_t done = 0;
    while (done < events) {
        const auto b = in.burst(done, events);
        (void)p->process(b);
        done += b.size();
        const std::int64_t now = mono_ns();
        if ((done & 1023) < 32) p->poll(now);
        if (rate > 0) {
            // Paced: the next burst waits for its time (polling, so lingering batches go out).
            const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(done) * 1e9 /
                                                                   static_cast<double>(rate));
            while (mono_ns() < due) {
                p->poll(mono_ns());
                std::this_thread::sleep_for(std::chrono::milliseconds(1));  // = default linger
            }
        }
    }
    p->flush();
    for (int i = 0; i < 300000 && p->in_flight() != 0; ++i) {
        p->poll(mono_ns());
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    r.wall_s = static_cast<double>(mono_ns() - t0) / 1e9;
    r.cpu_s = self_cpu_s() - c0;
    const auto c = set->counters().topics[0];
    r.handled = c.stored;
    if (c.dropped_total() + c.rejected_total() > 0)
        r.note = fmt::format("{} dropped, {} rejected", c.dropped_total(), c.rejected_total());
    if (p->in_flight() != 0) r.note += (r.note.empty() ? "" : ", ") + std::string("not drained");
    r.ok = r.handled == events;
    p.reset();
    set.reset();
    store->stop();
    return r;
}

// --- rsyslog reference ------------------------------------------------------------------------

side_result bench_rsyslog(const std::string& sluice, const fs::path& work, std::uint64_t events, std::uint64_t rate) {
    side_result r;
    const char* rsyslogd = "/usr/sbin/rsyslogd";
    if (access(rsyslogd, X_OK) != 0) {
        r.note = "rsyslogd not installed (scripts/install-deps.sh installs rsyslog)";
        return r;
    }
    const std::uint16_t udp = free_port(SOCK_DGRAM);
    const fs::path out = work / "rsyslog.out";
    const fs::path conf = work / "rsyslog.conf";
    {
        std::ofstream f(conf);
        f << fmt::format(R"(global(workDirectory="{}")
module(load="imudp" threads="1")
input(type="imudp" address="127.0.0.1" port="{}")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="{}" template="raw")
)",
                         work.string(), udp, out.string());
    }
    const pid_t pid = spawn({rsyslogd, "-n", "-f", conf.string(), "-i", (work / "rsyslog.pid").string()},
                            (work / "rsyslog.log").string());
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        r.note = "rsyslogd exited at start-up (see " + (work / "rsyslog.log").string() + ")";
        return r;
    }
    auto lines = [&] {
        std::error_code ec;
        // Count newlines in the output file (rsyslog writes one line per message).
        std::ifstream in(out, std::ios::binary);
        std::uint64_t n = 0;
        char buf[1 << 16];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) {
            for (std::streamsize i = 0; i < in.gcount(); ++i) n += buf[i] == '\n';
            if (!in) break;
        }
        return n;
    };
    const double c0 = proc_cpu_s(pid);
    const std::int64_t t0 = mono_ns();
    if (!run_gen(sluice, udp, events, rate, (work / "gen-rsyslog.log").string())) r.note = "gen failed";
    r.handled = wait_stable(lines, 500);
    r.wall_s = static_cast<double>(mono_ns() - t0) / 1e9;
    r.cpu_s = proc_cpu_s(pid) - c0;
    kill(pid, SIGTERM);
    wait_exit(pid, 30);
    r.ok = r.handled > 0;
    return r;
}

std::string find_sluice(const std::string& given) {
    if (!given.empty()) return given;
    if (std::string(SLUICE_BIN_PATH).size() > 0 && access(SLUICE_BIN_PATH, X_OK) == 0) return SLUICE_BIN_PATH;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    for (const fs::path& cand : {self.parent_path() / "../sluice", self.parent_path() / "../src/app/sluice"})
        if (access(cand.c_str(), X_OK) == 0) return cand.string();
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench-pipeline: CPU cost of sluice's kernel-socket ingest path vs rsyslog"};
    std::uint64_t events = 2'000'000;
    std::uint64_t rate = 100'000;
    bool simulate = false;
    bool skip_reference = false;
    std::string sluice_bin;
    app.add_option("--events", events, "Events per system (1 per datagram)")->capture_default_str();
    app.add_option("--rate", rate, "Offered events/s (0 = flat out)")->capture_default_str();
    bool simulate_capture = false;
    app.add_flag("--simulate-storage", simulate, "sluice side in process with the in-memory log (parse, no write)");
    app.add_flag("--simulate-capture", simulate_capture,
                 "sluice side in process from pre-built datagrams into a log on real files "
                 "(synthetic input, real writes; no rsyslog comparison)")
        ->excludes("--simulate-storage");
    app.add_flag("--no-reference", skip_reference, "Skip the rsyslog run");
    app.add_option("--sluice", sluice_bin, "Path of the sluice binary (default: the one built alongside)");
    CLI11_PARSE(app, argc, argv);
    signal(SIGPIPE, SIG_IGN);

    const std::string sluice = find_sluice(sluice_bin);
    if (sluice.empty()) {
        std::fprintf(stderr, "bench-pipeline: sluice binary not found (use --sluice)\n");
        return 2;
    }
    char tmpl[] = "/tmp/bench-pipeline-XXXXXX";
    const fs::path work = mkdtemp(tmpl);
    std::printf("machine: %s\n", machine().c_str());
    std::printf("load: %llu events, 1 event per datagram, %s, loopback, generator = sluice gen\n",
                static_cast<unsigned long long>(events),
                rate ? fmt::format("{} events/s", rate).c_str() : "flat out");

    const std::uint64_t core_events = std::min<std::uint64_t>(events, 2'000'000);
    const core_result core = bench_core(core_events);
    std::printf("pipeline core (in process, batches built, not written): %.0f events/s, %.0f ns CPU/event, stored %llu/%llu\n",
                core.events_per_s, core.ns_per_event, static_cast<unsigned long long>(core.stored),
                static_cast<unsigned long long>(core_events));

    const side_result s = simulate_capture ? bench_sluice_capture_simulated(work, events, rate)
                          : simulate       ? bench_sluice_simulated(sluice, events, rate)
                                           : bench_sluice_run(sluice, work, events, rate);
    const double s_per_m = s.handled ? s.cpu_s / (static_cast<double>(s.handled) / 1e6) : 0;
    if (s.p50_us >= 0)
        std::printf("sluice receive -> durable latency: p50 <= %.0f us, p99 <= %.0f us (log2 buckets)\n",
                    s.p50_us, s.p99_us);
    std::printf("sluice %s: handled %llu events, %.2f CPU-s, %.1f s wall, %.3f CPU-s per million%s%s\n",
                simulate_capture ? "(synthetic input, pipeline + durable log in process)"
                : simulate       ? "(socket + pipeline, simulated storage)"
                                 : "run (durable, io_uring writer)",
                static_cast<unsigned long long>(s.handled), s.cpu_s, s.wall_s, s_per_m, s.note.empty() ? "" : "; ",
                s.note.c_str());

    side_result rs;
    // With the capture simulated sluice receives nothing from a socket: rsyslog's receive cost
    // would make the comparison unequal, so there is none.
    if (simulate_capture) rs.note = "none with --simulate-capture (sluice receives no packets)";
    else if (!skip_reference) rs = bench_rsyslog(sluice, work, events, rate);
    else rs.note = "skipped (--no-reference)";
    const double r_per_m = rs.handled ? rs.cpu_s / (static_cast<double>(rs.handled) / 1e6) : 0;
    if (rs.ok)
        std::printf("rsyslog imudp->omfile (no fsync): handled %llu events, %.2f CPU-s, %.1f s wall, %.3f CPU-s "
                    "per million\n",
                    static_cast<unsigned long long>(rs.handled), rs.cpu_s, rs.wall_s, r_per_m);
    else
        std::printf("rsyslog reference missing: %s\n", rs.note.c_str());

    const double ratio = rs.ok && r_per_m > 0 ? s_per_m / r_per_m : 0;
    std::printf("RESULT {\"bench\":\"pipeline\",\"machine\":\"%s\",\"events\":%llu,\"rate\":%llu,"
                "\"simulate_storage\":%s,\"simulate_capture\":%s,\"core_events_per_s\":%.0f,\"core_ns_per_event\":%.1f,"
                "\"sluice_handled\":%llu,\"sluice_cpu_s\":%.3f,\"sluice_cpu_s_per_million\":%.4f,"
                "\"sluice_latency_us_p50\":%.0f,\"sluice_latency_us_p99\":%.0f,"
                "\"reference\":\"rsyslog imudp->omfile\",\"reference_handled\":%llu,"
                "\"reference_cpu_s_per_million\":%s,\"ratio_sluice_to_reference\":%s}\n",
                machine().c_str(), static_cast<unsigned long long>(events), static_cast<unsigned long long>(rate),
                simulate ? "true" : "false", simulate_capture ? "true" : "false", core.events_per_s,
                core.ns_per_event,
                static_cast<unsigned long long>(s.handled), s.cpu_s, s_per_m, s.p50_us, s.p99_us,
                static_cast<unsigned long long>(rs.handled),
                rs.ok ? fmt::format("{:.4f}", r_per_m).c_str() : "null",
                ratio > 0 ? fmt::format("{:.3f}", ratio).c_str() : "null");
    std::error_code ec;
    fs::remove_all(work, ec);
    return s.ok ? 0 : 1;
}
