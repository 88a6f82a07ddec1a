// bench-kafka: the Kafka API's fetch and produce bandwidth, each against a reference measured in
// the same run.
//
//  - Fetch: a log pre-filled with --fetch-bytes of --record-bytes records (~64 KiB batches, 4
//    partitions, page cache warmed) served by an in-process kafka::server on 127.0.0.1:<ephemeral>,
//    drained by (a) this bench's own Fetch v4 client over a plain TCP socket (one request in
//    flight, 1 MiB per partition), one partition per request and then 4 partitions per request,
//    and (b) kcat (librdkafka), with its defaults and with bigger fetch sizes (best counted). Reference: loopback
//    iperf3 single-stream bandwidth. fetch_ratio = best fetch bytes/s / iperf3 bytes/s.
//  - Produce: a librdkafka producer (acks=all, linger.ms=5, batch.size 1 MB, no compression,
//    keyless records spread over the 8 partitions) into an 8-partition topic for --seconds, value
//    bytes counted on successful delivery reports. Reference: the log's own append bandwidth (one
//    thread appending ~256 KiB batches of the same records round-robin into 8 partitions through
//    an appender, flat out, as bench-log does). Both are counted in value bytes (records x
//    --record-bytes), so produce_ratio compares records/s of one record size. --rounds rounds of
//    (reference, produce); each produce window is divided by the reference measured just before
//    it and the median round counts (min and max printed): on a shared box the disk and the cores
//    drift within seconds. Per round: the CPU seconds per GB of each thread role (bench thread =
//    rd_kafka_produce + delivery callbacks, librdkafka's rdk:* threads, the kafka server loop, the
//    log writer), the server's ack latency and the log's fdatasync latency.
//
//    Record size: 1 KiB by default, the payload of the OpenMessaging Benchmark's standard Kafka
//    workloads. Kafka's producer-perf-test is run with 100 B to 1 KiB records; at 100 B one
//    librdkafka 2.0.2 producer on this 2-core box spends ~5 CPU-s per GB in its own threads
//    against ~1.3 for the server and the log writer together (printed per round), so the figure
//    would measure the client's per-message cost (allocation, clock reads, locking, one delivery
//    callback per message), not the Kafka path. --record-bytes 100 measures exactly that case.
//
//   bench-kafka --dir DIR [--seconds S] [--rounds R] [--fetch-bytes B] [--record-bytes N]
//
// Missing iperf3 or kcat: said so, and their figures are null. Last line: RESULT {json}.

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sluice/base/bytes.h>
#include <sluice/base/clock.h>
#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

extern char** environ;

using namespace sluice;
using namespace sluice::log;
namespace fs = std::filesystem;

namespace {

constexpr const char* fetch_topic = "fetch";
constexpr int fetch_partitions = 4;
constexpr const char* produce_topic = "produce";
constexpr int produce_partitions = 8;

[[noreturn]] void die(const std::string& what) {
    fmt::print(stderr, "bench-kafka: {}\n", what);
    std::exit(1);
}

std::string machine_name() {
    std::string cpu = "unknown cpu";
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    }
    utsname u{};
    uname(&u);
    return fmt::format("{} x{} cores, kernel {}", cpu, std::thread::hardware_concurrency(), u.release);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool have_program(const char* name) {
    std::string cmd = fmt::format("command -v {} > /dev/null 2>&1", name);
    return std::system(cmd.c_str()) == 0;
}

// Same store settings as bench-log, so the log reference and the Kafka path see one log config.
std::unique_ptr<log_store> open_store(const fs::path& data) {
    std::error_code ec;
    fs::remove_all(data, ec);
    store_options o;
    o.data_dir = data.string();
    o.flush_interval_us = 5'000;
    o.ring_bytes = 32 << 20;
    o.write_buffer_bytes = 4 << 20;
    std::string err;
    auto s = log_store::open(o, &err);
    if (!s) die(err);
    return s;
}

void create_topic(log_store& s, const char* name, int partitions) {
    topic_spec t;
    t.name = name;
    t.partitions = partitions;
    std::string err;
    if (s.create_topic(t, &err) != errc::ok) die(err);
}

// One finished batch of as many `record_bytes` records as fit in `target_bytes`.
struct prebuilt_batch {
    std::vector<std::byte> buf;
    bytes_view batch;
    int records = 0;
};

prebuilt_batch build_batch(int record_bytes, std::size_t target_bytes) {
    prebuilt_batch p;
    p.buf.resize(target_bytes + 1024);
    std::string value(static_cast<std::size_t>(record_bytes), 'x');
    batch_builder b(p.buf);
    while (b.size_bytes() + static_cast<std::size_t>(record_bytes) + 32 < target_bytes) {
        if (!b.append(wall_ms(), std::nullopt, as_bytes(value))) break;
        ++p.records;
    }
    if (p.records == 0 && !b.append(wall_ms(), std::nullopt, as_bytes(value))) die("record too large");
    p.records = std::max(p.records, 1);
    p.batch = b.finish();
    return p;
}

// ---------------------------------------------------------------------------------------------
// Where the CPU goes: this process's threads, by role, from /proc/self/task/*/{comm,stat}.
// "bench" is the main thread (the appender in the log reference, the librdkafka application
// thread calling rd_kafka_produce and running the delivery callbacks in the produce phase);
// "librdkafka" its rdk:* threads (rdk:broker* builds and sends the ProduceRequests); "server"
// the kafka::server loop (sluice-kafka); "writer" the log writer (sluice-writer) and the io_uring
// workers of either.

struct cpu_split {
    double bench = 0, librdkafka = 0, server = 0, writer = 0;
    [[nodiscard]] double total() const { return bench + librdkafka + server + writer; }
    cpu_split operator-(const cpu_split& o) const {
        return {bench - o.bench, librdkafka - o.librdkafka, server - o.server, writer - o.writer};
    }
};

cpu_split thread_cpu() {
    struct thread_time {
        long tid;
        std::string comm;
        double seconds;
    };
    std::vector<thread_time> threads;
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc/self/task", ec)) {
        thread_time t{std::atol(e.path().filename().c_str()), {}, 0};
        std::ifstream(e.path() / "comm") >> t.comm;
        std::string stat;
        std::getline(std::ifstream(e.path() / "stat"), stat);
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        std::string field;
        double utime = 0, stime = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14, 15: utime, stime (ticks)
            if (i == 14) utime = std::atof(field.c_str());
            if (i == 15) stime = std::atof(field.c_str());
        }
        t.seconds = (utime + stime) / hz;
        threads.push_back(std::move(t));
    }
    auto role_of = [&](const std::string& comm, long tid, auto& self) -> double cpu_split::* {
        if (tid == ::getpid()) return &cpu_split::bench;
        if (comm.rfind("rdk:", 0) == 0) return &cpu_split::librdkafka;
        if (comm == "sluice-kafka") return &cpu_split::server;
        if (comm.rfind("iou-wrk-", 0) == 0) {  // named after the thread that owns the ring
            const long owner = std::atol(comm.c_str() + 8);
            for (const auto& o : threads)
                if (o.tid == owner && o.comm.rfind("iou-wrk-", 0) != 0) return self(o.comm, o.tid, self);
        }
        return &cpu_split::writer;  // sluice-writer (and anything else the store runs)
    };
    cpu_split c;
    for (const auto& t : threads) c.*role_of(t.comm, t.tid, role_of) += t.seconds;
    return c;
}

