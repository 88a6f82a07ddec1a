#include <sluice/net/frame.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::net;

namespace {

using bytes = std::vector<std::uint8_t>;

// Independent checksum for the tests (RFC 1071, plain loop).
std::uint16_t csum(const bytes& b, std::uint32_t sum = 0) {
    for (std::size_t i = 0; i < b.size(); i += 2) {
        std::uint32_t w = std::uint32_t{b[i]} << 8;
        if (i + 1 < b.size()) w |= b[i + 1];
        sum += w;
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

void put16(bytes& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void app16(bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void append(bytes& b, const bytes& x) { b.insert(b.end(), x.begin(), x.end()); }

const bytes src4 = {10, 0, 0, 1};
const bytes dst4 = {10, 0, 0, 2};
const bytes src6 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const bytes dst6 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
const mac_address our_mac{{0x02, 0, 0, 0, 0, 0x01}};
const mac_address peer_mac{{0x02, 0, 0, 0, 0, 0x02}};

bytes eth(std::uint16_t type, std::vector<std::pair<std::uint16_t, std::uint16_t>> tags = {},
          const mac_address& dst = our_mac, const mac_address& src = peer_mac) {
    bytes b(dst.bytes.begin(), dst.bytes.end());
    b.insert(b.end(), src.bytes.begin(), src.bytes.end());
    for (auto [tpid, tci] : tags) {
        app16(b, tpid);
        app16(b, tci);
    }
    app16(b, type);
    return b;
}

bytes udp(const bytes& payload, const bytes& s, const bytes& d, bool with_checksum = true,
          std::uint16_t sport = 40000, std::uint16_t dport = 5140) {
    bytes u;
    app16(u, sport);
    app16(u, dport);
    app16(u, static_cast<std::uint16_t>(8 + payload.size()));
    app16(u, 0);
    append(u, payload);
    if (with_checksum) {
        bytes pseudo = s;
        append(pseudo, d);
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < pseudo.size(); i += 2) sum += (pseudo[i] << 8) | pseudo[i + 1];
        sum += 17 + static_cast<std::uint32_t>(u.size());
        std::uint16_t c = csum(u, sum);
        if (c == 0) c = 0xffff;
        put16(u, 6, c);
    }
    return u;
}

bytes ipv4(const bytes& payload, std::uint8_t proto = 17, std::uint16_t id = 1,
           std::uint16_t frag = 0, const bytes& options = {}, const bytes& s = src4,
           const bytes& d = dst4) {
    bytes h = {static_cast<std::uint8_t>(0x40 | ((20 + options.size()) / 4)), 0};
    app16(h, static_cast<std::uint16_t>(20 + options.size() + payload.size()));
    app16(h, id);
    app16(h, frag);
    h.push_back(64);
    h.push_back(proto);
    app16(h, 0);
    append(h, s);
    append(h, d);
    append(h, options);
    put16(h, 10, csum(h));
    append(h, payload);
    return h;
}

bytes ipv6(const bytes& payload, std::uint8_t next = 17) {
    bytes h = {0x60, 0, 0, 0};
    app16(h, static_cast<std::uint16_t>(payload.size()));
    h.push_back(next);
    h.push_back(64);
    append(h, src6);
    append(h, dst6);
    append(h, payload);
    return h;
}

bytes ext_header(std::uint8_t next, std::size_t units = 0) {
    bytes e(8 * (units + 1), 0);
    e[0] = next;
    e[1] = static_cast<std::uint8_t>(units);
    return e;
}

bytes text(const std::string& s) { return bytes(s.begin(), s.end()); }

bytes frame4(const bytes& payload, std::vector<std::pair<std::uint16_t, std::uint16_t>> tags = {},
             const bytes& options = {}) {
    bytes f = eth(ethertype_ipv4, std::move(tags));
    append(f, ipv4(udp(payload, src4, dst4), 17, 1, 0, options));
    return f;
}

// Decodes a copy kept alive in a small ring, so results of dec(temporary) stay readable.
decode_result dec(const bytes& frame, std::size_t tailroom = 0, decode_options o = {}) {
    static std::array<bytes, 8> keep;
    static std::size_t next = 0;
    bytes& f = keep[next++ % keep.size()];
    f = frame;
    return decode_frame(bytes_view(reinterpret_cast<const std::byte*>(f.data()), f.size()),
                        tailroom, o);
}

bytes_view view(const bytes& b) {
    return bytes_view(reinterpret_cast<const std::byte*>(b.data()), b.size());
}

std::string str(bytes_view b) { return std::string(as_chars(b)); }

const std::string json = R"({"sensor_id":42,"reading":13.05})";

// Every field of two decoded datagrams equal (the payload as the same span), or which is not.
::testing::AssertionResult same_datagram(const udp_datagram& a, const udp_datagram& b) {
    const char* differs = a.src != b.src                         ? "src"
                          : a.dst != b.dst                       ? "dst"
                          : a.src_port != b.src_port             ? "src_port"
                          : a.dst_port != b.dst_port             ? "dst_port"
                          : a.payload.data() != b.payload.data() ? "payload.data()"
                          : a.payload.size() != b.payload.size() ? "payload.size()"
                          : a.tailroom != b.tailroom             ? "tailroom"
                          : a.vlan_id != b.vlan_id               ? "vlan_id"
                                                                 : nullptr;
    if (differs == nullptr) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "datagrams differ in " << differs;
}

}  // namespace

TEST(frame_decode, ipv4_udp) {
    const bytes f = frame4(text(json));
    const auto d = dec(f, 128);
    ASSERT_EQ(d.status, decode_status::udp) << to_string(d.reason);
    EXPECT_EQ(d.datagram.src, ip_address::v4(10, 0, 0, 1));
    EXPECT_EQ(d.datagram.dst, ip_address::v4(10, 0, 0, 2));
    EXPECT_FALSE(d.datagram.src.v6);
    EXPECT_EQ(d.datagram.src_port, 40000);
    EXPECT_EQ(d.datagram.dst_port, 5140);
    EXPECT_EQ(str(d.datagram.payload), json);
    EXPECT_EQ(d.datagram.tailroom, 128u);
    EXPECT_EQ(d.datagram.vlan_id, 0);
}

TEST(frame_decode, short_frame_padding_is_tailroom) {
    bytes f = frame4(text("{}"));
    ASSERT_LT(f.size(), 60u);
    const std::size_t pad = 60 - f.size();
    f.resize(60, 0);
    const auto d = dec(f, 10);
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(str(d.datagram.payload), "{}");
    EXPECT_EQ(d.datagram.tailroom, pad + 10);
}

TEST(frame_decode, vlan_and_qinq) {
    auto d = dec(frame4(text(json), {{ethertype_vlan, 0x2064}}));
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(d.datagram.vlan_id, 100);
    EXPECT_EQ(str(d.datagram.payload), json);
    d = dec(frame4(text(json), {{ethertype_qinq, 10}, {ethertype_vlan, 200}}));
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(d.datagram.vlan_id, 200);
    d = dec(frame4(text(json), {{ethertype_vlan, 10}, {ethertype_vlan, 200}}));
    ASSERT_EQ(d.status, decode_status::udp);
    d = dec(frame4(text(json), {{ethertype_qinq, 1}, {ethertype_vlan, 2}, {ethertype_vlan, 3}}));
    EXPECT_EQ(d.status, decode_status::dropped);
    EXPECT_EQ(d.reason, drop_reason::too_many_vlan_tags);
}

TEST(frame_decode, ipv4_options) {
    for (std::size_t words = 1; words <= 10; ++words) {
        bytes opts(words * 4, 1);  // NOP options
        const auto d = dec(frame4(text(json), {}, opts));
        ASSERT_EQ(d.status, decode_status::udp) << words;
        EXPECT_EQ(str(d.datagram.payload), json);
    }
}

TEST(frame_decode, checksums) {
    bytes f = frame4(text(json));
    bytes bad_ip = f;
    bad_ip[14 + 10] ^= 0x01;
    EXPECT_EQ(dec(bad_ip).reason, drop_reason::bad_checksum);
    bytes bad_udp = f;
    bad_udp.back() ^= 0x01;  // payload byte
    EXPECT_EQ(dec(bad_udp).reason, drop_reason::bad_checksum);
    EXPECT_EQ(dec(bad_udp, 0, {.verify_udp_checksum = false}).status, decode_status::udp);
    // A NIC-verified IPv4 header is not checked again.
    EXPECT_EQ(dec(bad_ip, 0, {.verify_ipv4_checksum = false}).status, decode_status::udp);
    EXPECT_EQ(dec(bad_ip, 0, {.verify_udp_checksum = false}).reason, drop_reason::bad_checksum);
    // IPv4 UDP checksum 0 = not computed: accepted.
    bytes no_csum = eth(ethertype_ipv4);
    append(no_csum, ipv4(udp(text(json), src4, dst4, false)));
    EXPECT_EQ(dec(no_csum).status, decode_status::udp);
    // IPv6 requires it.
    bytes v6 = eth(ethertype_ipv6);
    append(v6, ipv6(udp(text(json), src6, dst6, false)));
    EXPECT_EQ(dec(v6).reason, drop_reason::bad_checksum);
    EXPECT_EQ(dec(v6, 0, {.verify_udp_checksum = false}).status, decode_status::udp);
}

TEST(frame_decode, truncation_at_every_length) {
    std::vector<bytes> frames;
    frames.push_back(frame4(text(json)));
    frames.push_back(frame4(text(json), {{ethertype_qinq, 1}, {ethertype_vlan, 2}}, bytes(8, 1)));
    {
        bytes f = eth(ethertype_ipv6, {{ethertype_vlan, 5}});
        bytes inner = ext_header(60, 1);
        append(inner, ext_header(17));
        append(inner, udp(text(json), src6, dst6));
        append(f, ipv6(inner, 0));
        frames.push_back(f);
    }
    for (const bytes& full : frames) {
        ASSERT_EQ(dec(full).status, decode_status::udp);
        for (std::size_t n = 0; n < full.size(); ++n) {
            const bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            const auto d = dec(cut);
            EXPECT_EQ(d.status, decode_status::dropped) << n;
            EXPECT_EQ(d.reason, drop_reason::truncated) << n;
        }
    }
}

TEST(frame_decode, other_protocols_and_bad_headers) {
    bytes other = eth(0x88cc);
    other.resize(60, 0);
    EXPECT_EQ(dec(other).reason, drop_reason::not_ip);
    bytes arp = eth(ethertype_arp);
    arp.resize(60, 0);
    EXPECT_EQ(dec(arp).status, decode_status::not_for_us);
    bytes icmp = eth(ethertype_ipv4);
    append(icmp, ipv4(bytes(8, 0), 1));
    EXPECT_EQ(dec(icmp).status, decode_status::not_for_us);
    bytes tcp = eth(ethertype_ipv4);
    append(tcp, ipv4(bytes(20, 0), 6));
    EXPECT_EQ(dec(tcp).reason, drop_reason::not_udp);

    bytes f = frame4(text(json));
    bytes v = f;
    v[14] = 0x55;  // version 5
    EXPECT_EQ(dec(v).reason, drop_reason::bad_ip_header);
    v = f;
    v[14] = 0x44;  // IHL 4
    EXPECT_EQ(dec(v).reason, drop_reason::bad_ip_header);
    v = f;
    put16(v, 16, 10);  // total length < IHL
    EXPECT_EQ(dec(v).reason, drop_reason::bad_ip_header);
    v = f;
    put16(v, 16, static_cast<std::uint16_t>(v.size()));  // total length beyond the frame
    EXPECT_EQ(dec(v).reason, drop_reason::truncated);

    // UDP length inconsistent with the IP payload.
    bytes u = udp(text(json), src4, dst4, false);
    put16(u, 4, static_cast<std::uint16_t>(u.size() + 1));
    bytes g = eth(ethertype_ipv4);
    append(g, ipv4(u));
    EXPECT_EQ(dec(g).reason, drop_reason::bad_udp_header);
    put16(u, 4, 7);
    g = eth(ethertype_ipv4);
    append(g, ipv4(u));
    EXPECT_EQ(dec(g).reason, drop_reason::bad_udp_header);
    // UDP length shorter than the IP payload: the rest is ignored, counted as tailroom.
    u = udp(text(json), src4, dst4, false);
    u.push_back('x');
    g = eth(ethertype_ipv4);
    append(g, ipv4(u));
    const auto d = dec(g);
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(str(d.datagram.payload), json);
    EXPECT_EQ(d.datagram.tailroom, 1u);
}

TEST(frame_decode, ipv6) {
    bytes f = eth(ethertype_ipv6);
    append(f, ipv6(udp(text(json), src6, dst6)));
    auto d = dec(f);
    ASSERT_EQ(d.status, decode_status::udp) << to_string(d.reason);
    EXPECT_TRUE(d.datagram.src.v6);
    EXPECT_EQ(d.datagram.src.bytes[15], 1);
    EXPECT_EQ(d.datagram.dst.bytes[15], 2);
    EXPECT_EQ(str(d.datagram.payload), json);

    // Hop-by-hop, routing, destination options.
    bytes inner = ext_header(43);
    append(inner, ext_header(60, 2));
    append(inner, ext_header(17, 1));
    append(inner, udp(text(json), src6, dst6));
    f = eth(ethertype_ipv6);
    append(f, ipv6(inner, 0));
    d = dec(f);
    ASSERT_EQ(d.status, decode_status::udp) << to_string(d.reason);
    EXPECT_EQ(str(d.datagram.payload), json);

    // Fragment header.
    inner = ext_header(44);
    bytes frag(8, 0);
    frag[0] = 17;
    append(inner, frag);
    append(inner, udp(text(json), src6, dst6));
    f = eth(ethertype_ipv6);
    append(f, ipv6(inner, 0));
    EXPECT_EQ(dec(f).reason, drop_reason::ipv6_fragment);

    // Too many extension headers.
    inner.clear();
    for (std::size_t i = 0; i < max_ipv6_ext_headers + 1; ++i) append(inner, ext_header(60));
    inner[inner.size() - 8] = 17;
    append(inner, udp(text(json), src6, dst6));
    f = eth(ethertype_ipv6);
    append(f, ipv6(inner, 60));
    EXPECT_EQ(dec(f).reason, drop_reason::bad_ip_header);

    // Extension header longer than the payload.
    inner = ext_header(17, 10);
    inner.resize(16);
    f = eth(ethertype_ipv6);
    append(f, ipv6(inner, 0));
    EXPECT_EQ(dec(f).reason, drop_reason::truncated);

    f = eth(ethertype_ipv6);
    append(f, ipv6(bytes(8, 0), 58));
    EXPECT_EQ(dec(f).status, decode_status::not_for_us);
    f = eth(ethertype_ipv6);
    append(f, ipv6(bytes(20, 0), 6));
    EXPECT_EQ(dec(f).reason, drop_reason::not_udp);
    f = eth(ethertype_ipv6);
    append(f, ipv6(udp(text(json), src6, dst6)));
    f[14] = 0x40;
    EXPECT_EQ(dec(f).reason, drop_reason::bad_ip_header);
}

// The in-place overload reuses one result across frames: status, reason and the member the
// status names match the by-value decode, whatever the result held before.
TEST(frame_decode, in_place_matches_by_value) {
    std::vector<bytes> frames;
    frames.push_back(frame4(text(R"({"a":1})")));
    frames.push_back(frame4(text("x"), {{ethertype_vlan, 7}}));
    {
        bytes f = eth(ethertype_ipv4);
        append(f, ipv4(udp(text("frag"), src4, dst4), 17, 9, 0x2000));
        frames.push_back(f);
    }
    {
        bytes f = eth(ethertype_ipv6);
        append(f, ipv6(udp(text("six"), src6, dst6)));
        frames.push_back(f);
    }
    frames.push_back(eth(ethertype_arp));
    {
        bytes f = frame4(text("bad"));
        f.back() ^= 0x40;  // UDP checksum no longer matches
        frames.push_back(f);
    }
    frames.push_back(bytes(10, 0));  // truncated Ethernet header
    {
        bytes f = eth(ethertype_ipv4);
        append(f, ipv4(text("icmp"), 1));
        frames.push_back(f);
    }
    decode_result reused;
    for (int round = 0; round < 3; ++round) {
        for (std::size_t k = 0; k < frames.size(); ++k) {
            const bytes& f = frames[(k * (round + 1)) % frames.size()];
            const decode_result want = decode_frame(view(f), 16);
            ASSERT_EQ(decode_frame(view(f), 16, {}, reused), want.status);
            EXPECT_EQ(reused.status, want.status);
            EXPECT_EQ(reused.reason, want.reason);
            if (want.status == decode_status::udp) {
                EXPECT_TRUE(same_datagram(reused.datagram, want.datagram));
            }
            if (want.status == decode_status::ipv4_fragment) {
                const ipv4_fragment& a = reused.fragment;
                const ipv4_fragment& b = want.fragment;
                EXPECT_EQ(a.src, b.src);
                EXPECT_EQ(a.dst, b.dst);
                EXPECT_EQ(a.id, b.id);
                EXPECT_EQ(a.protocol, b.protocol);
                EXPECT_EQ(a.offset_bytes, b.offset_bytes);
                EXPECT_EQ(a.more_fragments, b.more_fragments);
                EXPECT_EQ(a.ip_payload.data(), b.ip_payload.data());
                EXPECT_EQ(a.ip_payload.size(), b.ip_payload.size());
                EXPECT_EQ(a.vlan_id, b.vlan_id);
            }
        }
    }
}

// decode_frame's fast path (untagged IPv4, 20-byte header, UDP, not a fragment) against the
// general decoder alone, on frames of that shape and on every single-byte corruption and every
// truncation of them: same status, reason and result fields, under every checksum option.
TEST(frame_decode, fast_path_matches_general_decoder) {
    std::vector<bytes> bases;
    std::mt19937 rng(7);
    for (std::size_t len : {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 89, 90, 97, 119,
                            120, 121, 127, 128, 129, 200, 893}) {
        bytes payload(len);
        for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
        bases.push_back(frame4(payload));
        bytes f = eth(ethertype_ipv4);  // no UDP checksum
        append(f, ipv4(udp(payload, src4, dst4, false), 17, 3, 0x4000));  // DF set
        bases.push_back(f);
    }
    bytes padded = frame4(text("x"));
    padded.resize(60, 0xee);  // short frame padded by the sender
    bases.push_back(padded);
    bytes f0 = eth(ethertype_ipv4);  // zero addresses: the pseudo-header sums to 17 + length
    append(f0, ipv4(udp(text("zero"), {0, 0, 0, 0}, {0, 0, 0, 0}), 17, 0, 0, {}, {0, 0, 0, 0},
                    {0, 0, 0, 0}));
    bases.push_back(f0);

    const decode_options option_sets[] = {{}, {.verify_udp_checksum = false},
                                          {.verify_ipv4_checksum = false},
                                          {.verify_udp_checksum = false, .verify_ipv4_checksum = false}};
    std::size_t compared = 0, udp_results = 0;
    auto compare = [&](const bytes& f) {
        // Copied into a larger buffer: tailroom is readable memory, as in an mbuf.
        bytes buf(f.size() + 64, 0x5a);
        std::copy(f.begin(), f.end(), buf.begin());
        const bytes_view v(reinterpret_cast<const std::byte*>(buf.data()), f.size());
        for (const decode_options& o : option_sets) {
            decode_result a, b;
            a.reason = b.reason = drop_reason::fragment_bad;  // stale values must be replaced
            const decode_status sa = decode_frame(v, 64, o, a);
            const decode_status sb = net::detail::decode_frame_general(v, 64, o, b);
            ++compared;
            ASSERT_EQ(sa, sb);
            ASSERT_EQ(a.status, b.status);
            ASSERT_EQ(a.reason, b.reason);
            if (sa == decode_status::udp) {
                ++udp_results;
                ASSERT_TRUE(same_datagram(a.datagram, b.datagram));
            }
            if (sa == decode_status::ipv4_fragment) {
                ASSERT_EQ(a.fragment.ip_payload.data(), b.fragment.ip_payload.data());
                ASSERT_EQ(a.fragment.ip_payload.size(), b.fragment.ip_payload.size());
                ASSERT_EQ(a.fragment.offset_bytes, b.fragment.offset_bytes);
                ASSERT_EQ(a.fragment.more_fragments, b.fragment.more_fragments);
            }
        }
    };
    for (const bytes& base : bases) {
        compare(base);
        for (std::size_t n = 0; n < base.size(); ++n)
            compare(bytes(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(n)));
        const std::size_t header_bytes = std::min<std::size_t>(base.size(), 14 + 20 + 8 + 4);
        for (std::size_t i = 0; i < header_bytes; ++i)
            for (std::uint8_t x : {0x01, 0x02, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}) {
                bytes f = base;
                f[i] ^= x;
                compare(f);
            }
        for (int k = 0; k < 64 && base.size() > 42; ++k) {  // payload bytes: checksum verdicts
            bytes f = base;
            f[42 + rng() % (base.size() - 42)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
            compare(f);
        }
        bytes longer = base;  // frame longer than the IP datagram (padding)
        longer.resize(base.size() + 5, 0);
        compare(longer);
    }
    EXPECT_GT(udp_results, compared / 20);  // the fast path's own results are among them
}

TEST(frame_reason, stable_names) {
    EXPECT_EQ(to_string(drop_reason::not_ip), "not_ip");
    EXPECT_EQ(to_string(drop_reason::bad_ip_header), "bad_ip_header");
    EXPECT_EQ(to_string(drop_reason::bad_checksum), "bad_checksum");
    EXPECT_EQ(to_string(drop_reason::truncated), "truncated");
    EXPECT_EQ(to_string(drop_reason::not_udp), "not_udp");
    EXPECT_EQ(to_string(drop_reason::ipv6_fragment), "ipv6_fragment");
    EXPECT_EQ(to_string(drop_reason::reassembly_full), "reassembly_full");
}

// ------------------------------------------------------------------------------------------
// Reassembly

namespace {

// Splits a UDP datagram (with header) into IPv4 fragment frames of `chunk` payload bytes.
std::vector<bytes> fragments(const bytes& udp_segment, std::size_t chunk, std::uint16_t id,
                             const bytes& s = src4) {
    std::vector<bytes> out;
    for (std::size_t off = 0; off < udp_segment.size(); off += chunk) {
        const std::size_t n = std::min(chunk, udp_segment.size() - off);
        const bool more = off + n < udp_segment.size();
        bytes part(udp_segment.begin() + static_cast<std::ptrdiff_t>(off),
                   udp_segment.begin() + static_cast<std::ptrdiff_t>(off + n));
        bytes f = eth(ethertype_ipv4);
        append(f, ipv4(part, 17, id, static_cast<std::uint16_t>((more ? 0x2000 : 0) | (off / 8)),
                       {}, s));
        out.push_back(f);
    }
    return out;
}

std::string big_payload(std::size_t n) {
    std::string s = "{\"pad\":\"";
    while (s.size() < n - 2) s.push_back(static_cast<char>('a' + s.size() % 26));
    return s + "\"}";
}

decode_result feed(ipv4_reassembler& r, const bytes& frame, std::int64_t now = 0) {
    auto d = dec(frame);
    EXPECT_EQ(d.status, decode_status::ipv4_fragment);
    return r.add(d.fragment, now);
}

}  // namespace

TEST(reassembly, in_order_and_out_of_order) {
    const std::string payload = big_payload(4000);
    const bytes seg = udp(text(payload), src4, dst4);
    std::mt19937 rng(7);
    for (int order = 0; order < 4; ++order) {
        ipv4_reassembler r;
        auto frags = fragments(seg, 1480, static_cast<std::uint16_t>(100 + order));
        ASSERT_EQ(frags.size(), 3u);
        if (order == 1) std::reverse(frags.begin(), frags.end());
        if (order >= 2) std::shuffle(frags.begin(), frags.end(), rng);
        for (std::size_t i = 0; i + 1 < frags.size(); ++i) {
            EXPECT_EQ(feed(r, frags[i]).status, decode_status::pending);
        }
        EXPECT_EQ(r.in_use(), 1u);
        const auto d = feed(r, frags.back());
        ASSERT_EQ(d.status, decode_status::udp) << to_string(d.reason);
        EXPECT_EQ(str(d.datagram.payload), payload);
        EXPECT_EQ(d.datagram.src, ip_address::v4(10, 0, 0, 1));
        EXPECT_EQ(d.datagram.dst_port, 5140);
        EXPECT_GE(d.datagram.tailroom, 64u);
        EXPECT_EQ(r.stats().completed, 1u);
        EXPECT_EQ(r.in_use(), 0u);
    }
}

TEST(reassembly, interleaved_datagrams) {
    ipv4_reassembler r;
    const std::string p1 = big_payload(3000), p2 = big_payload(2500);
    auto a = fragments(udp(text(p1), src4, dst4), 1480, 1);
    auto b = fragments(udp(text(p2), src4, dst4), 1480, 2);
    EXPECT_EQ(feed(r, a[0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, b[1]).status, decode_status::pending);
    EXPECT_EQ(feed(r, a[2]).status, decode_status::pending);
    EXPECT_EQ(r.in_use(), 2u);
    auto d = feed(r, b[0]);
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(str(d.datagram.payload), p2);
    d = feed(r, a[1]);
    ASSERT_EQ(d.status, decode_status::udp);
    EXPECT_EQ(str(d.datagram.payload), p1);
}

TEST(reassembly, duplicates_and_overlaps) {
    const std::string payload = big_payload(3000);
    const bytes seg = udp(text(payload), src4, dst4);
    {
        ipv4_reassembler r;
        auto f = fragments(seg, 1480, 9);
        EXPECT_EQ(feed(r, f[0]).status, decode_status::pending);
        EXPECT_EQ(feed(r, f[0]).status, decode_status::pending);  // exact duplicate
        EXPECT_EQ(feed(r, f[1]).status, decode_status::pending);
        EXPECT_EQ(r.stats().duplicates, 1u);
        const auto d = feed(r, f[2]);
        ASSERT_EQ(d.status, decode_status::udp);
        EXPECT_EQ(str(d.datagram.payload), payload);
    }
    {
        // Overlap: 0..1480 then 1000..2480 (different range) -> the datagram is dropped.
        ipv4_reassembler r;
        auto f = fragments(seg, 1480, 10);
        // A fragment at offset 1000 with MF set.
        bytes part(seg.begin() + 1000, seg.begin() + 2480);
        bytes o = eth(ethertype_ipv4);
        append(o, ipv4(part, 17, 10, 0x2000 | (1000 / 8)));
        EXPECT_EQ(feed(r, f[0]).status, decode_status::pending);
        const auto d = feed(r, o);
        EXPECT_EQ(d.reason, drop_reason::fragment_overlap);
        EXPECT_EQ(r.stats().overlaps, 1u);
        EXPECT_EQ(r.in_use(), 0u);
        // The rest then starts a new datagram that cannot complete without its first part.
        EXPECT_EQ(feed(r, f[1]).status, decode_status::pending);
        EXPECT_EQ(feed(r, f[2]).status, decode_status::pending);
        EXPECT_EQ(r.stats().completed, 0u);
    }
    {
        // Inconsistent last fragments.
        ipv4_reassembler r;
        auto f = fragments(seg, 1480, 11);
        EXPECT_EQ(feed(r, f[2]).status, decode_status::pending);
        bytes late = eth(ethertype_ipv4);
        append(late, ipv4(bytes(seg.begin() + 2960, seg.end()), 17, 11, 2960 / 8 + 1));
        EXPECT_EQ(feed(r, late).reason, drop_reason::fragment_bad);
    }
}

TEST(reassembly, bad_fragments) {
    ipv4_reassembler r;
    // Non-final fragment whose length is not a multiple of 8.
    bytes f = eth(ethertype_ipv4);
    append(f, ipv4(bytes(13, 1), 17, 1, 0x2000));
    EXPECT_EQ(feed(r, f).reason, drop_reason::fragment_bad);
    // Beyond 65535 bytes.
    f = eth(ethertype_ipv4);
    append(f, ipv4(bytes(64, 1), 17, 2, 0x1fff));
    EXPECT_EQ(feed(r, f).reason, drop_reason::fragment_too_large);
    // A reassembled datagram with a broken UDP header is dropped as such.
    bytes seg = udp(text(big_payload(2000)), src4, dst4);
    put16(seg, 4, 9000);
    auto frags = fragments(seg, 1480, 3);
    EXPECT_EQ(feed(r, frags[0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, frags[1]).reason, drop_reason::bad_udp_header);
    EXPECT_EQ(r.in_use(), 0u);
    // Non-UDP fragments are not reassembled.
    f = eth(ethertype_ipv4);
    append(f, ipv4(bytes(16, 1), 6, 4, 0x2000));
    EXPECT_EQ(dec(f).reason, drop_reason::not_udp);
}

TEST(reassembly, timeouts) {
    ipv4_reassembler r(reassembler_options{.timeout_ns = 1000});
    auto a = fragments(udp(text(big_payload(3000)), src4, dst4), 1480, 1);
    auto b = fragments(udp(text(big_payload(3000)), src4, dst4), 1480, 2);
    EXPECT_EQ(feed(r, a[0], 0).status, decode_status::pending);
    EXPECT_EQ(feed(r, b[0], 500).status, decode_status::pending);
    EXPECT_EQ(r.expire(1000), 0u);
    EXPECT_EQ(r.expire(1001), 1u);  // a expired, b not yet
    EXPECT_EQ(r.stats().timeouts, 1u);
    EXPECT_EQ(r.in_use(), 1u);
    // a's remaining fragments start a fresh (incomplete) datagram.
    EXPECT_EQ(feed(r, a[1], 1100).status, decode_status::pending);
    EXPECT_EQ(feed(r, a[2], 1100).status, decode_status::pending);
    // add() expires b on the way.
    EXPECT_EQ(feed(r, b[1], 1600).status, decode_status::pending);
    EXPECT_EQ(r.stats().timeouts, 2u);
    EXPECT_EQ(r.stats().completed, 0u);
}

TEST(reassembly, table_overflow) {
    ipv4_reassembler r(reassembler_options{.slots = 2});
    std::vector<std::vector<bytes>> d;
    for (std::uint16_t id = 1; id <= 3; ++id) {
        d.push_back(fragments(udp(text(big_payload(2000)), src4, dst4), 1480, id));
    }
    EXPECT_EQ(feed(r, d[0][0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, d[1][0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, d[2][0]).reason, drop_reason::reassembly_full);
    EXPECT_EQ(r.stats().overflow_drops, 1u);
    EXPECT_EQ(feed(r, d[0][1]).status, decode_status::udp);  // frees a slot
    EXPECT_EQ(feed(r, d[2][0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, d[2][1]).status, decode_status::udp);
    // Same id from another source is another datagram.
    auto other = fragments(udp(text(big_payload(2000)), {10, 0, 0, 9}, dst4), 1480, 2,
                           {10, 0, 0, 9});
    EXPECT_EQ(feed(r, other[0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, d[1][1]).status, decode_status::udp);
    EXPECT_EQ(feed(r, other[1]).status, decode_status::udp);
    EXPECT_EQ(r.stats().completed, 4u);
}

TEST(reassembly, small_max_datagram) {
    ipv4_reassembler r(reassembler_options{.slots = 1, .max_datagram_bytes = 2000});
    auto f = fragments(udp(text(big_payload(3000)), src4, dst4), 1480, 1);
    EXPECT_EQ(feed(r, f[0]).status, decode_status::pending);
    EXPECT_EQ(feed(r, f[1]).reason, drop_reason::fragment_too_large);
    EXPECT_EQ(r.in_use(), 0u);
}

// ------------------------------------------------------------------------------------------
// ARP and ICMP

namespace {

const ip_address our_ip = ip_address::v4(169, 254, 0, 1);

bytes arp_request_frame(const bytes& target, std::vector<std::pair<std::uint16_t, std::uint16_t>>
                                                 tags = {}) {
    bytes f = eth(ethertype_arp, std::move(tags), mac_address{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
                  peer_mac);
    bytes a = {0, 1, 0x08, 0, 6, 4, 0, 1};
    a.insert(a.end(), peer_mac.bytes.begin(), peer_mac.bytes.end());
    append(a, {169, 254, 0, 2});
    append(a, bytes(6, 0));
    append(a, target);
    append(f, a);
    f.resize(std::max<std::size_t>(f.size(), 60), 0);
    return f;
}

}  // namespace

TEST(arp, reply_bytes) {
    const bytes req = arp_request_frame({169, 254, 0, 1});
    auto parsed = parse_arp_request(view(req));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->sender_mac, peer_mac);
    EXPECT_EQ(parsed->sender_ip, ip_address::v4(169, 254, 0, 2));
    EXPECT_EQ(parsed->target_ip, our_ip);

    std::vector<std::byte> out(128);
    const std::size_t n = build_arp_reply(view(req), our_ip, our_mac, out);
    ASSERT_EQ(n, 60u);
    const bytes expected = {
        0x02, 0, 0, 0, 0, 0x02,  // to the requester
        0x02, 0, 0, 0, 0, 0x01,  // from us
        0x08, 0x06,              // ARP
        0, 1, 0x08, 0, 6, 4, 0, 2,             // Ethernet/IPv4, reply
        0x02, 0, 0, 0, 0, 0x01, 169, 254, 0, 1,  // sender: us
        0x02, 0, 0, 0, 0, 0x02, 169, 254, 0, 2,  // target: requester
    };
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t want = i < expected.size() ? expected[i] : 0;
        EXPECT_EQ(static_cast<std::uint8_t>(out[i]), want) << i;
    }
    // Not for us, too small a buffer, not a request.
    EXPECT_EQ(build_arp_reply(view(arp_request_frame({169, 254, 0, 3})), our_ip, our_mac, out), 0u);
    std::vector<std::byte> small(59);
    EXPECT_EQ(build_arp_reply(view(req), our_ip, our_mac, small), 0u);
    bytes reply_in = req;
    reply_in[14 + 7] = 2;
    EXPECT_EQ(build_arp_reply(view(reply_in), our_ip, our_mac, out), 0u);
    EXPECT_EQ(build_arp_reply(view(bytes(req.begin(), req.begin() + 40)), our_ip, our_mac, out),
              0u);
}

TEST(arp, reply_keeps_vlan_tag) {
    const bytes req = arp_request_frame({169, 254, 0, 1}, {{ethertype_vlan, 42}});
    std::vector<std::byte> out(128);
    const std::size_t n = build_arp_reply(view(req), our_ip, our_mac, out);
    ASSERT_EQ(n, 60u);
    EXPECT_EQ(load_be<std::uint16_t>(out.data() + 12), ethertype_vlan);
    EXPECT_EQ(load_be<std::uint16_t>(out.data() + 14), 42);
    EXPECT_EQ(load_be<std::uint16_t>(out.data() + 16), ethertype_arp);
    EXPECT_EQ(load_be<std::uint16_t>(out.data() + 18 + 6), 2);
}

namespace {

bytes echo_request(const bytes& dst, const bytes& data, bool corrupt = false) {
    bytes icmp = {8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07};
    append(icmp, data);
    put16(icmp, 2, csum(icmp));
    if (corrupt) icmp[4] ^= 1;
    bytes f = eth(ethertype_ipv4);
    append(f, ipv4(icmp, 1, 77, 0, {}, {169, 254, 0, 2}, dst));
    return f;
}

}  // namespace

TEST(icmp, echo_reply) {
    const bytes data = text("abcdefghijklmnopqrstuvwxyz0123456789");
    const bytes req = echo_request({169, 254, 0, 1}, data);
    std::vector<std::byte> out(256);
    const std::size_t n = build_icmp_echo_reply(view(req), our_ip, our_mac, out);
    ASSERT_EQ(n, 14 + 20 + 8 + data.size());
    bytes reply(n);
    for (std::size_t i = 0; i < n; ++i) reply[i] = static_cast<std::uint8_t>(out[i]);
    EXPECT_TRUE(std::equal(peer_mac.bytes.begin(), peer_mac.bytes.end(), reply.begin()));
    EXPECT_TRUE(std::equal(our_mac.bytes.begin(), our_mac.bytes.end(), reply.begin() + 6));
    EXPECT_EQ(reply[12], 0x08);
    EXPECT_EQ(reply[13], 0x00);
    const bytes ip_hdr(reply.begin() + 14, reply.begin() + 34);
    EXPECT_EQ(csum(ip_hdr), 0) << "IPv4 header checksum";
    EXPECT_EQ(ip_hdr[9], 1);
    EXPECT_EQ(bytes(ip_hdr.begin() + 12, ip_hdr.begin() + 16), (bytes{169, 254, 0, 1}));
    EXPECT_EQ(bytes(ip_hdr.begin() + 16, ip_hdr.begin() + 20), (bytes{169, 254, 0, 2}));
    const bytes icmp(reply.begin() + 34, reply.end());
    EXPECT_EQ(icmp[0], 0);  // echo reply
    EXPECT_EQ(icmp[1], 0);
    EXPECT_EQ(csum(icmp), 0) << "ICMP checksum";
    EXPECT_EQ(icmp[4], 0x12);
    EXPECT_EQ(icmp[5], 0x34);
    EXPECT_EQ(icmp[7], 0x07);
    EXPECT_EQ(bytes(icmp.begin() + 8, icmp.end()), data);
    // Decoding the reply as a frame: valid IPv4, ICMP -> not_for_us.
    EXPECT_EQ(dec(reply).status, decode_status::not_for_us);

    // Small request: reply padded to 60 bytes.
    const bytes small = echo_request({169, 254, 0, 1}, {});
    EXPECT_EQ(build_icmp_echo_reply(view(small), our_ip, our_mac, out), 60u);
    // Not ours, corrupt, not an echo request, too small an output buffer.
    EXPECT_EQ(build_icmp_echo_reply(view(echo_request({169, 254, 0, 9}, data)), our_ip, our_mac,
                                    out),
              0u);
    EXPECT_EQ(build_icmp_echo_reply(view(echo_request({169, 254, 0, 1}, data, true)), our_ip,
                                    our_mac, out),
              0u);
    std::vector<std::byte> tiny(40);
    EXPECT_EQ(build_icmp_echo_reply(view(req), our_ip, our_mac, tiny), 0u);
    for (std::size_t cut = 0; cut < req.size(); ++cut) {
        EXPECT_EQ(build_icmp_echo_reply(view(bytes(req.begin(), req.begin() +
                                                                    static_cast<std::ptrdiff_t>(cut))),
                                        our_ip, our_mac, out),
                  0u)
            << cut;
    }
}

TEST(checksum, ones_complement_sum) {
    // RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2
    const bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(ones_complement_sum(view(b)), 0xddf2);
    const bytes odd = {0x01};
    EXPECT_EQ(ones_complement_sum(view(odd)), 0x0100);
}

// The plain definition (RFC 1071: big-endian 16-bit words, an odd last byte padded with a zero
// low byte, end-around carry), folded, not complemented: what ones_complement_sum must equal.
namespace {
std::uint16_t reference_sum(const std::uint8_t* p, std::size_t n, std::uint32_t initial) {
    std::uint64_t sum = initial;
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += (std::uint32_t{p[i]} << 8) | p[i + 1];
    if (n & 1) sum += std::uint32_t{p[n - 1]} << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}
}  // namespace

TEST(checksum, ones_complement_sum_matches_reference) {
    std::mt19937_64 rng(20261201);
    std::vector<std::uint8_t> buf(4096 + 64);
    const std::uint32_t initials[] = {0, 1, 0xffff, 0x10000, 0x1fffe, 0xfffffff0u, 0xffffffffu};
    auto check = [&](std::size_t at, std::size_t len, std::uint32_t initial) {
        const auto* p = reinterpret_cast<const std::byte*>(buf.data() + at);
        ASSERT_EQ(ones_complement_sum(bytes_view(p, len), initial),
                  reference_sum(buf.data() + at, len, initial))
            << "offset " << at << " length " << len << " initial " << initial;
    };
    // Every length up to 300 at every alignment 0..15, random bytes and random initial values.
    for (std::size_t len = 0; len <= 300; ++len)
        for (std::size_t at = 0; at < 16; ++at) {
            for (std::size_t i = 0; i < len; ++i) buf[at + i] = static_cast<std::uint8_t>(rng());
            check(at, len, static_cast<std::uint32_t>(rng()));
            for (const std::uint32_t init : initials) check(at, len, init);
        }
    // Carry-heavy inputs: all 0xff, all 0x00, alternating, with every initial.
    for (const std::uint8_t fill : {std::uint8_t{0xff}, std::uint8_t{0x00}, std::uint8_t{0x80}}) {
        std::fill(buf.begin(), buf.end(), fill);
        for (std::size_t len : {0u, 1u, 2u, 7u, 8u, 9u, 31u, 32u, 33u, 1499u, 4096u})
            for (const std::uint32_t init : initials) check(3, len, init);
    }
    // Random long inputs (jumbo and 64 KiB-ish datagram sizes are covered by 4096 + odd tails).
    for (int round = 0; round < 200; ++round) {
        for (auto& x : buf) x = static_cast<std::uint8_t>(rng());
        const std::size_t at = rng() % 64;
        const std::size_t len = rng() % (buf.size() - at + 1);
        check(at, len, static_cast<std::uint32_t>(rng()));
    }
}

// A sum of 0 means every word (and the initial value) was zero; 0xffff is the other zero.
TEST(checksum, ones_complement_sum_zero_forms) {
    const bytes zeros(64, 0);
    EXPECT_EQ(ones_complement_sum(view(zeros)), 0u);
    const bytes ones(64, 0xff);
    EXPECT_EQ(ones_complement_sum(view(ones)), 0xffffu);
    const bytes cancel = {0x12, 0x34, 0xed, 0xcb};  // 0x1234 + 0xedcb = 0xffff
    EXPECT_EQ(ones_complement_sum(view(cancel)), 0xffffu);
    EXPECT_EQ(ones_complement_sum(view(zeros), 0xffff), 0xffffu);
}
