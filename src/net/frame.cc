// Ethernet/VLAN/IPv4/IPv6/UDP decode, IPv4 reassembly, ARP and ICMP echo responders, and the
// sender frames of frame_tx.h (they share the L2, ARP and checksum helpers).

#include <sluice/base/assert.h>
#include <sluice/net/frame.h>
#include <sluice/net/frame_tx.h>

#include "frame_impl.h"

#if defined(__SSE2__) || defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace sluice::net {

// RFC 1071 over native-order 64-bit words with end-around carry, unfolded: a 64-bit ones'
// complement sum is congruent to the 16-bit one modulo 0xffff (0xffff divides 2^64 - 1) and is
// 0 only if every word is; folded to 16 bits it is the byte-swapped RFC sum on little-endian
// hosts (section 2(B)). Two accumulators keep two carry chains in flight.
std::uint64_t detail::native_sum(const std::byte* p, std::size_t n) noexcept {
    [[maybe_unused]] const std::size_t n_in = n;
    std::uint64_t a = 0, b = 0;
    auto add = [](std::uint64_t& acc, std::uint64_t v) {
        acc += v;
        acc += acc < v ? 1 : 0;  // end-around carry (add + adc)
    };
    auto load64 = [](const std::byte* q) {
        std::uint64_t v;
        std::memcpy(&v, q, sizeof v);
        return v;
    };
#if defined(__AVX2__)
    // Long inputs (NDJSON datagrams): 32 bytes per step as eight 32-bit words, zero-extended
    // into 64-bit lanes (a sum of 32-bit words is congruent too). A lane gains < 2^32 per step,
    // so it cannot overflow below 2^32 steps (128 GiB); longer inputs take the scalar loop.
    if (n >= 128 && n < (std::size_t{1} << 36)) {
        const __m256i zero = _mm256_setzero_si256();
        __m256i lo = zero, hi = zero;
        while (n >= 32) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
            lo = _mm256_add_epi64(lo, _mm256_unpacklo_epi32(v, zero));
            hi = _mm256_add_epi64(hi, _mm256_unpackhi_epi32(v, zero));
            p += 32;
            n -= 32;
        }
        alignas(32) std::uint64_t lanes[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 4), hi);
        for (const std::uint64_t l : lanes) add(a, l);
    }
#endif
#if defined(__x86_64__)
    if (n_in >= 8) return adc_sum(p, n, a, p + n);
#endif
    while (n >= 32) {
        add(a, load64(p));
        add(b, load64(p + 8));
        add(a, load64(p + 16));
        add(b, load64(p + 24));
        p += 32;
        n -= 32;
    }
    while (n >= 8) {
        add(a, load64(p));
        p += 8;
        n -= 8;
    }
    if (n != 0) {
        // The last 1..7 bytes as one zero-padded word in memory order (an odd last byte is the
        // high byte of its big-endian 16-bit word, as RFC 1071 pads it). Built in a register:
        // narrow stores then a wide load of the same bytes would stall store forwarding.
        std::uint64_t t = 0;
        std::size_t k = 0;  // bytes placed
        auto place = [&](std::uint64_t v, std::size_t width) {
            if constexpr (std::endian::native == std::endian::little)
                t |= v << (8 * k);
            else
                t |= v << (8 * (8 - k - width));
            k += width;
        };
        if (n & 4) {
            std::uint32_t v;
            std::memcpy(&v, p, 4);
            place(v, 4);
        }
        if (n & 2) {
            std::uint16_t v;
            std::memcpy(&v, p + k, 2);
            place(v, 2);
        }
        if (n & 1) place(std::to_integer<std::uint8_t>(p[k]), 1);
        add(b, t);
    }
    add(a, b);
    return a;
}

