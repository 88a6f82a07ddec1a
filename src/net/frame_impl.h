#pragma once
// Private to src/net: decode_frame's fast path for the frame shape nearly every ingest frame has
// (untagged Ethernet II, IPv4 with a 20-byte header, not a fragment, UDP), inline for frame.cc
// (decode_frame) and dpdk_port.cc (run_queue fills its burst's datagrams from it directly,
// without a decode_result in between). Anything the check refuses goes to decode_frame, whose
// general decoder alone names drop reasons; tests/net/frame_test.cc and fuzz-frame check that
// the fast path returns exactly what the general decoder returns.

#include <sluice/base/bytes.h>
#include <sluice/net/frame.h>

#if defined(__SSE2__) || defined(__x86_64__)
#include <immintrin.h>
#endif

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::net::detail {

// RFC 1071 sum of [p, p + n) as native-order 64-bit words with end-around carry, unfolded
// (frame.cc). Congruent modulo 0xffff to the sum of the big-endian 16-bit words times 256 on
// little-endian hosts (times 1 on big-endian ones); 0 only if every byte is.
[[nodiscard]] std::uint64_t native_sum(const std::byte* p, std::size_t n) noexcept;

#if defined(__x86_64__)
// `acc` + the bytes [p, p + n) as native-order 64-bit words with end-around carry (see
// native_sum), in add-with-carry chains: the carry stays in the flag, one instruction per word
// instead of an add, a compare and an add (inline assembly: GCC 12 spills an _addcarry_u64
// accumulator to the stack in a loop). The last 1..7 bytes come from one load of the 8 bytes
// before `end` (which must be >= 8 bytes after the input's start), shifted down to them
// (little-endian: the zero-padded word native_sum's portable tail builds). Reads nothing
// outside [end - 8, end) and [p, p + n).
[[gnu::always_inline]] inline std::uint64_t adc_sum(const std::byte* p, std::size_t n,
                                                    std::uint64_t acc,
                                                    const std::byte* end) noexcept {
    auto load64 = [](const std::byte* q) {
        std::uint64_t v;
        std::memcpy(&v, q, sizeof v);
        return v;
    };
    auto adc1 = [&acc](std::uint64_t v) {
        asm("addq %1, %0\n\tadcq $0, %0" : "+r"(acc) : "r"(v) : "cc");
    };
    while (n >= 32) {
        asm("addq (%1), %0\n\t"
            "adcq 8(%1), %0\n\t"
            "adcq 16(%1), %0\n\t"
            "adcq 24(%1), %0\n\t"
            "adcq $0, %0"
            : "+r"(acc)
            : "r"(p), "m"(*reinterpret_cast<const std::byte(*)[32]>(p))
            : "cc");
        p += 32;
        n -= 32;
    }
    if (n & 16) {
        adc1(load64(p));
        adc1(load64(p + 8));
        p += 16;
    }
    if (n & 8) adc1(load64(p));
    if (n & 7) adc1(load64(end - 8) >> (64 - 8 * (n & 7)));
    return acc;
}
#endif

// Writes the IPv4 address at `p` (network order) into `a`, its 16 bytes as one store: a copy of
// `a` (the backend copies src into its datagram) then loads them whole without waiting on
// narrower stores (store forwarding).
[[gnu::always_inline]] inline void put_v4_address(ip_address& a, const std::byte* p) noexcept {
    static_assert(sizeof a.bytes == 16);
#if defined(__SSE2__)
    std::int32_t v;
    std::memcpy(&v, p, 4);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.bytes.data()), _mm_cvtsi32_si128(v));
#else
    a.bytes = {};
    std::memcpy(a.bytes.data(), p, 4);
#endif
    a.v6 = false;
}

// A big-endian 16-bit field. With load_be (a native load + bswap16), GCC 12 hoists the loads of
// the total and UDP lengths above the shape checks, then swaps them with a store to the stack and
// a movbe load back (a store-forwarding round trip each, whatever form the swap is written in);
// on x86-64 the swap is therefore a rotate in inline assembly.
[[gnu::always_inline]] inline std::uint32_t be16_rot(const std::byte* p) noexcept {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
#if defined(__x86_64__)
    asm("rolw $8, %0" : "+r"(v) : : "cc");
#else
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap16(v);
#endif
    return v;
}

