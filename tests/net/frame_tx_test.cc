// Sender-side frames (frame_tx.h): every built frame decodes back through decode_frame with its
// checksums verified; ARP request/reply round trips.

#include <sluice/net/frame.h>
#include <sluice/net/frame_tx.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::net;

namespace {

udp4_endpoints endpoints() {
    udp4_endpoints e;
    e.src_mac.bytes = {0x02, 0, 0, 0, 0, 0x0b};
    e.dst_mac.bytes = {0x02, 0, 0, 0, 0, 0x0a};
    e.src_ip = ip_address::v4(169, 254, 7, 2);
    e.dst_ip = ip_address::v4(169, 254, 7, 1);
    e.src_port = 40123;
    e.dst_port = 5140;
    return e;
}

}  // namespace

TEST(frame_tx, udp4_frames_decode_with_checksums_verified) {
    const auto e = endpoints();
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{18},
                          std::size_t{333}, udp4_payload_max_mtu1500}) {
        std::string payload(n, 'x');
        for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
        std::vector<std::byte> out(udp4_frame_overhead + n + 64);
        const std::size_t len = build_udp4_frame(e, 77, as_bytes(payload), mutable_bytes(out));
        ASSERT_EQ(len, std::max<std::size_t>(60, udp4_frame_overhead + n)) << n;
        const auto d = decode_frame(bytes_view(out.data(), len), 0, decode_options{true});
        ASSERT_EQ(d.status, decode_status::udp) << n << " reason " << static_cast<int>(d.reason);
        EXPECT_EQ(d.datagram.src, e.src_ip);
        EXPECT_EQ(d.datagram.dst, e.dst_ip);
        EXPECT_EQ(d.datagram.src_port, e.src_port);
        EXPECT_EQ(d.datagram.dst_port, e.dst_port);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.datagram.payload.data()),
                              d.datagram.payload.size()),
                  payload);
        EXPECT_EQ(std::memcmp(out.data(), e.dst_mac.bytes.data(), 6), 0);
        EXPECT_EQ(std::memcmp(out.data() + 6, e.src_mac.bytes.data(), 6), 0);
        EXPECT_EQ(load_be<std::uint16_t>(out.data() + 14 + 4), 77);  // IP id
        EXPECT_NE(load_be<std::uint16_t>(out.data() + 14 + 20 + 6), 0);  // UDP checksum present
        // One flipped payload bit is caught by the checksum.
        if (n > 0) {
            out[udp4_frame_overhead] ^= std::byte{0x01};
            EXPECT_EQ(decode_frame(bytes_view(out.data(), len), 0, decode_options{true}).reason,
                      drop_reason::bad_checksum);
        }
    }
}

TEST(frame_tx, udp4_without_checksum_and_bad_arguments) {
    auto e = endpoints();
    const std::string payload = R"({"seq":1})";
    std::vector<std::byte> out(128);
    const std::size_t len = build_udp4_frame(e, 1, as_bytes(payload), mutable_bytes(out), false);
    ASSERT_EQ(len, 60u);
    EXPECT_EQ(load_be<std::uint16_t>(out.data() + 14 + 20 + 6), 0);
    EXPECT_EQ(decode_frame(bytes_view(out.data(), len)).status, decode_status::udp);
    // Too small an output buffer, IPv6 addresses, oversize payload: nothing written.
    EXPECT_EQ(build_udp4_frame(e, 1, as_bytes(payload), mutable_bytes(out.data(), 59)), 0u);
    std::vector<std::byte> big(70000);
    EXPECT_EQ(build_udp4_frame(e, 1, bytes_view(big.data(), 65535 - 27), mutable_bytes(big)), 0u);
    e.dst_ip.v6 = true;
    EXPECT_EQ(build_udp4_frame(e, 1, as_bytes(payload), mutable_bytes(out)), 0u);
}

TEST(frame_tx, arp_request_is_answered_and_the_reply_parsed) {
    const auto e = endpoints();
    std::array<std::byte, 64> req{};
    const std::size_t n = build_arp_request(e.src_mac, e.src_ip, e.dst_ip, mutable_bytes(req));
    ASSERT_EQ(n, 60u);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(req[static_cast<std::size_t>(i)], std::byte{0xff});
    const auto parsed = parse_arp_request(bytes_view(req.data(), n));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->sender_mac, e.src_mac);
    EXPECT_EQ(parsed->sender_ip, e.src_ip);
    EXPECT_EQ(parsed->target_ip, e.dst_ip);
    // The receiver side answers it; the sender reads its MAC from the reply.
    std::array<std::byte, 64> reply{};
    const std::size_t r = build_arp_reply(bytes_view(req.data(), n), e.dst_ip, e.dst_mac, mutable_bytes(reply));
    ASSERT_GT(r, 0u);
    const auto mac = parse_arp_reply(bytes_view(reply.data(), r), e.dst_ip);
    ASSERT_TRUE(mac);
    EXPECT_EQ(*mac, e.dst_mac);
    // Not from the address asked, a request rather than a reply, truncated: no answer.
    EXPECT_FALSE(parse_arp_reply(bytes_view(reply.data(), r), ip_address::v4(169, 254, 7, 9)));
    EXPECT_FALSE(parse_arp_reply(bytes_view(req.data(), n), e.src_ip));
    EXPECT_FALSE(parse_arp_reply(bytes_view(reply.data(), 30), e.dst_ip));
    EXPECT_EQ(build_arp_request(e.src_mac, e.src_ip, e.dst_ip, mutable_bytes(req.data(), 59)), 0u);
}
