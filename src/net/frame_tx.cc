// Sender-side frames: see include/sluice/net/frame_tx.h.

#include <sluice/net/frame_tx.h>

#include <algorithm>
#include <cstring>

namespace sluice::net {

namespace {

constexpr std::size_t min_frame = 60;  // Ethernet minimum without FCS
constexpr std::size_t arp_ipv4 = 28;

void put_mac(std::byte* p, const mac_address& m) noexcept { std::memcpy(p, m.bytes.data(), 6); }
void put_v4(std::byte* p, const ip_address& a) noexcept { std::memcpy(p, a.bytes.data(), 4); }

}  // namespace

std::size_t build_udp4_frame(const udp4_endpoints& e, std::uint16_t ip_id, bytes_view payload,
                             mutable_bytes out, bool udp_checksum) noexcept {
    if (e.src_ip.v6 || e.dst_ip.v6 || payload.size() > 65535 - 20 - 8) return 0;
    const std::size_t ip_len = 20 + 8 + payload.size();
    const std::size_t len = std::max(min_frame, 14 + ip_len);
    if (out.size() < len) return 0;
    std::byte* f = out.data();
    std::memset(f, 0, 14 + 28);
    put_mac(f, e.dst_mac);
    put_mac(f + 6, e.src_mac);
    store_be<std::uint16_t>(f + 12, ethertype_ipv4);
    std::byte* ip = f + 14;
    ip[0] = std::byte{0x45};
    store_be<std::uint16_t>(ip + 2, static_cast<std::uint16_t>(ip_len));
    store_be<std::uint16_t>(ip + 4, ip_id);
    ip[8] = std::byte{64};
    ip[9] = std::byte{17};
    put_v4(ip + 12, e.src_ip);
    put_v4(ip + 16, e.dst_ip);
    store_be<std::uint16_t>(ip + 10, static_cast<std::uint16_t>(~ones_complement_sum(bytes_view(ip, 20)) & 0xffff));
    std::byte* udp = ip + 20;
    store_be<std::uint16_t>(udp, e.src_port);
    store_be<std::uint16_t>(udp + 2, e.dst_port);
    store_be<std::uint16_t>(udp + 4, static_cast<std::uint16_t>(8 + payload.size()));
    if (!payload.empty()) std::memcpy(udp + 8, payload.data(), payload.size());
    if (14 + ip_len < len) std::memset(f + 14 + ip_len, 0, len - 14 - ip_len);
    if (udp_checksum) {
        // Pseudo-header (addresses, protocol, UDP length) + UDP header + payload (RFC 768); a
        // computed 0 goes out as 0xffff, since 0 means "no checksum".
        std::byte pseudo[12];
        put_v4(pseudo, e.src_ip);
        put_v4(pseudo + 4, e.dst_ip);
        pseudo[8] = std::byte{0};
        pseudo[9] = std::byte{17};
        store_be<std::uint16_t>(pseudo + 10, static_cast<std::uint16_t>(8 + payload.size()));
        const std::uint16_t s =
            ones_complement_sum(bytes_view(udp, 8 + payload.size()), ones_complement_sum(bytes_view(pseudo, 12)));
        const std::uint16_t c = static_cast<std::uint16_t>(~s & 0xffff);
        store_be<std::uint16_t>(udp + 6, c == 0 ? 0xffff : c);
    }
    return len;
}

std::size_t build_arp_request(const mac_address& our_mac, const ip_address& our_ip,
                              const ip_address& target_ip, mutable_bytes out) noexcept {
    if (our_ip.v6 || target_ip.v6 || out.size() < min_frame) return 0;
    std::byte* f = out.data();
    std::memset(f, 0, min_frame);
    std::memset(f, 0xff, 6);  // broadcast
    put_mac(f + 6, our_mac);
    store_be<std::uint16_t>(f + 12, ethertype_arp);
    std::byte* a = f + 14;
    store_be<std::uint16_t>(a, 1);  // Ethernet
    store_be<std::uint16_t>(a + 2, ethertype_ipv4);
    a[4] = std::byte{6};
    a[5] = std::byte{4};
    store_be<std::uint16_t>(a + 6, 1);  // request
    put_mac(a + 8, our_mac);
    put_v4(a + 14, our_ip);
    put_v4(a + 24, target_ip);  // target hardware address stays zero
    return min_frame;
}

std::optional<mac_address> parse_arp_reply(bytes_view frame, const ip_address& from_ip) noexcept {
    if (from_ip.v6 || frame.size() < 14) return std::nullopt;
    std::size_t off = 12;
    std::uint16_t type = load_be<std::uint16_t>(frame.data() + off);
    for (std::size_t tags = 0; (type == ethertype_vlan || type == ethertype_qinq) && tags < max_vlan_tags; ++tags) {
        off += 4;
        if (frame.size() < off + 2) return std::nullopt;
        type = load_be<std::uint16_t>(frame.data() + off);
    }
    off += 2;
    if (type != ethertype_arp || frame.size() < off + arp_ipv4) return std::nullopt;
    const std::byte* a = frame.data() + off;
    if (load_be<std::uint16_t>(a) != 1 || load_be<std::uint16_t>(a + 2) != ethertype_ipv4 ||
        a[4] != std::byte{6} || a[5] != std::byte{4} || load_be<std::uint16_t>(a + 6) != 2)
        return std::nullopt;
    if (std::memcmp(a + 14, from_ip.bytes.data(), 4) != 0) return std::nullopt;
    mac_address m;
    std::memcpy(m.bytes.data(), a + 8, 6);
    return m;
}

}  // namespace sluice::net