namespace {

using detail::native_sum;

constexpr std::size_t eth_header_bytes = 14;
constexpr std::size_t vlan_tag_bytes = 4;
constexpr std::size_t ipv4_min_header_bytes = 20;
constexpr std::size_t ipv6_header_bytes = 40;
constexpr std::size_t udp_header_bytes = 8;
constexpr std::size_t arp_ipv4_bytes = 28;
constexpr std::size_t min_frame_bytes = 60;  // without FCS
constexpr std::uint8_t proto_icmp = 1;
constexpr std::uint8_t proto_udp = 17;
constexpr std::uint8_t proto_ipv6_hop_by_hop = 0;
constexpr std::uint8_t proto_ipv6_routing = 43;
constexpr std::uint8_t proto_ipv6_fragment = 44;
constexpr std::uint8_t proto_icmpv6 = 58;
constexpr std::uint8_t proto_ipv6_dest_options = 60;

std::uint16_t be16(const std::byte* p) noexcept { return load_be<std::uint16_t>(p); }
std::uint8_t u8(const std::byte* p) noexcept { return static_cast<std::uint8_t>(*p); }

decode_result drop(drop_reason r) noexcept {
    decode_result d;
    d.status = decode_status::dropped;
    d.reason = r;
    return d;
}

decode_result status_only(decode_status s) noexcept {
    decode_result d;
    d.status = s;
    return d;
}

// The decoders below fill the caller's result in place: building a 152-byte decode_result per
// layer and returning it by value cost a copy per frame, and its narrow stores followed by wide
// loads stalled store forwarding (decode_udp was 4-10% of a pipeline core in
// bench-pipeline-dpdk; decode_frame of a sensor-event frame 84 -> 39 ns in a loop).
void set_drop(decode_result& d, drop_reason r) noexcept {
    d.status = decode_status::dropped;
    d.reason = r;
}
void set_status(decode_result& d, decode_status s) noexcept { d.status = s; }

// Ethernet header + VLAN tags. On success `l3_offset`, `ethertype`, `vlan_id` are set.
struct l2_info {
    std::size_t l3_offset = 0;
    std::uint16_t ethertype = 0;
    std::uint16_t vlan_id = 0;
};

drop_reason parse_l2(bytes_view f, l2_info& l2) noexcept {
    if (f.size() < eth_header_bytes) return drop_reason::truncated;
    std::size_t off = 12;
    std::uint16_t type = be16(f.data() + off);
    off += 2;
    std::size_t tags = 0;
    while (type == ethertype_vlan || type == ethertype_qinq) {
        if (tags == max_vlan_tags) return drop_reason::too_many_vlan_tags;
        if (off + vlan_tag_bytes > f.size()) return drop_reason::truncated;
        l2.vlan_id = be16(f.data() + off) & 0x0fff;
        type = be16(f.data() + off + 2);
        off += vlan_tag_bytes;
        ++tags;
    }
    l2.l3_offset = off;
    l2.ethertype = type;
    return drop_reason::none;
}

ip_address v4_at(const std::byte* p) noexcept {
    ip_address a;
    for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = u8(p + i);
    return a;
}

ip_address v6_at(const std::byte* p) noexcept {
    ip_address a;
    a.v6 = true;
    for (std::size_t i = 0; i < 16; ++i) a.bytes[i] = u8(p + i);
    return a;
}

// Folds a ones' complement partial sum to 16 bits with end-around carries (2^32 and 2^16 are
// both 1 modulo 0xffff). Four fixed steps reach 16 bits from any 64-bit value: no loop whose
// trip count depends on the data (a mispredicted branch per call). 0 only for 0.
std::uint32_t fold(std::uint64_t sum) noexcept {
    sum = (sum & 0xffffffffu) + (sum >> 32);  // < 2^33
    sum = (sum & 0xffffu) + (sum >> 16);      // < 0x30000
    sum = (sum & 0xffffu) + (sum >> 16);      // <= 0x10001
    sum = (sum & 0xffffu) + (sum >> 16);      // <= 0xffff
    return static_cast<std::uint32_t>(sum);
}


// native_sum folded to 16 bits in network order.
std::uint32_t network_sum(const std::byte* p, std::size_t n) noexcept {
    std::uint32_t s = fold(native_sum(p, n));
    if constexpr (std::endian::native == std::endian::little) s = ((s & 0xffu) << 8) | (s >> 8);
    return s;
}

// True when an IPv4 header's checksum verifies. The folded sum is all ones in either byte
// order, so no swap is needed; the usual 20-byte header takes a path with a constant length.
bool ipv4_header_ok(const std::byte* ip, std::size_t ihl) noexcept {
    return fold(ihl == 20 ? native_sum(ip, 20) : native_sum(ip, ihl)) == 0xffff;
}

// Partial (unfolded) pseudo-header sum for UDP over IPv4 / IPv6.
std::uint32_t pseudo_sum(const ip_address& src, const ip_address& dst,
                         std::size_t udp_len) noexcept {
    std::uint64_t sum = 0;
    const std::size_t n = src.v6 ? 16 : 4;
    for (std::size_t i = 0; i < n; i += 2) {
        sum += (std::uint32_t{src.bytes[i]} << 8) | src.bytes[i + 1];
        sum += (std::uint32_t{dst.bytes[i]} << 8) | dst.bytes[i + 1];
    }
    sum += proto_udp;
    sum += udp_len & 0xffff;
    sum += udp_len >> 16;
    return fold(sum);
}

// UDP header + payload in `seg` (the IP payload). `base_end_room`: readable bytes after seg.end().
void decode_udp(bytes_view seg, const ip_address& src, const ip_address& dst,
                std::size_t room_after_seg, std::uint16_t vlan_id, const decode_options& options,
                decode_result& d) noexcept {
    if (seg.size() < udp_header_bytes) return set_drop(d, drop_reason::truncated);
    const std::size_t ulen = be16(seg.data() + 4);
    if (ulen < udp_header_bytes || ulen > seg.size())
        return set_drop(d, drop_reason::bad_udp_header);
    const std::uint16_t csum = be16(seg.data() + 6);
    if (options.verify_udp_checksum) {
        if (csum == 0) {
            if (src.v6) return set_drop(d, drop_reason::bad_checksum);  // mandatory for IPv6
        } else {
            const std::uint32_t s = fold(std::uint64_t{network_sum(seg.data(), ulen)} +
                                         pseudo_sum(src, dst, ulen));
            if (s != 0xffff) return set_drop(d, drop_reason::bad_checksum);
        }
    }
    d.status = decode_status::udp;
    d.datagram.src = src;
    d.datagram.dst = dst;
    d.datagram.src_port = be16(seg.data());
    d.datagram.dst_port = be16(seg.data() + 2);
    d.datagram.payload = seg.subspan(udp_header_bytes, ulen - udp_header_bytes);
    d.datagram.tailroom = (seg.size() - ulen) + room_after_seg;
    d.datagram.vlan_id = vlan_id;
}

void decode_ipv4(bytes_view f, const l2_info& l2, std::size_t tailroom,
                 const decode_options& options, decode_result& d) noexcept {
    const std::size_t off = l2.l3_offset;
    if (off + ipv4_min_header_bytes > f.size()) return set_drop(d, drop_reason::truncated);
    const std::byte* ip = f.data() + off;
    if ((u8(ip) >> 4) != 4) return set_drop(d, drop_reason::bad_ip_header);
    const std::size_t ihl = std::size_t{u8(ip) & 0x0fu} * 4;
    if (ihl < ipv4_min_header_bytes) return set_drop(d, drop_reason::bad_ip_header);
    if (off + ihl > f.size()) return set_drop(d, drop_reason::truncated);
    const std::size_t total = be16(ip + 2);
    if (total < ihl) return set_drop(d, drop_reason::bad_ip_header);
    if (off + total > f.size()) return set_drop(d, drop_reason::truncated);
    if (options.verify_ipv4_checksum && !ipv4_header_ok(ip, ihl))
        return set_drop(d, drop_reason::bad_checksum);
    const std::uint8_t proto = u8(ip + 9);
    if (proto == proto_icmp) return set_status(d, decode_status::not_for_us);
    if (proto != proto_udp) return set_drop(d, drop_reason::not_udp);
    const std::uint16_t frag = be16(ip + 6);
    const bool more = (frag & 0x2000) != 0;
    const std::uint32_t frag_off = std::uint32_t{frag & 0x1fffu} * 8;
    const ip_address src = v4_at(ip + 12);
    const ip_address dst = v4_at(ip + 16);
    const bytes_view seg(ip + ihl, total - ihl);
    if (more || frag_off != 0) {
        d.status = decode_status::ipv4_fragment;
        d.fragment.src = src;
        d.fragment.dst = dst;
        d.fragment.id = be16(ip + 4);
        d.fragment.protocol = proto;
        d.fragment.offset_bytes = frag_off;
        d.fragment.more_fragments = more;
        d.fragment.ip_payload = seg;
        d.fragment.vlan_id = l2.vlan_id;
        return;
    }
    decode_udp(seg, src, dst, (f.size() - off - total) + tailroom, l2.vlan_id, options, d);
}

void decode_ipv6(bytes_view f, const l2_info& l2, std::size_t tailroom,
                 const decode_options& options, decode_result& d) noexcept {
    const std::size_t off = l2.l3_offset;
    if (off + ipv6_header_bytes > f.size()) return set_drop(d, drop_reason::truncated);
    const std::byte* ip = f.data() + off;
    if ((u8(ip) >> 4) != 6) return set_drop(d, drop_reason::bad_ip_header);
    const std::size_t plen = be16(ip + 4);
    if (off + ipv6_header_bytes + plen > f.size()) return set_drop(d, drop_reason::truncated);
    std::uint8_t next = u8(ip + 6);
    bytes_view rest(ip + ipv6_header_bytes, plen);
    for (std::size_t n = 0;; ++n) {
        if (next == proto_udp) break;
        if (next == proto_ipv6_fragment) return set_drop(d, drop_reason::ipv6_fragment);
        if (next == proto_icmpv6) return set_status(d, decode_status::not_for_us);
        if (next != proto_ipv6_hop_by_hop && next != proto_ipv6_routing &&
            next != proto_ipv6_dest_options) {
            return set_drop(d, drop_reason::not_udp);
        }
        if (n == max_ipv6_ext_headers) return set_drop(d, drop_reason::bad_ip_header);
        if (rest.size() < 8) return set_drop(d, drop_reason::truncated);
        const std::size_t len = (std::size_t{u8(rest.data() + 1)} + 1) * 8;
        if (len > rest.size()) return set_drop(d, drop_reason::truncated);
        next = u8(rest.data());
        rest = rest.subspan(len);
    }
    const std::size_t room = (f.size() - off - ipv6_header_bytes - plen) + tailroom;
    decode_udp(rest, v6_at(ip + 8), v6_at(ip + 24), room, l2.vlan_id, options, d);
}

// decode_frame's fast path into a decode_result (see detail::udp4_fast).
[[gnu::always_inline]] inline bool decode_udp4_fast(bytes_view f, std::size_t tailroom,
                                                    const decode_options& options,
                                                    decode_result& d) noexcept {
    const std::byte* ip = detail::udp4_fast(f, options);
    if (ip == nullptr) return false;
    d.status = decode_status::udp;
    detail::fill_udp4(f, ip, tailroom, d.datagram);
    return true;
}

}  // namespace

