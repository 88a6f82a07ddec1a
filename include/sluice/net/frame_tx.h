#pragma once
// Frames a sender builds (sluice gen over DPDK, and its pcap captures): Ethernet II / IPv4 / UDP
// datagrams and ARP requests, plus reading the ARP reply that answers one. Byte spans in, byte
// spans out, no backend types, no allocation.

#include <sluice/base/bytes.h>
#include <sluice/net/frame.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace sluice::net {

inline constexpr std::size_t udp4_frame_overhead = 14 + 20 + 8;  // Ethernet + IPv4 + UDP
// Largest UDP payload of one unfragmented frame at a 1500-byte IP MTU.
inline constexpr std::size_t udp4_payload_max_mtu1500 = 1500 - 20 - 8;

struct udp4_endpoints {
    mac_address src_mac, dst_mac;
    ip_address src_ip, dst_ip;  // IPv4
    std::uint16_t src_port = 0, dst_port = 0;
};

// Writes an Ethernet/IPv4/UDP frame carrying `payload` into `out` (IPv4 header checksum, DF
// clear, TTL 64, identification `ip_id`; UDP checksum computed unless `udp_checksum` is false,
// then 0 as IPv4 allows). Frames shorter than 60 bytes are zero-padded. Returns the frame length,
// or 0 if `out` is too small, an address is not IPv4, or the datagram exceeds 65535 bytes.
[[nodiscard]] std::size_t build_udp4_frame(const udp4_endpoints& e, std::uint16_t ip_id,
                                           bytes_view payload, mutable_bytes out,
                                           bool udp_checksum = true) noexcept;

// Writes a broadcast ARP request "who has target_ip? tell our_ip" (60 bytes) into `out`;
// returns its length, or 0 if out is too small or an address is not IPv4.
[[nodiscard]] std::size_t build_arp_request(const mac_address& our_mac, const ip_address& our_ip,
                                            const ip_address& target_ip, mutable_bytes out) noexcept;

// The hardware address `from_ip` announces if `frame` is an ARP reply from it (IPv4 over
// Ethernet, optionally VLAN-tagged), else nullopt.
[[nodiscard]] std::optional<mac_address> parse_arp_reply(bytes_view frame,
                                                         const ip_address& from_ip) noexcept;

}  // namespace sluice::net
