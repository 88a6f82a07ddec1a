// `sluice gen`: load generator. JSON events with a monotonically increasing `seq` (so loss and
// duplication can be proven), sent over kernel UDP sockets with sendmmsg, or written into a pcap
// capture (Ethernet/IPv4/UDP, link-local addresses) for DPDK net_pcap replay.
//
// Prints one summary line on stdout at the end:
//   {"events":N,"datagrams":D,"first_seq":0,"last_seq":N-1,"malformed":M,"bytes":B,"seconds":S,
//    "events_per_s":R}

#include "commands.h"

#include <sluice/base/bytes.h>
#include <sluice/base/clock.h>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sluice::app {

namespace {

constexpr std::size_t datagram_bytes_max = 65507;  // IPv4 UDP payload limit
constexpr std::size_t mmsg_max = 64;

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted.store(true); }

struct shape_gen {
    std::string shape;
    std::mt19937_64 rng;

    // Appends one event with sequence number `seq`.
    void event(std::string& out, std::uint64_t seq, std::int64_t now_s) {
        std::uniform_int_distribution<int> d100(0, 99);
        switch (shape[0]) {
            case 's': {  // sensors
                const std::uint64_t sensor = seq % 1000;
                const double temp = 15.0 + static_cast<double>(rng() % 2000) / 100.0;
                fmt::format_to(std::back_inserter(out), R"({{"sensor_id":{},"temp":{:.2f},"time_epoch":{},"seq":{}}})",
                               sensor, temp, now_s, seq);
                break;
            }
            case 'r': {  // reviews
                static const char* texts[] = {"great", "ok", "terrible", "would buy again", "meh"};
                fmt::format_to(std::back_inserter(out),
                               R"({{"id":{},"userid":{},"rating":{},"text":"{}","time":{},"seq":{}}})", seq,
                               rng() % 100, 1 + rng() % 5, texts[rng() % 5], now_s, seq);
                break;
            }
            case 'u': {  // users
                static const char* status[] = {"Platinum", "Gold", "Silver", "Bronze"};
                fmt::format_to(std::back_inserter(out), R"({{"userid":{},"name":"user-{}","status":"{}","seq":{}}})",
                               seq % 100, seq % 100, status[d100(rng) % 4], seq);
                break;
            }
            default: {  // orders
                fmt::format_to(std::back_inserter(out),
                               R"({{"order_id":{},"customer":"c{}","amount":{:.2f},"items":[{},{}],"ts":{},"seq":{}}})",
                               seq, rng() % 500, static_cast<double>(rng() % 100000) / 100.0, rng() % 50,
                               rng() % 50, now_s, seq);
                break;
            }
        }
    }
};

// pcap (microsecond timestamps, LINKTYPE_ETHERNET) writer.
class pcap_writer {
public:
    bool open(const std::string& path, std::string* error) {
        _f = std::fopen(path.c_str(), "wb");
        if (_f == nullptr) {
            *error = "--pcap " + path + ": " + std::strerror(errno);
            return false;
        }
        std::uint8_t h[24];
        put32(h, 0xa1b2c3d4);
        put16(h + 4, 2);
        put16(h + 6, 4);
        put32(h + 8, 0);
        put32(h + 12, 0);
        put32(h + 16, 65535);
        put32(h + 20, 1);
        return std::fwrite(h, 1, sizeof h, _f) == sizeof h;
    }
    ~pcap_writer() {
        if (_f != nullptr) std::fclose(_f);
    }
    // One Ethernet/IPv4/UDP frame 169.254.0.1:src_port -> 169.254.0.2:dst_port.
    bool write(std::string_view payload, std::uint16_t src_port, std::uint16_t dst_port, std::int64_t ts_us) {
        const std::size_t ip_len = 20 + 8 + payload.size();
        _frame.assign(14 + ip_len, 0);
        std::uint8_t* f = _frame.data();
        static constexpr std::uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
        static constexpr std::uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
        std::memcpy(f, dst_mac, 6);
        std::memcpy(f + 6, src_mac, 6);
        f[12] = 0x08;
        f[13] = 0x00;
        std::uint8_t* ip = f + 14;
        ip[0] = 0x45;
        be16(ip + 2, static_cast<std::uint16_t>(ip_len));
        be16(ip + 4, static_cast<std::uint16_t>(_id++));
        ip[8] = 64;
        ip[9] = 17;
        const std::uint8_t src_ip[4] = {169, 254, 0, 1};
        const std::uint8_t dst_ip[4] = {169, 254, 0, 2};
        std::memcpy(ip + 12, src_ip, 4);
        std::memcpy(ip + 16, dst_ip, 4);
        std::uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(ip[i] << 8 | ip[i + 1]);
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        be16(ip + 10, static_cast<std::uint16_t>(~sum));
        std::uint8_t* udp = ip + 20;
        be16(udp, src_port);
        be16(udp + 2, dst_port);
        be16(udp + 4, static_cast<std::uint16_t>(8 + payload.size()));
        // UDP checksum 0 (optional for IPv4).
        std::memcpy(udp + 8, payload.data(), payload.size());
        std::uint8_t rec[16];
        put32(rec, static_cast<std::uint32_t>(ts_us / 1'000'000));
        put32(rec + 4, static_cast<std::uint32_t>(ts_us % 1'000'000));
        put32(rec + 8, static_cast<std::uint32_t>(_frame.size()));
        put32(rec + 12, static_cast<std::uint32_t>(_frame.size()));
        return std::fwrite(rec, 1, 16, _f) == 16 && std::fwrite(f, 1, _frame.size(), _f) == _frame.size();
    }

private:
    static void put32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }  // native order
    static void put16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }
    static void be16(std::uint8_t* p, std::uint16_t v) {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
    }
    std::FILE* _f = nullptr;
    std::vector<std::uint8_t> _frame;
    std::uint32_t _id = 1;
};