// See native_sum. Exactly the result of the plain 16-bit big-endian loop, for every length and
// alignment (tests/net/frame_test.cc compares them). A 97-byte UDP segment: 8.6 ns against
// 11.4 ns for the 16-bit loop (2-vCPU EPYC VM, best of 7 x 400k calls).
std::uint16_t ones_complement_sum(bytes_view data, std::uint32_t initial) noexcept {
    return static_cast<std::uint16_t>(fold(std::uint64_t{network_sum(data.data(), data.size())} +
                                           initial));
}

// Every frame decode_udp4_fast does not take. Out of line, so the fast path's caller saves no
// registers and sets up no frame for it.
[[gnu::noinline]] decode_status detail::decode_frame_general(bytes_view frame,
                                                             std::size_t tailroom,
                                                             const decode_options& options,
                                                             decode_result& d) noexcept {
    d.reason = drop_reason::none;
    l2_info l2;
    if (const drop_reason r = parse_l2(frame, l2); r != drop_reason::none) {
        set_drop(d, r);
        return d.status;
    }
    switch (l2.ethertype) {
        case ethertype_ipv4: decode_ipv4(frame, l2, tailroom, options, d); break;
        case ethertype_ipv6: decode_ipv6(frame, l2, tailroom, options, d); break;
        case ethertype_arp: set_status(d, decode_status::not_for_us); break;
        default: set_drop(d, drop_reason::not_ip); break;
    }
    return d.status;
}