std::string cpu_line(const cpu_split& c, double gigabytes) {
    auto per = [&](double s) { return gigabytes > 0 ? s / gigabytes : 0.0; };
    return fmt::format("CPU s per GB of values: bench thread {:.2f}, librdkafka threads {:.2f}, kafka server {:.2f}, "
                       "log writer {:.2f} (total {:.2f})",
                       per(c.bench), per(c.librdkafka), per(c.server), per(c.writer), per(c.total()));
}

// ---------------------------------------------------------------------------------------------
// Log append reference (bench-log's method, one producer, flat out).

struct append_result {
    double seconds = 0;
    double batch_bytes = 0;
    double records = 0;
    cpu_split cpu;  // in the window
};

append_result run_log_append(const fs::path& data, int seconds, int record_bytes) {
    auto s = open_store(data);
    create_topic(*s, "append", produce_partitions);
    s->start();
    std::vector<partition_index> parts;
    for (int p = 0; p < produce_partitions; ++p) parts.push_back(*s->find_partition("append", p));
    auto a = s->make_appender();
    if (!a) die("no appender");
    auto pb = build_batch(record_bytes, 256 * 1024);
    std::array<append_completion, 64> comps;
    append_result r;
    std::uint64_t token = 0, fulls = 0;
    int i = 0;
    const cpu_split cpu0 = thread_cpu();
    const auto t0 = std::chrono::steady_clock::now();
    const auto until = t0 + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (a->try_append(parts[static_cast<std::size_t>(i % produce_partitions)], pb.batch, ++token) ==
            errc::ok) {
            ++i;
        } else {
            ++fulls;
        }
        std::size_t c = a->poll_completions(comps);
        for (std::size_t k = 0; k < c; ++k) {
            if (comps[k].error != errc::ok) continue;
            r.batch_bytes += static_cast<double>(pb.batch.size());
            r.records += pb.records;
        }
        if (c == 0 && fulls % 64 == 63) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    r.seconds = seconds_since(t0);
    r.cpu = thread_cpu() - cpu0;
    auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (a->in_flight() > 0 && std::chrono::steady_clock::now() < drain_until) {
        (void)a->poll_completions(comps);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    a.reset();
    s->stop();
    return r;
}

// ---------------------------------------------------------------------------------------------
// Fetch: fill, warm, serve.

struct fill_result {
    double batch_bytes = 0;
    double records = 0;
    std::vector<std::int64_t> end_offsets;  // per partition
};

fill_result fill_fetch_topic(log_store& s, std::int64_t total_bytes, int record_bytes) {
    std::vector<partition_index> parts;
    for (int p = 0; p < fetch_partitions; ++p) parts.push_back(*s.find_partition(fetch_topic, p));
    auto a = s.make_appender();
    if (!a) die("no appender");
    auto pb = build_batch(record_bytes, 64 * 1024);
    const std::int64_t batches = std::max<std::int64_t>(
        fetch_partitions, total_bytes / static_cast<std::int64_t>(pb.batch.size()));
    std::array<append_completion, 64> comps;
    fill_result r;
    std::int64_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (sent < batches || a->in_flight() > 0) {
        if (std::chrono::steady_clock::now() > deadline) die("filling the fetch topic timed out");
        bool full = false;
        if (sent < batches) {
            if (a->try_append(parts[static_cast<std::size_t>(sent % fetch_partitions)], pb.batch, 1) ==
                errc::ok) {
                ++sent;
            } else {
                full = true;
            }
        }
        std::size_t c = a->poll_completions(comps);
        for (std::size_t k = 0; k < c; ++k)
            if (comps[k].error != errc::ok) die("append failed while filling the fetch topic");
        if (c == 0 && (full || sent == batches))
            std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    // Completions mean durable; the high watermark is published with them. Wait for it anyway.
    for (auto p : parts) {
        while (s.high_watermark(p) < s.stats(p).next_offset) {
            if (std::chrono::steady_clock::now() > deadline) die("high watermark did not reach the end");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        r.end_offsets.push_back(s.high_watermark(p));
    }
    r.batch_bytes = static_cast<double>(batches) * static_cast<double>(pb.batch.size());
    r.records = static_cast<double>(batches) * pb.records;
    return r;
}

// Reads every file under `dir` once so fetches are served from the page cache (the log writes
// with O_DIRECT and reads buffered): the fetch figures measure the network path, not the disk.
void warm_page_cache(const fs::path& dir) {
    std::vector<char> buf(1 << 20);
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        }
    }
}

// A minimal Kafka Fetch v4 client over a blocking TCP socket: one request in flight.
class fetch_client {
public:
    explicit fetch_client(std::uint16_t port) {
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (_fd < 0) die("socket");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            die(fmt::format("connect 127.0.0.1:{}: {}", port, std::strerror(errno)));
        int one = 1;
        (void)::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~fetch_client() {
        if (_fd >= 0) ::close(_fd);
    }
    fetch_client(const fetch_client&) = delete;
    fetch_client& operator=(const fetch_client&) = delete;

    struct part {
        std::int32_t partition = 0;
        std::int64_t offset = 0;  // next fetch offset, advanced from the response
        std::int64_t end = 0;     // drained when offset reaches it
        std::int64_t high_watermark = -1;
    };

    // One Fetch round trip for the given partitions; returns record bytes received.
    std::int64_t fetch(std::span<part*> parts, std::int32_t partition_max_bytes,
                       std::int32_t max_bytes) {
        encode(parts, partition_max_bytes, max_bytes);
        send_all(_req.data(), _req.size());
        std::byte size_be[4];
        recv_all(size_be, 4);
        const std::int32_t size = load_be<std::int32_t>(size_be);
        if (size < 8) die(fmt::format("bad Fetch response size {}", size));
        if (_resp.size() < static_cast<std::size_t>(size)) _resp.resize(static_cast<std::size_t>(size));
        recv_all(_resp.data(), static_cast<std::size_t>(size));
        return decode(parts, std::span<const std::byte>(_resp.data(), static_cast<std::size_t>(size)));
    }

private:
    void put16(std::int16_t v) { put<std::int16_t>(v); }
    void put32(std::int32_t v) { put<std::int32_t>(v); }
    void put64(std::int64_t v) { put<std::int64_t>(v); }
    template <typename T>
    void put(T v) {
        std::size_t at = _req.size();
        _req.resize(at + sizeof(T));
        store_be<T>(_req.data() + at, v);
    }
    void put_string(std::string_view s) {
        put16(static_cast<std::int16_t>(s.size()));
        auto b = as_bytes(s);
        _req.insert(_req.end(), b.begin(), b.end());
    }

    void encode(std::span<part*> parts, std::int32_t partition_max_bytes, std::int32_t max_bytes) {
        _req.clear();
        put32(0);  // frame size, patched below
        // Request header v1.
        put16(1);  // api_key Fetch
        put16(4);  // api_version
        put32(++_correlation_id);
        put_string("bench-kafka");
        // Fetch v4 body.
        put32(-1);        // replica_id
        put32(500);       // max_wait_ms
        put32(1);         // min_bytes
        put32(max_bytes);
        _req.push_back(std::byte{0});  // isolation_level: read_uncommitted
        put32(1);                      // topics
        put_string(fetch_topic);
        put32(static_cast<std::int32_t>(parts.size()));
        for (auto* p : parts) {
            put32(p->partition);
            put64(p->offset);
            put32(partition_max_bytes);
        }
        store_be<std::int32_t>(_req.data(), static_cast<std::int32_t>(_req.size() - 4));
    }

    // Bounds-checked walk of a Fetch v4 response: errors, high watermarks, record set sizes; the
    // next offset comes from the last whole batch header in each record set.
    std::int64_t decode(std::span<part*> parts, std::span<const std::byte> r) {
        std::size_t at = 0;
        auto need = [&](std::size_t n) {
            if (at + n > r.size()) die("truncated Fetch response");
        };
        auto i16 = [&] { need(2); auto v = load_be<std::int16_t>(r.data() + at); at += 2; return v; };
        auto i32 = [&] { need(4); auto v = load_be<std::int32_t>(r.data() + at); at += 4; return v; };
        auto i64 = [&] { need(8); auto v = load_be<std::int64_t>(r.data() + at); at += 8; return v; };
        if (i32() != _correlation_id) die("Fetch response correlation id mismatch");
        (void)i32();  // throttle_time_ms
        std::int64_t total = 0;
        const std::int32_t topics = i32();
        for (std::int32_t t = 0; t < topics; ++t) {
            const std::int16_t name_len = i16();
            if (name_len > 0) { need(static_cast<std::size_t>(name_len)); at += static_cast<std::size_t>(name_len); }
            const std::int32_t nparts = i32();
            for (std::int32_t k = 0; k < nparts; ++k) {
                const std::int32_t partition = i32();
                const std::int16_t error = i16();
                const std::int64_t hwm = i64();
                (void)i64();  // last_stable_offset
                const std::int32_t aborted = i32();
                if (aborted > 0) { need(16 * static_cast<std::size_t>(aborted)); at += 16 * static_cast<std::size_t>(aborted); }
                const std::int32_t records_len = i32();
                part* p = nullptr;
                for (auto* q : parts)
                    if (q->partition == partition) p = q;
                if (!p) die(fmt::format("Fetch response names unrequested partition {}", partition));
                if (error != 0) die(fmt::format("Fetch partition {} error code {}", partition, error));
                p->high_watermark = hwm;
                if (records_len <= 0) continue;
                need(static_cast<std::size_t>(records_len));
                const std::byte* rec = r.data() + at;
                const std::size_t n = static_cast<std::size_t>(records_len);
                at += n;
                total += records_len;
                std::size_t pos = 0;
                std::int64_t next = -1;
                while (pos + batch_header_bytes <= n) {
                    const std::int64_t base = load_be<std::int64_t>(rec + pos);
                    const std::int32_t len = load_be<std::int32_t>(rec + pos + 8);
                    if (len < 49) die("bad batch length in Fetch response");
                    const std::size_t whole = 12 + static_cast<std::size_t>(len);
                    if (pos + whole > n) break;  // partial trailing batch
                    const std::int32_t last_delta = load_be<std::int32_t>(rec + pos + 23);
                    next = base + last_delta + 1;
                    pos += whole;
                }
                if (next > p->offset) p->offset = next;
            }
        }
        return total;
    }

    void send_all(const std::byte* p, std::size_t n) {
        while (n > 0) {
            ssize_t w = ::send(_fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) die(fmt::format("send: {}", std::strerror(errno)));
            p += w;
            n -= static_cast<std::size_t>(w);
        }
    }
    void recv_all(std::byte* p, std::size_t n) {
        while (n > 0) {
            ssize_t g = ::recv(_fd, p, std::min<std::size_t>(n, 1 << 20), 0);
            if (g < 0 && errno == EINTR) continue;
            if (g <= 0) die(fmt::format("recv: {}", g == 0 ? "connection closed" : std::strerror(errno)));
            p += g;
            n -= static_cast<std::size_t>(g);
        }
    }

    int _fd = -1;
    std::int32_t _correlation_id = 0;
    std::vector<std::byte> _req;
    std::vector<std::byte> _resp;
};

struct drain_result {
    double seconds = 0;
    double bytes = 0;
    std::uint64_t requests = 0;
};

// Drains every partition of the fetch topic from offset 0 to its end, `per_request` partitions
// per Fetch (1: partitions one after another; 4: all at once).
drain_result drain_with_client(std::uint16_t port, const std::vector<std::int64_t>& ends,
                               int per_request, std::int32_t partition_max_bytes) {
    fetch_client c(port);
    std::vector<fetch_client::part> parts(ends.size());
    for (std::size_t i = 0; i < ends.size(); ++i) {
        parts[i].partition = static_cast<std::int32_t>(i);
        parts[i].end = ends[i];
    }
    drain_result r;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<fetch_client::part*> batch;
    std::size_t next = 0;
    while (true) {
        batch.clear();
        for (std::size_t i = next; i < parts.size() && batch.size() < static_cast<std::size_t>(per_request); ++i)
            if (parts[i].offset < parts[i].end) batch.push_back(&parts[i]);
        if (batch.empty()) {
            while (next < parts.size() && parts[next].offset >= parts[next].end) ++next;
            if (next == parts.size()) break;
            continue;
        }
        const std::int64_t got = c.fetch(batch, partition_max_bytes,
                                         partition_max_bytes * static_cast<std::int32_t>(batch.size()));
        r.bytes += static_cast<double>(got);
        ++r.requests;
        if (got == 0 && seconds_since(t0) > 60) die("fetch client made no progress for 60 s");
    }
    r.seconds = seconds_since(t0);
    return r;
}

// kcat drains the whole topic; returns bytes/s over `stored_bytes`, or nullopt if it failed.
std::optional<double> drain_with_kcat(std::uint16_t port, double stored_bytes, double records,
                                      const std::string& extra) {
    std::string cmd = fmt::format(
        "kcat -b 127.0.0.1:{} -C -t {} -o beginning -e -q -f '\\n' {} 2>/dev/null", port, fetch_topic, extra);
    const auto t0 = std::chrono::steady_clock::now();
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return std::nullopt;
    std::vector<char> buf(1 << 16);
    std::uint64_t lines = 0;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
        lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    int rc = ::pclose(f);
    double secs = seconds_since(t0);
    if (rc != 0 || static_cast<double>(lines) != records) {
        fmt::print("kcat {}: exit {}, {} records of {:.0f} — not counted\n", extra, rc, lines, records);
        return std::nullopt;
    }
    double bps = stored_bytes / secs;
    fmt::print("kcat {}: {:.0f} records in {:.2f} s: {:.3f} GB/s\n", extra.empty() ? "(defaults)" : extra,
               records, secs, bps / 1e9);
    return bps;
}

// ---------------------------------------------------------------------------------------------
// iperf3 loopback reference.

std::uint16_t free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        die("cannot find a free port");
    ::close(fd);
    return ntohs(a.sin_port);
}

std::optional<double> run_iperf3(int seconds) {
    const std::uint16_t port = free_tcp_port();
    const std::string p = std::to_string(port);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    const char* argv[] = {"iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", p.c_str(), nullptr};
    pid_t server = -1;
    int rc = posix_spawnp(&server, "iperf3", &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::string cmd = fmt::format("iperf3 -c 127.0.0.1 -p {} -t {} -J 2>/dev/null", port, seconds);
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        (void)::pclose(f);
    }
    // The server exits after one test (-1); stop it if the client never reached it.
    int status = 0;
    for (int i = 0; i < 50 && ::waitpid(server, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (::waitpid(server, &status, WNOHANG) == 0) {
        ::kill(server, SIGTERM);
        (void)::waitpid(server, &status, 0);
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    double bits = 0;
    if (out.empty() || parser.parse(out).get(doc) ||
        doc["end"]["sum_received"]["bits_per_second"].get_double().get(bits) || bits <= 0)
        return std::nullopt;
    return bits / 8;
}

// ---------------------------------------------------------------------------------------------
// librdkafka produce.

struct produce_counters {
    std::uint64_t delivered_msgs = 0;
    std::uint64_t delivered_bytes = 0;
    std::uint64_t failed_msgs = 0;
    rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* c = static_cast<produce_counters*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++c->delivered_msgs;
        c->delivered_bytes += m->len;
    } else {
        ++c->failed_msgs;
        c->last_error = m->err;
    }
}

struct produce_result {
    double seconds = 0;
    double bytes = 0;  // value bytes delivered (acks=all) inside the window
    double msgs = 0;
    std::uint64_t failed = 0;
    std::uint64_t stored_records = 0;
    cpu_split cpu;  // in the window
    double requests = 0;  // ProduceRequests the server handled in the window
    double ack_p50_ms = 0, ack_p99_ms = 0;  // server: Produce handled -> answer queued (log2 buckets)
    std::uint64_t ring_full = 0;            // appends refused (ring full: the server queued them)
    double fsync_p50_ms = 0, fsync_p99_ms = 0;
    std::uint64_t flushes = 0;
};

// Upper bound of the bucket holding quantile q of the server's produce-ack histogram, in ms.
double ack_quantile_ms(const kafka::latency_histogram_stats& h, double q) {
    std::uint64_t total = 0;
    for (auto b : h.buckets) total += b;
    if (total == 0) return 0;
    std::uint64_t seen = 0;
    for (int b = 0; b < kafka::latency_buckets; ++b) {
        seen += h.buckets[b];
        if (static_cast<double>(seen) >= q * static_cast<double>(total)) return std::ldexp(1.0, b) / 1000.0;
    }
    return std::ldexp(1.0, kafka::latency_buckets - 1) / 1000.0;
}

produce_result run_produce(const fs::path& data, int seconds, int record_bytes) {
    auto s = open_store(data);
    create_topic(*s, produce_topic, produce_partitions);
    s->start();
    kafka::server_options so;
    so.listen_host = "127.0.0.1";
    so.listen_port = 0;
    std::string err;
    auto srv = kafka::server::create(*s, so, &err);
    if (!srv || !srv->start(&err)) die("kafka server: " + err);
    const std::uint16_t port = srv->port();

    produce_counters counters;
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::pair<const char*, std::string> settings[] = {
        {"bootstrap.servers", fmt::format("127.0.0.1:{}", port)},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"batch.size", "1000000"},
        {"batch.num.messages", "100000"},
        {"compression.codec", "none"},
        {"queue.buffering.max.messages", "2000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"log_level", "3"},
    };
    for (const auto& [k, v] : settings)
        if (rd_kafka_conf_set(conf, k, v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            die(fmt::format("librdkafka {}={}: {}", k, v, errstr));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &counters);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) die(fmt::format("rd_kafka_new: {}", errstr));
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, produce_topic, nullptr);
    // Values are never modified, so librdkafka may reference them without copying (msgflags 0).
    static std::vector<char> value;
    value.assign(static_cast<std::size_t>(record_bytes), 'x');

    // Warm-up: metadata and connection before the window opens.
    if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, value.data(), value.size(), nullptr, 0, nullptr) != 0)
        die(fmt::format("produce: {}", rd_kafka_err2str(rd_kafka_last_error())));
    (void)rd_kafka_flush(rk, 10'000);
    if (counters.delivered_msgs != 1)
        die(fmt::format("warm-up message not delivered: {}", rd_kafka_err2str(counters.last_error)));
    counters = produce_counters{};

    const auto st0 = srv->stats();
    const auto log0 = s->stats();
    const cpu_split cpu0 = thread_cpu();
    const auto t0 = std::chrono::steady_clock::now();
    const auto until = t0 + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
        for (int k = 0; k < 1000; ++k) {
            if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, value.data(), value.size(), nullptr, 0,
                                 nullptr) != 0) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    die(fmt::format("produce: {}", rd_kafka_err2str(rd_kafka_last_error())));
                (void)rd_kafka_poll(rk, 1);
                break;
            }
        }
        (void)rd_kafka_poll(rk, 0);
    }
    produce_result r;
    r.seconds = seconds_since(t0);
    r.cpu = thread_cpu() - cpu0;
    r.bytes = static_cast<double>(counters.delivered_bytes);
    r.msgs = static_cast<double>(counters.delivered_msgs);
    const auto st1 = srv->stats();
    r.requests = static_cast<double>(st1.broker.requests_by_api[kafka::api::produce] -
                                     st0.broker.requests_by_api[kafka::api::produce]);
    kafka::latency_histogram_stats window;
    for (int b = 0; b < kafka::latency_buckets; ++b)
        window.buckets[b] = st1.broker.produce_ack.buckets[b] - st0.broker.produce_ack.buckets[b];
    r.ack_p50_ms = ack_quantile_ms(window, 0.5);
    r.ack_p99_ms = ack_quantile_ms(window, 0.99);
    const auto log1 = s->stats();
    r.ring_full = log1.appends_full - log0.appends_full;
    r.flushes = log1.flushes - log0.flushes;
    r.fsync_p50_ms = static_cast<double>(log1.fsync_ns_p50) / 1e6;
    r.fsync_p99_ms = static_cast<double>(log1.fsync_ns_p99) / 1e6;
    (void)rd_kafka_flush(rk, 30'000);
    r.failed = counters.failed_msgs;
    const std::uint64_t total_delivered = counters.delivered_msgs;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    srv->stop();
    for (int p = 0; p < produce_partitions; ++p)
        r.stored_records += s->stats(*s->find_partition(produce_topic, p)).records_appended;
    r.stored_records -= 1;  // the warm-up message
    if (r.stored_records < total_delivered)
        die(fmt::format("log holds {} records but {} were acknowledged", r.stored_records, total_delivered));
    s->stop();
    return r;
}

