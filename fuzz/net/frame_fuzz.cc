// libFuzzer target: frame decode + IPv4 reassembly + ARP / ICMP responders + the sender's ARP
// reply reader (frame_tx.h: every received frame goes through it while `sluice gen --dpdk`
// resolves its destination).
// Input: byte 0 = flags, then frames as [u16 big-endian length][bytes] until the input ends.
// Every frame is decoded from an exact-size heap copy; fragments go through one reassembler
// (small, so overflow and timeouts happen); replies are built and decoded back.

#include <sluice/net/frame.h>
#include <sluice/net/frame_tx.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

using namespace sluice;
using namespace sluice::net;

namespace {

void check(bool cond) {
    if (!cond) __builtin_trap();
}

const ip_address our_ip = ip_address::v4(169, 254, 0, 1);
const mac_address our_mac{{0x02, 0, 0, 0, 0, 0x01}};

void check_datagram(const udp_datagram& d, const std::byte* lo, const std::byte* hi) {
    check(d.payload.data() >= lo && d.payload.data() + d.payload.size() <= hi);
    volatile std::uint8_t sink = 0;
    for (std::byte b : d.payload) sink = sink ^ static_cast<std::uint8_t>(b);
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t flags = data[0];
    ipv4_reassembler reassembler(reassembler_options{
        .slots = 2, .max_datagram_bytes = 4096, .timeout_ns = 100,
        .decode = {.verify_udp_checksum = (flags & 1) == 0}});
    const decode_options options{.verify_udp_checksum = (flags & 1) == 0};
    std::int64_t now = 0;
    std::size_t pos = 1;
    std::vector<std::byte> out(2048);
    decode_result reused;
    for (int frames = 0; pos < size && frames < 64; ++frames) {
        std::size_t len = size - pos;
        if (size - pos >= 2 && (flags & 2) == 0) {
            len = std::min<std::size_t>((std::size_t{data[pos]} << 8) | data[pos + 1],
                                        size - pos - 2);
            pos += 2;
        }
        std::unique_ptr<std::byte[]> frame(new std::byte[len + 1]);
        std::memcpy(frame.get(), data + pos, len);
        pos += len;
        const bytes_view f(frame.get(), len);
        const std::size_t tailroom = 0;

        const decode_result d = decode_frame(f, tailroom, options);
        // The in-place overload, into a result reused across frames, agrees.
        check(decode_frame(f, tailroom, options, reused) == d.status);
        check(reused.reason == d.reason);
        if (d.status == decode_status::udp)
            check(reused.datagram.payload.data() == d.datagram.payload.data() &&
                  reused.datagram.payload.size() == d.datagram.payload.size() &&
                  reused.datagram.tailroom == d.datagram.tailroom &&
                  reused.datagram.src == d.datagram.src && reused.datagram.dst == d.datagram.dst);
        if (d.status == decode_status::ipv4_fragment)
            check(reused.fragment.ip_payload.data() == d.fragment.ip_payload.data() &&
                  reused.fragment.offset_bytes == d.fragment.offset_bytes);
        // decode_frame's fast path (untagged IPv4/UDP) agrees with the general decoder alone.
        decode_result general;
        check(net::detail::decode_frame_general(f, tailroom, options, general) == d.status);
        check(general.reason == d.reason);
        if (d.status == decode_status::udp)
            check(general.datagram.payload.data() == d.datagram.payload.data() &&
                  general.datagram.payload.size() == d.datagram.payload.size() &&
                  general.datagram.tailroom == d.datagram.tailroom &&
                  general.datagram.src == d.datagram.src && general.datagram.dst == d.datagram.dst &&
                  general.datagram.src_port == d.datagram.src_port &&
                  general.datagram.dst_port == d.datagram.dst_port &&
                  general.datagram.vlan_id == d.datagram.vlan_id);
        switch (d.status) {
            case decode_status::udp: check_datagram(d.datagram, f.data(), f.data() + len); break;
            case decode_status::ipv4_fragment: {
                check(d.fragment.ip_payload.data() >= f.data() &&
                      d.fragment.ip_payload.data() + d.fragment.ip_payload.size() <=
                          f.data() + len);
                now += (flags >> 4) * 10;
                const decode_result r = reassembler.add(d.fragment, now);
                if (r.status == decode_status::udp) {
                    check(r.datagram.payload.size() <= 4096);
                    check(r.datagram.tailroom >= 64);
                    check_datagram(r.datagram, r.datagram.payload.data(),
                                   r.datagram.payload.data() + r.datagram.payload.size());
                } else {
                    check(r.status == decode_status::pending || r.status == decode_status::dropped);
                }
                check(reassembler.in_use() <= 2);
                break;
            }
            case decode_status::dropped: check(d.reason != drop_reason::none); break;
            default: break;
        }
        if ((flags & 4) != 0) (void)reassembler.expire(now + 50);

        const std::size_t cap = (flags & 8) ? 64 : out.size();
        const std::size_t arp = build_arp_reply(f, our_ip, our_mac, std::span(out.data(), cap));
        if (arp != 0) {
            check(arp >= 60 && arp <= cap);
            check(!parse_arp_request(bytes_view(out.data(), arp)).has_value());  // a reply
            // Our own reply announces our MAC to whoever reads it.
            const auto mac = parse_arp_reply(bytes_view(out.data(), arp), our_ip);
            check(mac.has_value() && *mac == our_mac);
        }
        if (const auto mac = parse_arp_reply(f, our_ip)) (void)mac->bytes[5];
        const std::size_t icmp =
            build_icmp_echo_reply(f, our_ip, our_mac, std::span(out.data(), cap));
        if (icmp != 0) {
            check(icmp >= 60 && icmp <= cap);
            const decode_result back = decode_frame(bytes_view(out.data(), icmp));
            check(back.status == decode_status::not_for_us);  // valid IPv4 carrying ICMP
        }
    }
    const auto& s = reassembler.stats();
    check(s.completed <= s.fragments);
    return 0;
}