decode_status decode_frame(bytes_view frame, std::size_t tailroom, const decode_options& options,
                           decode_result& d) noexcept {
    if (decode_udp4_fast(frame, tailroom, options, d)) [[likely]] {
        d.reason = drop_reason::none;
        return decode_status::udp;
    }
    return detail::decode_frame_general(frame, tailroom, options, d);
}

decode_result decode_frame(bytes_view frame, std::size_t tailroom,
                           const decode_options& options) noexcept {
    decode_result d;  // returned without a copy (NRVO)
    (void)decode_frame(frame, tailroom, options, d);
    return d;
}

// ---------------------------------------------------------------------------------------------
// ipv4_reassembler

struct ipv4_reassembler::state {
    struct slot {
        bool used = false;
        bool has_total = false;
        std::uint32_t src = 0;
        std::uint32_t dst = 0;
        std::uint16_t id = 0;
        std::uint8_t protocol = 0;
        std::uint16_t vlan_id = 0;
        std::int64_t first_ns = 0;
        std::uint32_t total = 0;     // IP payload length, once the last fragment came
        std::uint32_t received = 0;  // distinct bytes held
        std::uint32_t max_end = 0;   // highest fragment end seen
    };

    reassembler_options options;
    std::size_t slot_bytes = 0;   // max_datagram_bytes + payload_tailroom
    std::size_t bitmap_words = 0;  // per slot, one bit per 8-byte block
    std::vector<slot> slots;
    std::vector<std::byte> data;
    std::vector<std::uint64_t> bitmap;
    std::size_t used = 0;
    reassembler_stats stats;

