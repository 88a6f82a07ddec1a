// `sluice gen`: load generator. JSON events with a monotonically increasing `seq` (so loss and
// duplication can be proven), sent over kernel UDP sockets with sendmmsg, through DPDK TX
// (--dpdk PROFILE: Ethernet/IPv4/UDP frames built here, destination MAC by ARP or --dst-mac,
// one frame per datagram at MTU 1500), or written into a pcap capture (Ethernet/IPv4/UDP,
// link-local addresses) for DPDK net_pcap replay.
//
// Prints one summary line on stdout at the end:
//   {"events":N,"datagrams":D,"first_seq":0,"last_seq":N-1,"malformed":M,"bytes":B,"seconds":S,
//    "events_per_s":R}

#include "commands.h"

#include <sluice/base/bytes.h>
#include <sluice/base/clock.h>
#include <sluice/net/frame_tx.h>

#include <sluice_config.h>
#if SLUICE_HAVE_DPDK
#include <sluice/net/dpdk_port.h>
#endif

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <span>
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
    // One Ethernet/IPv4/UDP frame 169.254.0.1:src_port -> 169.254.0.2:dst_port (UDP checksum 0,
    // optional for IPv4).
    bool write(std::string_view payload, std::uint16_t src_port, std::uint16_t dst_port, std::int64_t ts_us) {
        net::udp4_endpoints e;
        e.src_mac.bytes = {0x02, 0, 0, 0, 0, 0x01};
        e.dst_mac.bytes = {0x02, 0, 0, 0, 0, 0x02};
        e.src_ip = net::ip_address::v4(169, 254, 0, 1);
        e.dst_ip = net::ip_address::v4(169, 254, 0, 2);
        e.src_port = src_port;
        e.dst_port = dst_port;
        _frame.resize(net::udp4_frame_overhead + payload.size() + 64);
        const std::size_t len = net::build_udp4_frame(
            e, static_cast<std::uint16_t>(_id++), as_bytes(payload),
            mutable_bytes(reinterpret_cast<std::byte*>(_frame.data()), _frame.size()), false);
        if (len == 0) return false;
        _frame.resize(len);
        const std::uint8_t* f = _frame.data();
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
    std::FILE* _f = nullptr;
    std::vector<std::uint8_t> _frame;
    std::uint32_t _id = 1;
};