std::string json_num(std::optional<double> v, int digits = 4) {
    return v ? fmt::format("{:.{}f}", *v, digits) : std::string("null");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench-kafka: Kafka fetch vs loopback iperf3, Kafka produce vs log append"};
    std::string dir;
    int seconds = 5, record_bytes = 1024, rounds = 3;
    std::int64_t fetch_bytes = 1LL << 30;
    app.add_option("--dir", dir, "scratch directory (the log goes to DIR/data)")->required();
    app.add_option("--seconds", seconds, "duration of the produce, log append and iperf3 phases")
        ->check(CLI::Range(1, 600));
    app.add_option("--fetch-bytes", fetch_bytes, "bytes stored for the fetch phase")
        ->check(CLI::Range(std::int64_t{1} << 20, std::int64_t{64} << 30));
    app.add_option("--record-bytes", record_bytes,
                   "value bytes per record (default 1024: OpenMessaging Benchmark's Kafka payload; see the top "
                   "comment)")
        ->check(CLI::Range(1, 16384));
    app.add_option("--rounds", rounds, "produce rounds (log append reference, then produce); the median counts")
        ->check(CLI::Range(1, 20));
    bool skip_fetch = false, skip_produce = false;
    app.add_flag("--skip-fetch", skip_fetch, "skip the fetch phase (its figures are null)");
    app.add_flag("--skip-produce", skip_produce, "skip the produce phase (its figures are null)");
    CLI11_PARSE(app, argc, argv);
    ::signal(SIGPIPE, SIG_IGN);

    const fs::path root(dir);
    fs::create_directories(root);
    const fs::path data = root / "data";
    fmt::print("bench-kafka on {}\n", machine_name());
    fmt::print("dir {} | {} B records (--record-bytes; {}) | fetch {:.0f} MiB over {} partitions | produce {} "
               "rounds of {} s (log append reference, then librdkafka) into {} partitions\n",
               dir, record_bytes,
               record_bytes == 1024 ? "default: OpenMessaging Benchmark's Kafka payload" : "set on the command line",
               static_cast<double>(fetch_bytes) / (1 << 20), fetch_partitions, rounds, seconds, produce_partitions);

    // --- Fetch ---
    std::optional<double> fetch_1p, fetch_4p, kcat_bps, iperf_bps;
    if (!skip_fetch) {
        auto s = open_store(data);
        create_topic(*s, fetch_topic, fetch_partitions);
        s->start();
        const auto tf = std::chrono::steady_clock::now();
        auto fill = fill_fetch_topic(*s, fetch_bytes, record_bytes);
        fmt::print("filled {:.0f} MiB ({:.0f} records, ~64 KiB batches) in {:.2f} s\n", fill.batch_bytes / (1 << 20),
                   fill.records, seconds_since(tf));
        warm_page_cache(data);

        if (have_program("iperf3")) {
            iperf_bps = run_iperf3(std::min(seconds, 3));
            if (iperf_bps) fmt::print("iperf3 loopback single stream: {:.3f} GB/s\n", *iperf_bps / 1e9);
            else fmt::print("iperf3 failed: iperf3_gbps null\n");
        } else {
            fmt::print("iperf3 not installed (scripts/install-deps.sh): iperf3_gbps null\n");
        }

        kafka::server_options so;
        so.listen_host = "127.0.0.1";
        so.listen_port = 0;
        std::string err;
        auto srv = kafka::server::create(*s, so, &err);
        if (!srv || !srv->start(&err)) die("kafka server: " + err);
        const std::uint16_t port = srv->port();
        fmt::print("kafka server on 127.0.0.1:{}\n", port);

        // Each drain moves the whole topic; three drains per mode, the median counted (the VM is
        // shared, so one short drain can land on someone else's burst).
        constexpr int drains = 3;
        for (int per_request : {1, 4}) {
            // 1 MiB per partition per request: librdkafka's max.partition.fetch.bytes default.
            const std::int32_t pmax = 1 << 20;
            std::vector<double> rates;
            std::uint64_t requests = 0;
            for (int k = 0; k < drains; ++k) {
                auto d = drain_with_client(port, fill.end_offsets, per_request, pmax);
                if (d.bytes + 1 < fill.batch_bytes)
                    die(fmt::format("fetch client got {:.0f} bytes of {:.0f}", d.bytes, fill.batch_bytes));
                rates.push_back(d.bytes / d.seconds);
                requests = d.requests;
            }
            std::sort(rates.begin(), rates.end());
            const double bps = rates[rates.size() / 2];
            fmt::print("fetch client, {} partition(s) per request ({} MiB each), {} drains of {:.0f} MiB in {} "
                       "requests: median {:.3f} GB/s (min {:.3f}, max {:.3f})\n",
                       per_request, pmax >> 20, drains, fill.batch_bytes / (1 << 20), requests, bps / 1e9,
                       rates.front() / 1e9, rates.back() / 1e9);
            (per_request == 1 ? fetch_1p : fetch_4p) = bps;
        }

        if (have_program("kcat")) {
            for (const std::string& extra :
                 {std::string(), std::string("-X fetch.max.bytes=33554432 -X max.partition.fetch.bytes=8388608 "
                                             "-X receive.message.max.bytes=67108864")}) {
                auto k = drain_with_kcat(port, fill.batch_bytes, fill.records, extra);
                if (k && (!kcat_bps || *k > *kcat_bps)) kcat_bps = k;
            }
        } else {
            fmt::print("kcat not installed: kcat_gbps null\n");
        }
        auto st = srv->stats();
        fmt::print("server: {} bytes out, {} connections\n", st.bytes_out, st.connections_accepted);
        srv->stop();
        s->stop();
    }

    // --- Produce ---
    // Rounds of (log append reference, then librdkafka produce), one ratio per round: on a shared
    // machine the disk and the cores the two phases see drift within seconds, so each produce
    // window is compared with the reference measured just before it; the median counts.
    std::optional<double> log_value_bps, log_batch_bps, produce_bps, produce_rps, produce_ratio;
    std::optional<double> ratio_min, ratio_max, ack_p50_ms, ack_p99_ms;
    std::optional<cpu_split> produce_cpu_per_gb;
    if (!skip_produce) {
        struct round {
            append_result ref;
            produce_result prod;
            double ratio = 0;
        };
        std::vector<round> done;
        for (int k = 0; k < rounds; ++k) {
            round r;
            r.ref = run_log_append(data, seconds, record_bytes);
            const double ref_value = r.ref.records * record_bytes / r.ref.seconds;
            fmt::print("round {}: log append, 1 thread, ~256 KiB batches, {} partitions: {:.3f} GB/s of batches, "
                       "{:.2f} M records/s = {:.3f} GB/s of values\n",
                       k + 1, produce_partitions, r.ref.batch_bytes / r.ref.seconds / 1e9,
                       r.ref.records / r.ref.seconds / 1e6, ref_value / 1e9);
            fmt::print("  {}\n", cpu_line(r.ref.cpu, r.ref.records * record_bytes / 1e9));
            r.prod = run_produce(data, seconds, record_bytes);
            const double prod_value = r.prod.bytes / r.prod.seconds;
            r.ratio = ref_value > 0 ? prod_value / ref_value : 0;
            fmt::print("round {}: librdkafka produce acks=all linger.ms=5: {:.2f} M records/s = {:.3f} GB/s of values "
                       "({:.0f} ProduceRequests/s, ~{:.0f} KiB each; server ack p50 <= {:.1f} ms, p99 <= {:.1f} ms; "
                       "{} failed deliveries; log holds {} records) -> ratio {:.3f}\n",
                       k + 1, r.prod.msgs / r.prod.seconds / 1e6, prod_value / 1e9, r.prod.requests / r.prod.seconds,
                       r.prod.requests > 0 ? r.prod.bytes / r.prod.requests / 1024 : 0.0, r.prod.ack_p50_ms,
                       r.prod.ack_p99_ms, r.prod.failed, r.prod.stored_records, r.ratio);
            fmt::print("  log: {:.0f} fdatasyncs/s (p50 {:.1f} ms, p99 {:.1f} ms), ring full {} times\n",
                       static_cast<double>(r.prod.flushes) / r.prod.seconds, r.prod.fsync_p50_ms, r.prod.fsync_p99_ms,
                       r.prod.ring_full);
            fmt::print("  {}\n", cpu_line(r.prod.cpu, r.prod.bytes / 1e9));
            done.push_back(r);
        }
        // The round with the median ratio supplies every produce figure, so they agree.
        std::sort(done.begin(), done.end(), [](const round& a, const round& b) { return a.ratio < b.ratio; });
        const round& m = done[done.size() / 2];
        log_value_bps = m.ref.records * record_bytes / m.ref.seconds;
        log_batch_bps = m.ref.batch_bytes / m.ref.seconds;
        produce_bps = m.prod.bytes / m.prod.seconds;
        produce_rps = m.prod.msgs / m.prod.seconds;
        produce_ratio = m.ratio;
        ratio_min = done.front().ratio;
        ratio_max = done.back().ratio;
        ack_p50_ms = m.prod.ack_p50_ms;
        ack_p99_ms = m.prod.ack_p99_ms;
        const double gbytes = m.prod.bytes / 1e9;
        if (gbytes > 0) {
            produce_cpu_per_gb = cpu_split{m.prod.cpu.bench / gbytes, m.prod.cpu.librdkafka / gbytes,
                                           m.prod.cpu.server / gbytes, m.prod.cpu.writer / gbytes};
        }
        fmt::print("produce ratio over {} rounds: median {:.3f} (min {:.3f}, max {:.3f})\n", rounds, *produce_ratio,
                   *ratio_min, *ratio_max);
    }

    auto gb = [](std::optional<double> v) { return v ? std::optional<double>(*v / 1e9) : std::nullopt; };
    std::optional<double> fetch_ratio;
    if (iperf_bps && fetch_1p && fetch_4p) fetch_ratio = std::max(*fetch_1p, *fetch_4p) / *iperf_bps;
    std::string cpu_json = "null";
    if (produce_cpu_per_gb) {
        cpu_json = fmt::format("{{\"bench_thread\":{:.3f},\"librdkafka\":{:.3f},\"server\":{:.3f},\"writer\":{:.3f}}}",
                               produce_cpu_per_gb->bench, produce_cpu_per_gb->librdkafka, produce_cpu_per_gb->server,
                               produce_cpu_per_gb->writer);
    }
    fmt::print("fetch ratio (best fetch / iperf3): {} | produce ratio (produce / log append): {}\n",
               json_num(fetch_ratio, 3), json_num(produce_ratio, 3));
    fmt::print("RESULT {{\"bench\":\"kafka\",\"fetch_gbps_1p\":{},\"fetch_gbps_4p\":{},\"kcat_gbps\":{},"
               "\"iperf3_gbps\":{},\"fetch_ratio\":{},\"produce_gbps\":{},\"produce_records_per_s\":{},"
               "\"log_append_gbps\":{},\"log_append_batch_gbps\":{},\"produce_ratio\":{},"
               "\"produce_ratio_min\":{},\"produce_ratio_max\":{},\"rounds\":{},\"produce_ack_p50_ms\":{},"
               "\"produce_ack_p99_ms\":{},\"produce_cpu_s_per_gb\":{},"
               "\"byte_unit\":{{\"fetch\":\"record-set bytes on the wire\",\"produce\":\"value bytes\"}},"
               "\"record_bytes\":{},\"fetch_bytes\":{},\"produce_partitions\":{},\"seconds\":{}}}\n",
               json_num(gb(fetch_1p)), json_num(gb(fetch_4p)), json_num(gb(kcat_bps)), json_num(gb(iperf_bps)),
               json_num(fetch_ratio, 3), json_num(gb(produce_bps)), json_num(produce_rps, 0),
               json_num(gb(log_value_bps)), json_num(gb(log_batch_bps)), json_num(produce_ratio, 3),
               json_num(ratio_min, 3), json_num(ratio_max, 3), rounds, json_num(ack_p50_ms, 1), json_num(ack_p99_ms, 1),
               cpu_json, record_bytes,
               fetch_bytes, produce_partitions, seconds);
    return 0;
}