    std::byte* slot_data(std::size_t i) noexcept { return data.data() + i * slot_bytes; }
    std::uint64_t* slot_bits(std::size_t i) noexcept { return bitmap.data() + i * bitmap_words; }

    void release(slot& s) noexcept {
        s.used = false;
        --used;
    }
};

ipv4_reassembler::ipv4_reassembler(const reassembler_options& options)
    : _s(std::make_unique<state>()) {
    SLUICE_ASSERT(options.slots > 0 && options.max_datagram_bytes >= udp_header_bytes &&
                  options.max_datagram_bytes <= 65535 && options.timeout_ns > 0);
    _s->options = options;
    _s->slot_bytes = options.max_datagram_bytes + options.payload_tailroom;
    _s->bitmap_words = (options.max_datagram_bytes / 8 + 1 + 63) / 64;
    _s->slots.resize(options.slots);
    _s->data.resize(options.slots * _s->slot_bytes);
    _s->bitmap.resize(options.slots * _s->bitmap_words);
}
ipv4_reassembler::~ipv4_reassembler() = default;
ipv4_reassembler::ipv4_reassembler(ipv4_reassembler&&) noexcept = default;
ipv4_reassembler& ipv4_reassembler::operator=(ipv4_reassembler&&) noexcept = default;

std::size_t ipv4_reassembler::in_use() const noexcept { return _s->used; }
const reassembler_stats& ipv4_reassembler::stats() const noexcept { return _s->stats; }

std::size_t ipv4_reassembler::expire(std::int64_t now_ns) noexcept {
    std::size_t n = 0;
    for (auto& s : _s->slots) {
        if (s.used && now_ns - s.first_ns > _s->options.timeout_ns) {
            _s->release(s);
            ++n;
        }
    }
    _s->stats.timeouts += n;
    return n;
}