// A 16-bit field in its native load, and a constant in the same form: tests against constants
// need no swap.
[[gnu::always_inline]] inline std::uint16_t raw16(const std::byte* p) noexcept {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
constexpr std::uint16_t net16(std::uint16_t v) noexcept {
    return std::endian::native == std::endian::little ? static_cast<std::uint16_t>((v >> 8) | (v << 8))
                                                      : v;
}

inline constexpr std::size_t fast_ip_offset = 14;  // untagged Ethernet II header
inline constexpr std::size_t fast_ip_header_bytes = 20;
inline constexpr std::size_t fast_udp_header_bytes = 8;

// The IPv4 header of `f` when it has the fast path's shape and the general decoder would return
// a UDP datagram for it under `options`; else nullptr (let decode_frame classify it). The checks
// share loads: the pseudo-header's addresses are the IPv4 header's last 8 bytes (summed once for
// both checksums), and the sums stay native (see native_sum): a checksum verifies iff its 16-bit
// words sum to 0 modulo 0xffff, byte-swapped or not, and these sums are never 0 (a ones'
// complement sum is 0 only if every word is; 0x45 and the protocol are not), so "folds to
// 0xffff" is "divisible by 0xffff": the general decoder's verdicts.
[[gnu::always_inline]] inline const std::byte* udp4_fast(bytes_view f,
                                                         const decode_options& options) noexcept {
    constexpr std::size_t headers = fast_ip_offset + fast_ip_header_bytes + fast_udp_header_bytes;
    constexpr std::uint8_t proto_udp = 17;
    const std::size_t size = f.size();
    if (size < headers) return nullptr;
    const std::byte* ip = f.data() + fast_ip_offset;
    const std::byte* udp = ip + fast_ip_header_bytes;
    if (raw16(f.data() + 12) != net16(ethertype_ipv4) ||
        std::to_integer<std::uint8_t>(ip[0]) != 0x45)
        return nullptr;
    const std::size_t total = be16_rot(ip + 2);
    const std::uint32_t ulen = be16_rot(udp + 4);
    // Not a fragment (MF clear, offset 0: DF may be set), UDP, total length within the frame,
    // UDP length within the IP payload.
    if ((raw16(ip + 6) & net16(0x3fff)) != 0 ||
        std::to_integer<std::uint8_t>(ip[9]) != proto_udp || total > size - fast_ip_offset ||
        ulen < fast_udp_header_bytes || ulen + fast_ip_header_bytes > total)
        return nullptr;
    auto add = [](std::uint64_t& acc, std::uint64_t v) {
        acc += v;
        acc += acc < v ? 1 : 0;
    };
    auto load = [](const std::byte* q, auto v) {
        std::memcpy(&v, q, sizeof v);
        return std::uint64_t{v};
    };
    auto verifies = [](std::uint64_t sum) { return sum % 0xffff == 0; };
    const std::uint64_t addrs = load(ip + 12, std::uint64_t{});
    if (options.verify_ipv4_checksum) {
        std::uint64_t h = load(ip, std::uint64_t{});
        add(h, load(ip + 8, std::uint32_t{}));
        add(h, addrs);
        if (!verifies(h)) return nullptr;
    }
    if (options.verify_udp_checksum && raw16(udp + 6) != 0) {
        // Pseudo-header: addresses, zero + protocol, UDP length. The last two as big-endian
        // values times 256 on little-endian hosts: a byte-swapped 16-bit word is congruent to
        // 256 times itself modulo 0xffff (2^16 is 1), so this is the native words' sum.
        constexpr unsigned swap_shift = std::endian::native == std::endian::little ? 8 : 0;
#if defined(__x86_64__)
        // Inline below 128 bytes (a call would cost the fast path its leaf frame); longer
        // segments take native_sum's AVX2 loop.
        std::uint64_t u = ulen < 128 ? adc_sum(udp, ulen, 0, udp + ulen) : native_sum(udp, ulen);
#else
        std::uint64_t u = native_sum(udp, ulen);
#endif
        add(u, addrs);
        add(u, std::uint64_t{proto_udp + ulen} << swap_shift);
        if (!verifies(u)) return nullptr;
    }
    return ip;
}

// Fills a udp_datagram, or any struct with the members `payload`, `tailroom`, `src`,
// `src_port`, `dst_port` (and `dst`, `vlan_id` where it has them), from a frame udp4_fast
// accepted (`ip` is what it returned); `tailroom`: readable bytes after f.end().
template <typename Datagram>
[[gnu::always_inline]] inline void fill_udp4(bytes_view f, const std::byte* ip,
                                             std::size_t tailroom, Datagram& g) noexcept {
    const std::byte* udp = ip + fast_ip_header_bytes;
    const std::size_t ulen = be16_rot(udp + 4);
    // Pointer and size separately (not a span copied whole).
    g.payload = bytes_view(udp + fast_udp_header_bytes, ulen - fast_udp_header_bytes);
    // Frame padding after the IP datagram + IP payload after the UDP datagram + the caller's.
    g.tailroom = (f.size() - fast_ip_offset - fast_ip_header_bytes - ulen) + tailroom;
    put_v4_address(g.src, ip + 12);
    g.src_port = be16_rot(udp);
    g.dst_port = be16_rot(udp + 2);
    if constexpr (requires { g.dst; }) put_v4_address(g.dst, ip + 16);
    if constexpr (requires { g.vlan_id; }) g.vlan_id = 0;
}

}  // namespace sluice::net::detail