bool resolve(const std::string& target, sockaddr_storage* out, socklen_t* len, std::uint16_t* port,
             std::string* error) {
    const auto colon = target.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        *error = "--target " + target + ": expected host:port";
        return false;
    }
    std::string host = target.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string service = target.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    const int r = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (r != 0 || res == nullptr) {
        *error = "--target " + target + ": " + gai_strerror(r);
        return false;
    }
    std::memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *port = ntohs(res->ai_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_port);
    freeaddrinfo(res);
    return true;
}

}  // namespace

int cmd_gen(const gen_args& a) {
    std::string err;
    if (a.shape != "sensors" && a.shape != "reviews" && a.shape != "users" && a.shape != "orders") {
        std::fprintf(stderr, "sluice gen: --shape %s: expected sensors, reviews, users or orders\n", a.shape.c_str());
        return 2;
    }
    if (a.batch == 0) {
        std::fprintf(stderr, "sluice gen: --batch must be >= 1\n");
        return 2;
    }
    if (a.malformed_ratio < 0 || a.malformed_ratio > 1) {
        std::fprintf(stderr, "sluice gen: --malformed-ratio must be within 0..1\n");
        return 2;
    }
    if (a.count == 0 && a.duration_s <= 0 && a.pcap.empty()) {
        // Unbounded runs are allowed (stop with Ctrl-C).
    }
    sockaddr_storage to{};
    socklen_t to_len = 0;
    std::uint16_t dst_port = 0;
    if (!resolve(a.target, &to, &to_len, &dst_port, &err)) {
        std::fprintf(stderr, "sluice gen: %s\n", err.c_str());
        return 2;
    }
    const std::uint64_t count = a.count != 0 ? a.count : (a.pcap.empty() || a.duration_s > 0 ? 0 : 1'000'000);

    pcap_writer pcap;
    int fd = -1;
    if (!a.pcap.empty()) {
        if (!pcap.open(a.pcap, &err)) {
            std::fprintf(stderr, "sluice gen: %s\n", err.c_str());
            return 2;
        }
    } else {
        fd = ::socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), to_len) != 0) {
            std::fprintf(stderr, "sluice gen: --target %s: %s\n", a.target.c_str(), std::strerror(errno));
            return 2;
        }
        int sndbuf = 8 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    shape_gen gen{a.shape, std::mt19937_64(a.seed)};
    std::mt19937_64 bad_rng(a.seed ^ 0x5bd1e995u);
    std::uniform_real_distribution<double> unit(0.0, 1.0);

    std::vector<std::string> payloads(mmsg_max);
    std::vector<iovec> iov(mmsg_max);
    std::vector<mmsghdr> msgs(mmsg_max);
    std::uint64_t seq = 0, datagrams = 0, malformed = 0, bytes = 0, send_errors = 0;
    const std::int64_t t0 = mono_ns();
    const std::int64_t deadline = a.duration_s > 0 ? t0 + static_cast<std::int64_t>(a.duration_s * 1e9) : 0;
    std::string event;
    bool done = false;
    while (!done && !g_interrupted.load()) {
        // Build up to mmsg_max datagrams.
        std::size_t n = 0;
        const std::int64_t now = mono_ns();
        if (deadline != 0 && now >= deadline) break;
        std::uint64_t allowed = ~std::uint64_t{0};
        if (a.rate > 0) {
            const auto due = static_cast<std::uint64_t>(static_cast<double>(now - t0) * 1e-9 * static_cast<double>(a.rate)) + 1;
            if (due <= seq) {
                const std::int64_t next_ns = t0 + static_cast<std::int64_t>(static_cast<double>(seq) * 1e9 / static_cast<double>(a.rate));
                const std::int64_t sleep_ns = std::min<std::int64_t>(next_ns - now, 1'000'000);
                if (sleep_ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(sleep_ns));
                continue;
            }
            allowed = due - seq;
        }
        const std::int64_t now_s = wall_ms() / 1000;
        while (n < mmsg_max && allowed > 0 && !(count != 0 && seq >= count)) {
            std::string& p = payloads[n];
            p.clear();
            for (std::uint32_t b = 0; b < a.batch && allowed > 0 && !(count != 0 && seq >= count); ++b) {
                event.clear();
                gen.event(event, seq, now_s);
                if (a.malformed_ratio > 0 && unit(bad_rng) < a.malformed_ratio) {
                    // Cut the object short: names its seq first, never valid JSON (an
                    // unterminated string at the end).
                    std::string cut = fmt::format("{{\"seq\":{},", seq);
                    cut.append(event, 1, event.size() / 2);
                    cut += "\"broken";
                    event = std::move(cut);
                    ++malformed;
                }
                if (!p.empty() && p.size() + 1 + event.size() > datagram_bytes_max) break;
                if (!p.empty()) p += '\n';
                p += event;
                ++seq;
                --allowed;
            }
            if (p.empty()) break;
            ++n;
        }
        if (n == 0) break;
        if (fd < 0) {
            const std::int64_t ts_us = wall_ms() * 1000;
            for (std::size_t i = 0; i < n; ++i) {
                if (!pcap.write(payloads[i], static_cast<std::uint16_t>(40000 + datagrams % 1000), dst_port, ts_us)) {
                    std::fprintf(stderr, "sluice gen: --pcap %s: write failed\n", a.pcap.c_str());
                    return 1;
                }
                bytes += payloads[i].size();
                ++datagrams;
            }
        } else {
            for (std::size_t i = 0; i < n; ++i) {
                iov[i] = {payloads[i].data(), payloads[i].size()};
                msgs[i] = mmsghdr{};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            std::size_t sent = 0;
            for (int attempt = 0; sent < n && attempt < 1000; ++attempt) {
                const int r = ::sendmmsg(fd, msgs.data() + sent, static_cast<unsigned>(n - sent), 0);
                if (r > 0) {
                    for (std::size_t i = sent; i < sent + static_cast<std::size_t>(r); ++i) bytes += payloads[i].size();
                    sent += static_cast<std::size_t>(r);
                } else if (r < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)) {
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                } else if (r < 0 && errno == ECONNREFUSED) {
                    ++send_errors;  // nobody listening (ICMP port unreachable): datagram lost
                } else {
                    std::fprintf(stderr, "sluice gen: sendmmsg: %s\n", std::strerror(errno));
                    return 1;
                }
            }
            datagrams += sent;
        }
        if (count != 0 && seq >= count) done = true;
    }
    if (fd >= 0) ::close(fd);
    const double seconds = static_cast<double>(mono_ns() - t0) / 1e9;
    std::printf("{\"events\":%llu,\"datagrams\":%llu,\"first_seq\":0,\"last_seq\":%lld,\"malformed\":%llu,"
                "\"bytes\":%llu,\"seconds\":%.3f,\"events_per_s\":%.0f,\"send_errors\":%llu}\n",
                static_cast<unsigned long long>(seq), static_cast<unsigned long long>(datagrams),
                static_cast<long long>(seq) - 1, static_cast<unsigned long long>(malformed),
                static_cast<unsigned long long>(bytes), seconds,
                seconds > 0 ? static_cast<double>(seq) / seconds : 0.0, static_cast<unsigned long long>(send_errors));
    return 0;
}

}  // namespace sluice::app