decode_result ipv4_reassembler::add(const ipv4_fragment& fragment, std::int64_t now_ns) noexcept {
    state& st = *_s;
    ++st.stats.fragments;
    if (fragment.protocol != proto_udp || fragment.src.v6 || fragment.dst.v6) {
        ++st.stats.bad;
        return drop(drop_reason::not_udp);
    }
    const std::uint32_t src = fragment.src.v4_host();
    const std::uint32_t dst = fragment.dst.v4_host();
    const std::size_t len = fragment.ip_payload.size();
    const std::size_t begin = fragment.offset_bytes;
    const std::size_t end = begin + len;

    // Find the datagram's slot (expiring stale ones on the way) or a free one.
    std::size_t found = st.slots.size();
    std::size_t free_slot = st.slots.size();
    for (std::size_t i = 0; i < st.slots.size(); ++i) {
        auto& s = st.slots[i];
        if (s.used && now_ns - s.first_ns > st.options.timeout_ns) {
            st.release(s);
            ++st.stats.timeouts;
        }
        if (!s.used) {
            if (free_slot == st.slots.size()) free_slot = i;
            continue;
        }
        if (s.src == src && s.dst == dst && s.id == fragment.id &&
            s.protocol == fragment.protocol) {
            found = i;
        }
    }

    auto drop_slot = [&](drop_reason r) {
        if (found != st.slots.size()) st.release(st.slots[found]);
        if (r == drop_reason::fragment_overlap) ++st.stats.overlaps;
        else ++st.stats.bad;
        return drop(r);
    };

    if (end > st.options.max_datagram_bytes || end > 65535 - ipv4_min_header_bytes) {
        return drop_slot(drop_reason::fragment_too_large);
    }
    if (len == 0 || (fragment.more_fragments && len % 8 != 0) || begin % 8 != 0) {
        return drop_slot(drop_reason::fragment_bad);
    }

    if (found == st.slots.size()) {
        if (free_slot == st.slots.size()) {
            ++st.stats.overflow_drops;
            return drop(drop_reason::reassembly_full);
        }
        found = free_slot;
        auto& s = st.slots[found];
        s = state::slot{};
        s.used = true;
        s.src = src;
        s.dst = dst;
        s.id = fragment.id;
        s.protocol = fragment.protocol;
        s.vlan_id = fragment.vlan_id;
        s.first_ns = now_ns;
        ++st.used;
        std::memset(st.slot_bits(found), 0, st.bitmap_words * sizeof(std::uint64_t));
    }
    auto& s = st.slots[found];

    // Consistency with what is already known about the datagram's length.
    if (s.has_total && end > s.total) return drop_slot(drop_reason::fragment_bad);
    if (!fragment.more_fragments) {
        if (s.has_total && end != s.total) return drop_slot(drop_reason::fragment_bad);
        if (s.max_end > end) return drop_slot(drop_reason::fragment_bad);
    }

    // Blocks of 8 bytes: all new -> store; all present -> duplicate; some -> overlap.
    std::uint64_t* bits = st.slot_bits(found);
    const std::size_t b0 = begin / 8;
    const std::size_t b1 = (end + 7) / 8;
    std::size_t present = 0;
    for (std::size_t b = b0; b < b1; ++b) present += (bits[b / 64] >> (b % 64)) & 1u;
    if (present == b1 - b0) {
        ++st.stats.duplicates;
        return status_only(decode_status::pending);
    }
    if (present != 0) return drop_slot(drop_reason::fragment_overlap);
    for (std::size_t b = b0; b < b1; ++b) bits[b / 64] |= std::uint64_t{1} << (b % 64);
    std::memcpy(st.slot_data(found) + begin, fragment.ip_payload.data(), len);
    s.received += static_cast<std::uint32_t>(len);
    s.max_end = std::max(s.max_end, static_cast<std::uint32_t>(end));
    if (!fragment.more_fragments) {
        s.has_total = true;
        s.total = static_cast<std::uint32_t>(end);
    }
    if (!s.has_total || s.received != s.total) return status_only(decode_status::pending);

    // Complete: the slot's bytes stay readable until the slot is reused (next add()).
    st.release(s);
    const bytes_view seg(st.slot_data(found), s.total);
    decode_result d;
    decode_udp(seg, fragment.src, fragment.dst, st.slot_bytes - s.total, s.vlan_id,
               st.options.decode, d);
    if (d.status == decode_status::udp) ++st.stats.completed;
    else ++st.stats.bad;
    return d;
}

// ---------------------------------------------------------------------------------------------
// ARP and ICMP echo responders

namespace {

mac_address mac_at(const std::byte* p) noexcept {
    mac_address m;
    for (std::size_t i = 0; i < 6; ++i) m.bytes[i] = u8(p + i);
    return m;
}

void put_mac(std::byte* p, const mac_address& m) noexcept {
    for (std::size_t i = 0; i < 6; ++i) p[i] = std::byte{m.bytes[i]};
}

void put_v4(std::byte* p, const ip_address& a) noexcept {
    for (std::size_t i = 0; i < 4; ++i) p[i] = std::byte{a.bytes[i]};
}

bool same_v4(const std::byte* p, const ip_address& a) noexcept {
    return !a.v6 && u8(p) == a.bytes[0] && u8(p + 1) == a.bytes[1] && u8(p + 2) == a.bytes[2] &&
           u8(p + 3) == a.bytes[3];
}

// Writes the L2 header of a reply: dst, our src, the request's VLAN tags, `ethertype`.
void put_l2(std::byte* out, bytes_view req, const l2_info& l2, const mac_address& dst,
            const mac_address& src) noexcept {
    put_mac(out, dst);
    put_mac(out + 6, src);
    // Tags (and the final ethertype) are copied verbatim from the request.
    std::memcpy(out + 12, req.data() + 12, l2.l3_offset - 12);
}

constexpr std::uint16_t arp_op_request = 1;
constexpr std::uint16_t arp_op_reply = 2;

// The ARP body (IPv4 over Ethernet) of `frame` if it is one with operation `op`, else null.
const std::byte* arp_body(bytes_view frame, std::uint16_t op) noexcept {
    l2_info l2;
    if (parse_l2(frame, l2) != drop_reason::none || l2.ethertype != ethertype_arp) return nullptr;
    if (l2.l3_offset + arp_ipv4_bytes > frame.size()) return nullptr;
    const std::byte* a = frame.data() + l2.l3_offset;
    if (be16(a) != 1 || be16(a + 2) != ethertype_ipv4 || u8(a + 4) != 6 || u8(a + 5) != 4 ||
        be16(a + 6) != op)
        return nullptr;
    return a;
}

// Writes an ARP body (IPv4 over Ethernet) at `a`.
void put_arp(std::byte* a, std::uint16_t op, const mac_address& sender_mac,
             const ip_address& sender_ip, const mac_address& target_mac,
             const ip_address& target_ip) noexcept {
    store_be<std::uint16_t>(a, 1);
    store_be<std::uint16_t>(a + 2, ethertype_ipv4);
    a[4] = std::byte{6};
    a[5] = std::byte{4};
    store_be<std::uint16_t>(a + 6, op);
    put_mac(a + 8, sender_mac);
    put_v4(a + 14, sender_ip);
    put_mac(a + 18, target_mac);
    put_v4(a + 24, target_ip);
}

}  // namespace

