#pragma once
// Test/bench helper: builds Ethernet frames (IPv4/IPv6 UDP with checksums, VLAN tags, IPv4
// fragments, ARP requests, ICMP echo requests, TCP) and writes/reads classic pcap files
// (microsecond timestamps, LINKTYPE_ETHERNET). Used by tests/net/dpdk_test.cc and
// perf/dpdk/dpdk_bench.cc. Not production code: allocates freely.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::testing {

using frame = std::vector<std::uint8_t>;

struct ipv4 {
    std::uint8_t a, b, c, d;
};

inline void put16(frame& f, std::uint16_t v) {
    f.push_back(static_cast<std::uint8_t>(v >> 8));
    f.push_back(static_cast<std::uint8_t>(v));
}
inline void set16(frame& f, std::size_t at, std::uint16_t v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v);
}
inline std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2) s += (std::uint32_t{p[i]} << 8) | p[i + 1];
    if (n & 1) s += std::uint32_t{p[n - 1]} << 8;
    return s;
}
inline std::uint16_t fold(std::uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}

inline const std::uint8_t dst_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline const std::uint8_t src_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

// Ethernet header with optional VLAN tags (outer first; 0 = none).
inline frame eth(std::uint16_t type, std::uint16_t vlan = 0, std::uint16_t outer_vlan = 0,
                 const std::uint8_t* dmac = dst_mac) {
    frame f(dmac, dmac + 6);
    f.insert(f.end(), src_mac, src_mac + 6);
    if (outer_vlan) {
        put16(f, 0x88a8);
        put16(f, outer_vlan);
    }
    if (vlan) {
        put16(f, 0x8100);
        put16(f, vlan);
    }
    put16(f, type);
    return f;
}

// A UDP header + payload with the IPv4 pseudo-header checksum (bad_checksum: corrupt it).
inline frame udp_segment_v4(ipv4 src, ipv4 dst, std::uint16_t sport, std::uint16_t dport,
                            std::string_view payload, bool bad_checksum = false) {
    frame u;
    put16(u, sport);
    put16(u, dport);
    put16(u, static_cast<std::uint16_t>(8 + payload.size()));
    put16(u, 0);
    u.insert(u.end(), payload.begin(), payload.end());
    const std::uint8_t ph[12] = {src.a, src.b, src.c, src.d, dst.a, dst.b, dst.c, dst.d, 0, 17,
                                 static_cast<std::uint8_t>(u.size() >> 8),
                                 static_cast<std::uint8_t>(u.size())};
    std::uint16_t c = fold(sum16(u.data(), u.size(), sum16(ph, 12)));
    if (c == 0) c = 0xffff;
    if (bad_checksum) c = static_cast<std::uint16_t>(c ^ 0x5a5a);
    set16(u, 6, c);
    return u;
}

// Appends an IPv4 header (+ body) to `f`. frag_word = flags (MF = 0x2000) | offset/8.
inline void ipv4_packet(frame& f, ipv4 src, ipv4 dst, std::uint8_t proto, const frame& body,
                        std::uint16_t id = 1, std::uint16_t frag_word = 0,
                        bool bad_header_checksum = false) {
    const std::size_t at = f.size();
    f.push_back(0x45);
    f.push_back(0);
    put16(f, static_cast<std::uint16_t>(20 + body.size()));
    put16(f, id);
    put16(f, frag_word);
    f.push_back(64);
    f.push_back(proto);
    put16(f, 0);
    f.insert(f.end(), {src.a, src.b, src.c, src.d, dst.a, dst.b, dst.c, dst.d});
    std::uint16_t c = fold(sum16(f.data() + at, 20));
    if (bad_header_checksum) c = static_cast<std::uint16_t>(c ^ 0x0101);
    set16(f, at + 10, c);
    f.insert(f.end(), body.begin(), body.end());
}

inline frame udp4(ipv4 src, ipv4 dst, std::uint16_t sport, std::uint16_t dport,
                  std::string_view payload, std::uint16_t vlan = 0, std::uint16_t outer = 0,
                  bool bad_udp_checksum = false, bool bad_ip_checksum = false) {
    frame f = eth(0x0800, vlan, outer);
    ipv4_packet(f, src, dst, 17, udp_segment_v4(src, dst, sport, dport, payload, bad_udp_checksum),
                1, 0x4000 /* DF */, bad_ip_checksum);
    while (f.size() < 60) f.push_back(0);
    return f;
}