#if SLUICE_HAVE_DPDK
// --dpdk: frames built here and handed to DPDK TX queue 0. The port's receive side is read only
// while resolving the destination by ARP; the generator does not answer ARP itself (a receiver
// needs nothing from it to take the datagrams).
class dpdk_sender {
public:
    bool open(const gen_args& a, const std::string& host, std::uint16_t dst_port, std::string* error) {
        auto prof = net::load_dpdk_profile(a.dpdk_profile, error);
        if (!prof) {
            *error = "--dpdk " + a.dpdk_profile + ": " + *error;
            return false;
        }
        in_addr src{}, dst{};
        if (inet_pton(AF_INET, a.source.c_str(), &src) != 1) {
            *error = "--source " + a.source + ": not an IPv4 address";
            return false;
        }
        if (inet_pton(AF_INET, host.c_str(), &dst) != 1) {
            *error = "--target " + host + ": --dpdk needs an IPv4 address";
            return false;
        }
        net::dpdk_port_options po;
        po.profile = *prof;
        po.extra_eal_args = a.eal_args;
        po.queues = 1;
        std::memcpy(po.address.bytes.data(), &src, 4);
        po.program_name = "sluice-gen";
        _port = net::dpdk_port::open(po, error);
        if (!_port) return false;
        _ep.src_mac = _port->info().mac;
        _ep.src_ip = po.address;
        std::memcpy(_ep.dst_ip.bytes.data(), &dst, 4);
        _ep.dst_port = dst_port;
        if (!a.dst_mac.empty()) {
            unsigned m[6];
            char extra = 0;
            if (std::sscanf(a.dst_mac.c_str(), "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
                            &m[5], &extra) != 6 ||
                std::any_of(m, m + 6, [](unsigned b) { return b > 0xff; })) {
                *error = "--dst-mac " + a.dst_mac + ": expected aa:bb:cc:dd:ee:ff";
                return false;
            }
            for (int i = 0; i < 6; ++i) _ep.dst_mac.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(m[i]);
        } else {
            auto mac = _port->resolve(0, _ep.dst_ip, 3'000'000'000);
            if (!mac) {
                *error = "--target " + host + ": no ARP reply within 3 s on " + _port->info().name +
                         " (is the receiver up on that link? or give --dst-mac)";
                return false;
            }
            _ep.dst_mac = *mac;
        }
        return true;
    }
    // Sends payloads[0..n); datagrams the TX ring did not take within ~100 ms are counted in
    // `lost`. Returns the bytes of payload sent.
    std::uint64_t send(const std::vector<std::string>& payloads, std::size_t n, std::uint64_t first_datagram,
                       std::uint64_t& sent_datagrams, std::uint64_t& lost) {
        _frames.resize(std::max(_frames.size(), n));
        _views.clear();
        for (std::size_t i = 0; i < n; ++i) {
            auto& f = _frames[i];
            f.resize(net::udp4_frame_overhead + payloads[i].size() + 64);
            _ep.src_port = static_cast<std::uint16_t>(40000 + (first_datagram + i) % 1000);
            const std::size_t len = net::build_udp4_frame(_ep, _ip_id++, as_bytes(payloads[i]), mutable_bytes(f));
            _views.push_back(bytes_view(f.data(), len));
        }
        std::size_t done = 0;
        std::uint64_t bytes = 0;
        for (int attempt = 0; done < n && attempt < 1000; ++attempt) {
            const std::size_t took = _port->transmit(0, std::span<const bytes_view>(_views.data() + done, n - done));
            for (std::size_t i = done; i < done + took; ++i) bytes += payloads[i].size();
            done += took;
            if (done < n) std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        sent_datagrams += done;
        lost += n - done;
        return bytes;
    }
    ~dpdk_sender() {
        if (_port) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the TX ring drain
            _port->close();
        }
    }

private:
    std::unique_ptr<net::dpdk_port> _port;
    net::udp4_endpoints _ep;
    std::vector<std::vector<std::byte>> _frames;
    std::vector<bytes_view> _views;
    std::uint16_t _ip_id = 1;
};
#endif

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
    const bool use_dpdk = !a.dpdk_profile.empty();
#if SLUICE_HAVE_DPDK
    dpdk_sender dpdk;
    if (use_dpdk) {
        const std::string host = a.target.substr(0, a.target.rfind(':'));
        if (!dpdk.open(a, host, dst_port, &err)) {
            std::fprintf(stderr, "sluice gen: %s\n", err.c_str());
            return 1;
        }
    }
#else
    if (use_dpdk) {
        std::fprintf(stderr, "sluice gen: --dpdk: this build has no DPDK\n");
        return 2;
    }
#endif
    // One frame per datagram through DPDK (no IP fragmentation here).
    const std::size_t datagram_max = use_dpdk ? net::udp4_payload_max_mtu1500 : datagram_bytes_max;
    const std::uint64_t count = a.count != 0 ? a.count : (a.pcap.empty() || a.duration_s > 0 ? 0 : 1'000'000);

    pcap_writer pcap;
    int fd = -1;
    if (!a.pcap.empty()) {
        if (!pcap.open(a.pcap, &err)) {
            std::fprintf(stderr, "sluice gen: %s\n", err.c_str());
            return 2;
        }
    } else if (!use_dpdk) {
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
                if (!p.empty() && p.size() + 1 + event.size() > datagram_max) break;
                if (p.empty() && event.size() > datagram_max) {
                    std::fprintf(stderr, "sluice gen: an event of %zu bytes exceeds one datagram (%zu)\n",
                                 event.size(), datagram_max);
                    return 1;
                }
                if (!p.empty()) p += '\n';
                p += event;
                ++seq;
                --allowed;
            }
            if (p.empty()) break;
            ++n;
        }
        if (n == 0) break;
        if (use_dpdk) {
#if SLUICE_HAVE_DPDK
            bytes += dpdk.send(payloads, n, datagrams, datagrams, send_errors);
#endif
        } else if (fd < 0) {
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