std::optional<arp_request> parse_arp_request(bytes_view frame) noexcept {
    const std::byte* a = arp_body(frame, arp_op_request);
    if (a == nullptr) return std::nullopt;
    arp_request r;
    r.sender_mac = mac_at(a + 8);
    r.sender_ip = v4_at(a + 14);
    r.target_ip = v4_at(a + 24);
    return r;
}

std::size_t build_arp_reply(bytes_view frame, const ip_address& our_ip, const mac_address& our_mac,
                            mutable_bytes out) noexcept {
    const auto req = parse_arp_request(frame);
    if (!req || our_ip.v6 || req->target_ip != our_ip) return 0;
    if (req->sender_ip == our_ip) return 0;  // someone else claims our address: not a question
    l2_info l2;
    (void)parse_l2(frame, l2);
    const std::size_t len = std::max(min_frame_bytes, l2.l3_offset + arp_ipv4_bytes);
    if (out.size() < len) return 0;
    std::memset(out.data(), 0, len);
    put_l2(out.data(), frame, l2, req->sender_mac, our_mac);
    put_arp(out.data() + l2.l3_offset, arp_op_reply, our_mac, our_ip, req->sender_mac, req->sender_ip);
    return len;
}

std::size_t build_icmp_echo_reply(bytes_view frame, const ip_address& our_ip,
                                  const mac_address& our_mac, mutable_bytes out) noexcept {
    if (our_ip.v6) return 0;
    l2_info l2;
    if (parse_l2(frame, l2) != drop_reason::none || l2.ethertype != ethertype_ipv4) return 0;
    const std::size_t off = l2.l3_offset;
    if (off + ipv4_min_header_bytes > frame.size()) return 0;
    const std::byte* ip = frame.data() + off;
    if ((u8(ip) >> 4) != 4) return 0;
    const std::size_t ihl = std::size_t{u8(ip) & 0x0fu} * 4;
    if (ihl < ipv4_min_header_bytes || off + ihl > frame.size()) return 0;
    const std::size_t total = be16(ip + 2);
    if (total < ihl + 8 || off + total > frame.size()) return 0;
    if (ones_complement_sum(bytes_view(ip, ihl)) != 0xffff) return 0;
    if (u8(ip + 9) != proto_icmp) return 0;
    if ((be16(ip + 6) & 0x3fff) != 0) return 0;  // fragment
    if (!same_v4(ip + 16, our_ip)) return 0;
    const bytes_view icmp(ip + ihl, total - ihl);
    if (u8(icmp.data()) != 8 || u8(icmp.data() + 1) != 0) return 0;  // echo request, code 0
    if (ones_complement_sum(icmp) != 0xffff) return 0;

    const std::size_t reply_ip_len = ipv4_min_header_bytes + icmp.size();
    const std::size_t len = std::max(min_frame_bytes, off + reply_ip_len);
    if (out.size() < len || reply_ip_len > 65535) return 0;
    std::memset(out.data(), 0, len);
    put_l2(out.data(), frame, l2, mac_at(frame.data() + 6), our_mac);
    std::byte* rip = out.data() + off;
    rip[0] = std::byte{0x45};
    rip[1] = ip[1];  // TOS
    store_be<std::uint16_t>(rip + 2, static_cast<std::uint16_t>(reply_ip_len));
    std::memcpy(rip + 4, ip + 4, 2);  // id
    store_be<std::uint16_t>(rip + 6, 0);
    rip[8] = std::byte{64};  // TTL
    rip[9] = std::byte{proto_icmp};
    put_v4(rip + 12, our_ip);
    std::memcpy(rip + 16, ip + 12, 4);
    store_be<std::uint16_t>(rip + 10, static_cast<std::uint16_t>(
                                          ~ones_complement_sum(bytes_view(rip, 20)) & 0xffff));
    std::byte* ricmp = rip + ipv4_min_header_bytes;
    std::memcpy(ricmp, icmp.data(), icmp.size());
    ricmp[0] = std::byte{0};  // echo reply
    ricmp[2] = std::byte{0};
    ricmp[3] = std::byte{0};
    store_be<std::uint16_t>(
        ricmp + 2,
        static_cast<std::uint16_t>(~ones_complement_sum(bytes_view(ricmp, icmp.size())) & 0xffff));
    return len;
}