// IPv4 fragments of one UDP datagram, each carrying at most `chunk` bytes (multiple of 8).
inline std::vector<frame> udp4_fragments(ipv4 src, ipv4 dst, std::uint16_t sport,
                                         std::uint16_t dport, std::string_view payload,
                                         std::uint16_t id, std::size_t chunk = 1200) {
    const frame seg = udp_segment_v4(src, dst, sport, dport, payload);
    std::vector<frame> out;
    for (std::size_t off = 0; off < seg.size(); off += chunk) {
        const std::size_t n = std::min(chunk, seg.size() - off);
        const bool more = off + n < seg.size();
        frame body(seg.begin() + static_cast<std::ptrdiff_t>(off),
                   seg.begin() + static_cast<std::ptrdiff_t>(off + n));
        frame f = eth(0x0800);
        ipv4_packet(f, src, dst, 17, body, id,
                    static_cast<std::uint16_t>((more ? 0x2000 : 0) | (off / 8)));
        while (f.size() < 60) f.push_back(0);
        out.push_back(std::move(f));
    }
    return out;
}

// IPv6 UDP (checksum mandatory). Addresses fd00::<s> -> fd00::<d>.
inline frame udp6(std::uint8_t s, std::uint8_t d, std::uint16_t sport, std::uint16_t dport,
                  std::string_view payload) {
    std::uint8_t sa[16] = {0xfd}, da[16] = {0xfd};
    sa[15] = s;
    da[15] = d;
    frame u;
    put16(u, sport);
    put16(u, dport);
    put16(u, static_cast<std::uint16_t>(8 + payload.size()));
    put16(u, 0);
    u.insert(u.end(), payload.begin(), payload.end());
    std::uint32_t ps = sum16(sa, 16, sum16(da, 16));
    ps += static_cast<std::uint32_t>(u.size()) + 17;
    std::uint16_t c = fold(sum16(u.data(), u.size(), ps));
    if (c == 0) c = 0xffff;
    set16(u, 6, c);
    frame f = eth(0x86dd);
    f.insert(f.end(), {0x60, 0, 0, 0});
    put16(f, static_cast<std::uint16_t>(u.size()));
    f.push_back(17);
    f.push_back(64);
    f.insert(f.end(), sa, sa + 16);
    f.insert(f.end(), da, da + 16);
    f.insert(f.end(), u.begin(), u.end());
    return f;
}

inline frame tcp4(ipv4 src, ipv4 dst, std::uint16_t dport) {
    frame body(20, 0);
    body[2] = static_cast<std::uint8_t>(dport >> 8);
    body[3] = static_cast<std::uint8_t>(dport);
    body[12] = 0x50;
    body[13] = 0x02;  // SYN
    frame f = eth(0x0800);
    ipv4_packet(f, src, dst, 6, body);
    while (f.size() < 60) f.push_back(0);
    return f;
}

inline frame arp_request(ipv4 sender, ipv4 target) {
    const std::uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    frame f = eth(0x0806, 0, 0, bcast);
    put16(f, 1);
    put16(f, 0x0800);
    f.push_back(6);
    f.push_back(4);
    put16(f, 1);
    f.insert(f.end(), src_mac, src_mac + 6);
    f.insert(f.end(), {sender.a, sender.b, sender.c, sender.d});
    f.insert(f.end(), 6, 0);
    f.insert(f.end(), {target.a, target.b, target.c, target.d});
    while (f.size() < 60) f.push_back(0);
    return f;
}

inline frame icmp_echo(ipv4 src, ipv4 dst, std::uint16_t id, std::uint16_t seq,
                       std::string_view data) {
    frame body;
    body.push_back(8);
    body.push_back(0);
    put16(body, 0);
    put16(body, id);
    put16(body, seq);
    body.insert(body.end(), data.begin(), data.end());
    set16(body, 2, fold(sum16(body.data(), body.size())));
    frame f = eth(0x0800);
    ipv4_packet(f, src, dst, 1, body);
    while (f.size() < 60) f.push_back(0);
    return f;
}

// Classic pcap (magic a1b2c3d4, v2.4, LINKTYPE_ETHERNET).
inline bool write_pcap(const std::string& path, const std::vector<frame>& frames) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const std::uint32_t gh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};
    std::fwrite(gh, sizeof gh, 1, f);  // little-endian host: magic reads back as a1b2c3d4
    std::uint32_t usec = 0;
    for (const auto& fr : frames) {
        const std::uint32_t rh[4] = {1700000000u, usec++ % 1000000,
                                     static_cast<std::uint32_t>(fr.size()),
                                     static_cast<std::uint32_t>(fr.size())};
        std::fwrite(rh, sizeof rh, 1, f);
        std::fwrite(fr.data(), 1, fr.size(), f);
    }
    return std::fclose(f) == 0;
}

inline std::vector<frame> read_pcap(const std::string& path) {
    std::vector<frame> out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return out;
    std::uint32_t gh[6];
    if (std::fread(gh, sizeof gh, 1, f) == 1) {
        std::uint32_t rh[4];
        for (int guard = 0; guard < 1000000 && std::fread(rh, sizeof rh, 1, f) == 1; ++guard) {
            if (rh[2] > 262144) break;
            frame fr(rh[2]);
            if (std::fread(fr.data(), 1, fr.size(), f) != fr.size()) break;
            out.push_back(std::move(fr));
        }
    }
    std::fclose(f);
    return out;
}

}  // namespace sluice::testing