// ---- sender frames (frame_tx.h) ----------------------------------------------------------------

std::size_t build_udp4_frame(const udp4_endpoints& e, std::uint16_t ip_id, bytes_view payload,
                             mutable_bytes out, bool udp_checksum) noexcept {
    constexpr std::size_t headers = ipv4_min_header_bytes + udp_header_bytes;
    if (e.src_ip.v6 || e.dst_ip.v6 || payload.size() > 65535 - headers) return 0;
    const std::size_t ip_len = headers + payload.size();
    const std::size_t len = std::max(min_frame_bytes, eth_header_bytes + ip_len);
    if (out.size() < len) return 0;
    std::byte* f = out.data();
    std::memset(f, 0, eth_header_bytes + headers);
    put_mac(f, e.dst_mac);
    put_mac(f + 6, e.src_mac);
    store_be<std::uint16_t>(f + 12, ethertype_ipv4);
    std::byte* ip = f + eth_header_bytes;
    ip[0] = std::byte{0x45};
    store_be<std::uint16_t>(ip + 2, static_cast<std::uint16_t>(ip_len));
    store_be<std::uint16_t>(ip + 4, ip_id);
    ip[8] = std::byte{64};  // TTL
    ip[9] = std::byte{proto_udp};
    put_v4(ip + 12, e.src_ip);
    put_v4(ip + 16, e.dst_ip);
    store_be<std::uint16_t>(ip + 10, static_cast<std::uint16_t>(
                                         ~ones_complement_sum(bytes_view(ip, ipv4_min_header_bytes)) & 0xffff));
    std::byte* udp = ip + ipv4_min_header_bytes;
    const std::size_t udp_len = udp_header_bytes + payload.size();
    store_be<std::uint16_t>(udp, e.src_port);
    store_be<std::uint16_t>(udp + 2, e.dst_port);
    store_be<std::uint16_t>(udp + 4, static_cast<std::uint16_t>(udp_len));
    if (!payload.empty()) std::memcpy(udp + udp_header_bytes, payload.data(), payload.size());
    if (eth_header_bytes + ip_len < len)
        std::memset(f + eth_header_bytes + ip_len, 0, len - eth_header_bytes - ip_len);
    if (udp_checksum) {
        // Over the pseudo-header + UDP header + payload (RFC 768); a computed 0 goes out as
        // 0xffff, since 0 means "no checksum".
        const std::uint16_t c = static_cast<std::uint16_t>(
            ~ones_complement_sum(bytes_view(udp, udp_len), pseudo_sum(e.src_ip, e.dst_ip, udp_len)) & 0xffff);
        store_be<std::uint16_t>(udp + 6, c == 0 ? 0xffff : c);
    }
    return len;
}

std::size_t build_arp_request(const mac_address& our_mac, const ip_address& our_ip,
                              const ip_address& target_ip, mutable_bytes out) noexcept {
    if (our_ip.v6 || target_ip.v6 || out.size() < min_frame_bytes) return 0;
    std::byte* f = out.data();
    std::memset(f, 0, min_frame_bytes);
    put_mac(f, mac_address{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}});  // broadcast
    put_mac(f + 6, our_mac);
    store_be<std::uint16_t>(f + 12, ethertype_arp);
    put_arp(f + eth_header_bytes, arp_op_request, our_mac, our_ip, mac_address{}, target_ip);
    return min_frame_bytes;
}

std::optional<mac_address> parse_arp_reply(bytes_view frame, const ip_address& from_ip) noexcept {
    const std::byte* a = arp_body(frame, arp_op_reply);
    if (a == nullptr || !same_v4(a + 14, from_ip)) return std::nullopt;
    return mac_at(a + 8);
}

}  // namespace sluice::net
