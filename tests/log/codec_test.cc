// Unit tests of the log codec: CRC-32C, varints, murmur2 partitioner, RecordBatch v2.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/log/crc32c.h>
#include <sluice/log/partitioner.h>
#include <sluice/log/record_batch.h>
#include <sluice/log/varint.h>

// ---- allocation counter (to check that the codec never allocates) ----

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

// Replacements of the global allocation functions; noinline so GCC does not pair the inlined
// free() with a new-expression and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace sluice::log {
namespace {

using bytes = std::vector<std::byte>;

bytes to_bytes(std::initializer_list<int> v) {
    bytes out;
    out.reserve(v.size());
    for (int x : v) out.push_back(static_cast<std::byte>(x));
    return out;
}

std::string to_string(bytes_view b) { return std::string(as_chars(b)); }

// Bitwise reference CRC-32C (reflected polynomial 0x82F63B78), independent of ISA-L.
std::uint32_t ref_crc32c(bytes_view data) {
    std::uint32_t crc = 0xffffffffu;
    for (std::byte b : data) {
        crc ^= static_cast<std::uint8_t>(b);
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// Recomputes the batch CRC (bytes [21, end)) with the reference implementation.
void recrc(bytes& b) {
    const std::uint32_t c = ref_crc32c(bytes_view(b).subspan(crc_start_bytes));
    store_be(b.data() + batch_offset::crc, c);
}

// Kafka's Utils.murmur2 written with Java's int semantics spelled out (64-bit signed
// arithmetic truncated to 32 bits after each step, >>> as a logical shift), independent of
// the production code's unsigned formulation.
std::int32_t ref_murmur2(std::string_view s) {
    auto to_int = [](std::int64_t v) -> std::int64_t {
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(v & 0xffffffff));
    };
    auto mul = [&](std::int64_t a, std::int64_t b) {
        return to_int(static_cast<std::int64_t>(static_cast<std::uint64_t>(a) *
                                                static_cast<std::uint64_t>(b)));
    };
    auto ushr = [](std::int64_t v, int n) -> std::int64_t {
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) >> n);
    };
    const std::int64_t seed = to_int(0x9747b28c);
    const std::int64_t m = 0x5bd1e995;
    const int r = 24;
    const int length = static_cast<int>(s.size());
    auto sb = [&](int i) -> std::int64_t { return static_cast<std::int8_t>(s[static_cast<std::size_t>(i)]); };
    std::int64_t h = to_int(seed ^ length);
    const int length4 = length / 4;
    for (int i = 0; i < length4; ++i) {
        const int i4 = i * 4;
        std::int64_t k = to_int((sb(i4 + 0) & 0xff) + ((sb(i4 + 1) & 0xff) << 8) +
                                ((sb(i4 + 2) & 0xff) << 16) + ((sb(i4 + 3) & 0xff) << 24));
        k = mul(k, m);
        k = to_int(k ^ ushr(k, r));
        k = mul(k, m);
        h = mul(h, m);
        h = to_int(h ^ k);
    }
    switch (length % 4) {
        case 3: h = to_int(h ^ ((sb((length & ~3) + 2) & 0xff) << 16)); [[fallthrough]];
        case 2: h = to_int(h ^ ((sb((length & ~3) + 1) & 0xff) << 8)); [[fallthrough]];
        case 1:
            h = to_int(h ^ (sb(length & ~3) & 0xff));
            h = mul(h, m);
            break;
        default: break;
    }
    h = to_int(h ^ ushr(h, 13));
    h = mul(h, m);
    h = to_int(h ^ ushr(h, 15));
    return static_cast<std::int32_t>(h);
}

// ---- CRC-32C ----

TEST(Crc32c, KnownVectors) {
    EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
    EXPECT_EQ(crc32c(bytes_view{}), 0u);
    // RFC 3720 appendix B.4.
    bytes zeros(32, std::byte{0});
    bytes ones(32, std::byte{0xff});
    bytes up(32), down(32);
    for (int i = 0; i < 32; ++i) {
        up[static_cast<std::size_t>(i)] = static_cast<std::byte>(i);
        down[static_cast<std::size_t>(i)] = static_cast<std::byte>(31 - i);
    }
    EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
    EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
    EXPECT_EQ(crc32c(up), 0x46DD794Eu);
    EXPECT_EQ(crc32c(down), 0x113FDB5Cu);
    EXPECT_EQ(ref_crc32c(as_bytes("123456789")), 0xE3069283u);
}

TEST(Crc32c, MatchesReferenceAndExtendComposes) {
    std::mt19937 rng(12345);
    bytes data(1024);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    for (std::size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 63u, 64u, 255u, 256u, 1000u, 1024u}) {
        const bytes_view v = bytes_view(data).first(n);
        const std::uint32_t whole = crc32c(v);
        EXPECT_EQ(whole, ref_crc32c(v)) << n;
        for (std::size_t split = 0; split <= n; split += (n < 64 ? 1 : 37)) {
            EXPECT_EQ(crc32c_extend(crc32c(v.first(split)), v.subspan(split)), whole)
                << n << " split " << split;
        }
    }
    // Extending from the CRC of nothing is the CRC itself; extending by nothing changes nothing.
    EXPECT_EQ(crc32c_extend(0, as_bytes("123456789")), 0xE3069283u);
    EXPECT_EQ(crc32c_extend(0xE3069283u, bytes_view{}), 0xE3069283u);
}

// ---- varints ----

TEST(Varint, RoundTripsAndSizes) {
    const std::int64_t signed_values[] = {0,
                                          1,
                                          -1,
                                          63,
                                          -64,
                                          64,
                                          -65,
                                          300,
                                          -300,
                                          std::numeric_limits<std::int32_t>::max(),
                                          std::numeric_limits<std::int32_t>::min(),
                                          std::int64_t{1} << 40,
                                          -(std::int64_t{1} << 40),
                                          std::numeric_limits<std::int64_t>::max(),
                                          std::numeric_limits<std::int64_t>::min()};
    for (std::int64_t v : signed_values) {
        std::array<std::byte, 10> buf{};
        const std::size_t n = put_varint(buf.data(), v);
        EXPECT_EQ(n, varint_size(v)) << v;
        std::size_t pos = 0;
        std::int64_t out = 0;
        ASSERT_EQ(get_varint64(bytes_view(buf).first(n), pos, out), errc::ok) << v;
        EXPECT_EQ(out, v);
        EXPECT_EQ(pos, n);
        if (v >= std::numeric_limits<std::int32_t>::min() &&
            v <= std::numeric_limits<std::int32_t>::max()) {
            std::int32_t out32 = 0;
            pos = 0;
            ASSERT_EQ(get_varint32(bytes_view(buf).first(n), pos, out32), errc::ok) << v;
            EXPECT_EQ(out32, v);
            EXPECT_LE(n, varint32_bytes_max);
        }
    }
    // Known encodings (protobuf / Kafka): zig-zag 0,-1,1,-2 -> 0,1,2,3; 300 -> ac 02.
    std::array<std::byte, 10> buf{};
    EXPECT_EQ(put_varint(buf.data(), -1), 1u);
    EXPECT_EQ(buf[0], std::byte{0x01});
    EXPECT_EQ(put_uvarint(buf.data(), 300), 2u);
    EXPECT_EQ(buf[0], std::byte{0xac});
    EXPECT_EQ(buf[1], std::byte{0x02});
    EXPECT_EQ(uvarint_size(std::numeric_limits<std::uint64_t>::max()), 10u);
    EXPECT_EQ(uvarint_size(std::numeric_limits<std::uint32_t>::max()), 5u);
}

TEST(Varint, Uvarint32Limits) {
    std::size_t pos = 0;
    std::uint32_t out = 0;
    auto max32 = to_bytes({0xff, 0xff, 0xff, 0xff, 0x0f});
    ASSERT_EQ(get_uvarint32(max32, pos, out), errc::ok);
    EXPECT_EQ(out, 0xffffffffu);
    EXPECT_EQ(pos, 5u);

    // Overflow: the 5th byte carries bits beyond 32.
    for (int last : {0x10, 0x1f, 0x7f}) {
        auto b = to_bytes({0xff, 0xff, 0xff, 0xff, last});
        pos = 0;
        EXPECT_EQ(get_uvarint32(b, pos, out), errc::bad_varint) << last;
        EXPECT_EQ(pos, 0u);
    }
    // Overlong: a 6th byte.
    auto six = to_bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
    pos = 0;
    EXPECT_EQ(get_uvarint32(six, pos, out), errc::bad_varint);
    EXPECT_EQ(pos, 0u);
    // Truncated: continuation bit set on the last available byte, or nothing at all.
    for (std::size_t n = 0; n < 5; ++n) {
        pos = 0;
        EXPECT_EQ(get_uvarint32(bytes_view(max32).first(n), pos, out), errc::truncated) << n;
    }
    // Non-canonical but within 5 bytes is accepted (as Kafka's ByteUtils does).
    auto zero2 = to_bytes({0x80, 0x00});
    pos = 0;
    ASSERT_EQ(get_uvarint32(zero2, pos, out), errc::ok);
    EXPECT_EQ(out, 0u);
    EXPECT_EQ(pos, 2u);
    // Reading starts at pos and stops at the end of the varint.
    auto two = to_bytes({0x05, 0xac, 0x02, 0x07});
    pos = 1;
    ASSERT_EQ(get_uvarint32(two, pos, out), errc::ok);
    EXPECT_EQ(out, 300u);
    EXPECT_EQ(pos, 3u);
    // Signed 32: zig-zag of INT32_MIN is 0xffffffff.
    std::int32_t s = 0;
    pos = 0;
    ASSERT_EQ(get_varint32(max32, pos, s), errc::ok);
    EXPECT_EQ(s, std::numeric_limits<std::int32_t>::min());
    pos = 0;
    auto of = to_bytes({0xff, 0xff, 0xff, 0xff, 0x10});
    EXPECT_EQ(get_varint32(of, pos, s), errc::bad_varint);
}

// The inline one- and two-byte path (varint.h) answers exactly as the strict reader does, for
// every one- and two-byte input, at the end of the input and past it.
TEST(Varint, InlineShortPathMatchesStrictReader) {
    for (int b0 = 0; b0 < 256; ++b0) {
        for (int b1 = -1; b1 < 256; ++b1) {
            std::vector<std::byte> buf{std::byte(b0)};
            if (b1 >= 0) buf.push_back(std::byte(b1));
            for (std::size_t start : {std::size_t{0}, buf.size()}) {
                std::size_t p_fast = start, p_strict = start;
                std::uint32_t o_fast = 7, o_strict = 7;
                EXPECT_EQ(get_uvarint32(buf, p_fast, o_fast), detail::get_uvarint32_strict(buf, p_strict, o_strict));
                EXPECT_EQ(p_fast, p_strict);
                EXPECT_EQ(o_fast, o_strict);
                std::size_t q_fast = start, q_strict = start;
                std::uint64_t l_fast = 7, l_strict = 7;
                EXPECT_EQ(get_uvarint64(buf, q_fast, l_fast), detail::get_uvarint64_strict(buf, q_strict, l_strict));
                EXPECT_EQ(q_fast, q_strict);
                EXPECT_EQ(l_fast, l_strict);
            }
        }
    }
}

TEST(Varint, Uvarint64Limits) {
    std::size_t pos = 0;
    std::uint64_t out = 0;
    auto max64 = to_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
    ASSERT_EQ(get_uvarint64(max64, pos, out), errc::ok);
    EXPECT_EQ(out, std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(pos, 10u);
    for (int last : {0x02, 0x7f}) {
        auto b = to_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, last});
        pos = 0;
        EXPECT_EQ(get_uvarint64(b, pos, out), errc::bad_varint) << last;
    }
    auto eleven = to_bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
    pos = 0;
    EXPECT_EQ(get_uvarint64(eleven, pos, out), errc::bad_varint);
    EXPECT_EQ(pos, 0u);
    for (std::size_t n = 0; n < 10; ++n) {
        pos = 0;
        EXPECT_EQ(get_uvarint64(bytes_view(max64).first(n), pos, out), errc::truncated) << n;
    }
    std::int64_t s = 0;
    pos = 0;
    ASSERT_EQ(get_varint64(max64, pos, s), errc::ok);
    EXPECT_EQ(s, std::numeric_limits<std::int64_t>::min());
}

// ---- murmur2 partitioner ----

TEST(Partitioner, KafkaUtilsTestVectors) {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2.
    const std::pair<std::string_view, std::int32_t> cases[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (auto [key, want] : cases) {
        EXPECT_EQ(murmur2(as_bytes(key)), want) << key;
        EXPECT_EQ(ref_murmur2(key), want) << key;
    }
}

TEST(Partitioner, MatchesReferenceOnManyKeysIncludingHighBytes) {
    std::mt19937 rng(7);
    for (int i = 0; i < 500; ++i) {
        std::string key(static_cast<std::size_t>(i % 37), '\0');
        for (char& c : key) c = static_cast<char>(rng());  // includes bytes >= 0x80 (negative in Java)
        EXPECT_EQ(murmur2(as_bytes(key)), ref_murmur2(key)) << i;
    }
}

TEST(Partitioner, PartitionForKeyIsPositiveStableAndKafkaCompatible) {
    // toPositive(-790332482) = 1357151166.
    EXPECT_EQ(partition_for_key(as_bytes("foobar"), 10), 1357151166 % 10);
    EXPECT_EQ(partition_for_key(as_bytes("foobar"), 50), 16);
    EXPECT_EQ(partition_for_key(as_bytes("21"), 12), (-973932308 & 0x7fffffff) % 12);
    EXPECT_EQ(partition_for_key(as_bytes("abc"), 7), 479470107 % 7);
    for (std::string key : {"", "a", "user-42", "sensor/17/temp", "\xff\xfe\x80"}) {
        const std::int32_t p = partition_for_key(as_bytes(key), 16);
        EXPECT_GE(p, 0);
        EXPECT_LT(p, 16);
        EXPECT_EQ(p, partition_for_key(as_bytes(key), 16));
        EXPECT_EQ(p, (ref_murmur2(key) & 0x7fffffff) % 16) << key;
    }
    EXPECT_EQ(partition_for_key(as_bytes("anything"), 1), 0);
}

// ---- RecordBatch v2: golden bytes ----

constexpr std::int64_t golden_base_ts = 1'700'000'000'000;  // 0x0000018BCFE56800

// Hand-built from the RecordBatch v2 spec: record 0 = key "k1", value "hello", no headers,
// timestamp base; record 1 = null key, value "v2", one header ("h" -> "x"), timestamp base + 7.
bytes golden_batch() {
    bytes b = to_bytes({
        // 0 BaseOffset i64 = 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // 8 Length i32 = 88 - 12 = 76
        0x00, 0x00, 0x00, 0x4c,
        // 12 PartitionLeaderEpoch i32 = -1
        0xff, 0xff, 0xff, 0xff,
        // 16 Magic i8 = 2
        0x02,
        // 17 CRC u32: filled in below
        0x00, 0x00, 0x00, 0x00,
        // 21 Attributes i16 = 0
        0x00, 0x00,
        // 23 LastOffsetDelta i32 = 1
        0x00, 0x00, 0x00, 0x01,
        // 27 BaseTimestamp i64 = 1700000000000
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
        // 35 MaxTimestamp i64 = 1700000000007
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x07,
        // 43 ProducerId i64 = -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        // 51 ProducerEpoch i16 = -1
        0xff, 0xff,
        // 53 BaseSequence i32 = -1
        0xff, 0xff, 0xff, 0xff,
        // 57 RecordsCount i32 = 2
        0x00, 0x00, 0x00, 0x02,
        // 61 record 0: Length varint 13 (zig-zag 26)
        0x1a,
        //   Attributes i8 = 0
        0x00,
        //   TimestampDelta varlong 0
        0x00,
        //   OffsetDelta varint 0
        0x00,
        //   KeyLength varint 2 (zig-zag 4), Key "k1"
        0x04, 'k', '1',
        //   ValueLength varint 5 (zig-zag 10), Value "hello"
        0x0a, 'h', 'e', 'l', 'l', 'o',
        //   HeadersCount varint 0
        0x00,
        // 75 record 1: Length varint 12 (zig-zag 24)
        0x18,
        //   Attributes i8 = 0
        0x00,
        //   TimestampDelta varlong 7 (zig-zag 14)
        0x0e,
        //   OffsetDelta varint 1 (zig-zag 2)
        0x02,
        //   KeyLength varint -1 (zig-zag 1): null key
        0x01,
        //   ValueLength varint 2 (zig-zag 4), Value "v2"
        0x04, 'v', '2',
        //   HeadersCount varint 1 (zig-zag 2)
        0x02,
        //   HeaderKeyLength varint 1 (zig-zag 2), HeaderKey "h"
        0x02, 'h',
        //   HeaderValueLength varint 1 (zig-zag 2), HeaderValue "x"
        0x02, 'x',
        // 88 end
    });
    EXPECT_EQ(b.size(), 88u);
    recrc(b);  // CRC-32C of [21, 88) by the bitwise reference
    return b;
}

bytes build_golden_with_builder() {
    bytes buf(256);
    batch_builder bb(buf);
    EXPECT_TRUE(bb.append(golden_base_ts, as_bytes("k1"), as_bytes("hello")));
    const record_header hdr[] = {{"h", as_bytes("x")}};
    EXPECT_TRUE(bb.append(golden_base_ts + 7, std::nullopt, as_bytes("v2"), hdr));
    auto done = bb.finish();
    return {done.begin(), done.end()};
}

TEST(RecordBatch, BuilderProducesGoldenBytes) {
    const bytes want = golden_batch();
    const bytes got = build_golden_with_builder();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i], want[i]) << "byte " << i;
    }
    EXPECT_EQ(load_be<std::uint32_t>(got.data() + batch_offset::crc),
              ref_crc32c(bytes_view(want).subspan(crc_start_bytes)));
}

TEST(RecordBatch, DecodeGoldenHeaderAndRecords) {
    const bytes b = golden_batch();
    batch_header h;
    ASSERT_EQ(validate_batch(b, &h), errc::ok);
    EXPECT_EQ(h.base_offset, 0);
    EXPECT_EQ(h.length, 76);
    EXPECT_EQ(h.total_bytes(), 88u);
    EXPECT_EQ(h.partition_leader_epoch, -1);
    EXPECT_EQ(h.magic, 2);
    EXPECT_EQ(h.attributes, 0);
    EXPECT_EQ(h.codec(), compression::none);
    EXPECT_EQ(h.last_offset_delta, 1);
    EXPECT_EQ(h.base_timestamp, golden_base_ts);
    EXPECT_EQ(h.max_timestamp, golden_base_ts + 7);
    EXPECT_EQ(h.producer_id, -1);
    EXPECT_EQ(h.producer_epoch, -1);
    EXPECT_EQ(h.base_sequence, -1);
    EXPECT_EQ(h.records_count, 2);
    EXPECT_EQ(h.next_offset(), 2);

    record_iterator it(b);
    record_view r;
    ASSERT_EQ(it.next(r), errc::ok);
    EXPECT_EQ(r.offset, 0);
    EXPECT_EQ(r.timestamp, golden_base_ts);
    ASSERT_TRUE(r.key);
    EXPECT_EQ(to_string(*r.key), "k1");
    ASSERT_TRUE(r.value);
    EXPECT_EQ(to_string(*r.value), "hello");
    EXPECT_EQ(r.headers_count, 0);
    EXPECT_TRUE(r.headers.empty());

    ASSERT_EQ(it.next(r), errc::ok);
    EXPECT_EQ(r.offset, 1);
    EXPECT_EQ(r.timestamp, golden_base_ts + 7);
    EXPECT_FALSE(r.key);
    ASSERT_TRUE(r.value);
    EXPECT_EQ(to_string(*r.value), "v2");
    EXPECT_EQ(r.headers_count, 1);
    std::size_t hp = 0;
    record_header_view hv;
    ASSERT_EQ(record_iterator::next_header(r.headers, hp, hv), errc::ok);
    EXPECT_EQ(hv.key, "h");
    ASSERT_TRUE(hv.value);
    EXPECT_EQ(to_string(*hv.value), "x");
    EXPECT_EQ(record_iterator::next_header(r.headers, hp, hv), errc::not_found);

    EXPECT_EQ(it.next(r), errc::not_found);
    EXPECT_EQ(it.next(r), errc::not_found);
}

// ---- RecordBatch v2: round trips ----

struct rec {
    std::int64_t ts;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

bytes build(const std::vector<rec>& recs, std::size_t cap = 1 << 20) {
    bytes buf(cap);
    batch_builder bb(buf);
    for (const rec& r : recs) {
        std::vector<record_header> hs;
        for (const auto& [k, v] : r.headers) {
            hs.push_back({k, v ? std::optional<bytes_view>(as_bytes(*v)) : std::nullopt});
        }
        auto key = r.key ? std::optional<bytes_view>(as_bytes(*r.key)) : std::nullopt;
        auto value = r.value ? std::optional<bytes_view>(as_bytes(*r.value)) : std::nullopt;
        const std::size_t before = bb.size_bytes();
        const std::size_t predicted = batch_builder::record_bytes(
            static_cast<std::int64_t>(static_cast<std::uint64_t>(r.ts) -
                                      static_cast<std::uint64_t>(recs.front().ts)),
            bb.records(), key, value, hs);
        EXPECT_TRUE(bb.append(r.ts, key, value, hs));
        EXPECT_EQ(bb.size_bytes() - before, predicted);
    }
    auto done = bb.finish();
    return {done.begin(), done.end()};
}

void expect_round_trip(const std::vector<rec>& recs, std::int64_t base_offset = 0) {
    bytes b = build(recs);
    stamp_batch(b, base_offset, 3);
    batch_header h;
    ASSERT_EQ(validate_batch(b, &h), errc::ok);
    ASSERT_EQ(h.records_count, static_cast<std::int32_t>(recs.size()));
    EXPECT_EQ(h.base_offset, base_offset);
    EXPECT_EQ(h.partition_leader_epoch, 3);
    EXPECT_EQ(h.base_timestamp, recs.front().ts);
    std::int64_t max_ts = recs.front().ts;
    for (const rec& r : recs) max_ts = std::max(max_ts, r.ts);
    EXPECT_EQ(h.max_timestamp, max_ts);

    record_iterator it(b);
    record_view rv;
    for (std::size_t i = 0; i < recs.size(); ++i) {
        ASSERT_EQ(it.next(rv), errc::ok) << i;
        const rec& want = recs[i];
        EXPECT_EQ(rv.attributes, 0);
        EXPECT_EQ(rv.offset, base_offset + static_cast<std::int64_t>(i));
        EXPECT_EQ(rv.timestamp, want.ts) << i;
        ASSERT_EQ(rv.key.has_value(), want.key.has_value()) << i;
        if (want.key) {
            EXPECT_EQ(to_string(*rv.key), *want.key);
        }
        ASSERT_EQ(rv.value.has_value(), want.value.has_value()) << i;
        if (want.value) {
            EXPECT_EQ(to_string(*rv.value), *want.value);
        }
        ASSERT_EQ(rv.headers_count, static_cast<std::int32_t>(want.headers.size()));
        std::size_t hp = 0;
        for (const auto& [k, v] : want.headers) {
            record_header_view hv;
            ASSERT_EQ(record_iterator::next_header(rv.headers, hp, hv), errc::ok);
            EXPECT_EQ(hv.key, k);
            ASSERT_EQ(hv.value.has_value(), v.has_value());
            if (v) {
                EXPECT_EQ(to_string(*hv.value), *v);
            }
        }
        record_header_view hv;
        EXPECT_EQ(record_iterator::next_header(rv.headers, hp, hv), errc::not_found);
    }
    EXPECT_EQ(it.next(rv), errc::not_found);
}

TEST(RecordBatch, RoundTripKeysValuesNullsEmpties) {
    expect_round_trip({{100, "key", "value", {}},
                       {101, std::nullopt, "v", {}},
                       {102, "k", std::nullopt, {}},
                       {103, std::nullopt, std::nullopt, {}},
                       {104, "", "", {}},
                       {105, std::string("\0\xff", 2), std::string(300, 'x'), {}}});
}

TEST(RecordBatch, RoundTripHeaders) {
    expect_round_trip({{0, "k", "v", {{"a", "1"}, {"", ""}, {"n", std::nullopt}}},
                       {1, std::nullopt, "v", {{std::string(200, 'h'), std::string(5000, 'v')}}},
                       {2, "k", "v", {}}});
}

TEST(RecordBatch, RoundTripNegativeAndExtremeTimestampDeltas) {
    expect_round_trip({{1'000'000, "a", "1", {}}, {999'000, "b", "2", {}}, {-5, "c", "3", {}},
                       {2'000'000, "d", "4", {}}});
    expect_round_trip({{-1, "a", "1", {}}, {-100, "b", "2", {}}});
    // Wrapping deltas still round-trip.
    expect_round_trip({{std::numeric_limits<std::int64_t>::min(), "a", "1", {}},
                       {std::numeric_limits<std::int64_t>::max(), "b", "2", {}}});
}

TEST(RecordBatch, RoundTripManyRecords) {
    std::vector<rec> recs;
    for (int i = 0; i < 2000; ++i) {
        rec r{1'700'000'000'000 + (i % 7) * 13 - 40, "key-" + std::to_string(i),
              "{\"n\":" + std::to_string(i) + "}", {}};
        if (i % 3 == 0) r.key.reset();
        if (i % 5 == 0) r.headers.push_back({"src", "10.0.0." + std::to_string(i % 256)});
        recs.push_back(std::move(r));
    }
    expect_round_trip(recs, 1'000'000'007);
}

// append() encodes in one pass when the record's upper bound fits (length varint back-patched,
// the body moved when the length takes other than two bytes) and sizes it exactly first near the
// end of the buffer: both must give the same bytes, at every length-varint size.
TEST(RecordBatch, BuilderOnePassAndExactFitGiveTheSameBytes) {
    const record_header hdr[] = {{"src", as_bytes("169.254.0.2:40000")}, {"n", std::nullopt}};
    for (std::size_t value_bytes : {0, 1, 3, 4, 7, 8, 15, 16, 17, 30, 31, 32, 33, 40, 41, 42, 60,
                                    8150, 8151, 8152, 8160, 8200, 70000}) {
        const std::string value(value_bytes, 'v');
        for (const auto& key : {std::optional<std::string>{}, std::optional<std::string>{"12"},
                                std::optional<std::string>{std::string(9, 'k')}}) {
            for (std::size_t nh : {0, 1, 2}) {
                const auto k = key ? std::optional<bytes_view>(as_bytes(*key)) : std::nullopt;
                const std::span<const record_header> hs(hdr, nh);
                // Roomy buffer: one-pass encoding (the second record has offset delta 1).
                bytes roomy(value_bytes + 4096);
                batch_builder a(roomy);
                ASSERT_TRUE(a.append(1000, k, as_bytes("x")));
                const std::size_t before = a.size_bytes();
                ASSERT_TRUE(a.append(1001, k, as_bytes(value), hs));
                const std::size_t rec_bytes = a.size_bytes() - before;
                EXPECT_EQ(rec_bytes, batch_builder::record_bytes(1, 1, k, as_bytes(value), hs));
                // Exact fit: the second record takes the last byte of the buffer.
                bytes exact(before + rec_bytes);
                batch_builder b(exact);
                ASSERT_TRUE(b.append(1000, k, as_bytes("x")));
                ASSERT_TRUE(b.append(1001, k, as_bytes(value), hs)) << value_bytes;
                EXPECT_EQ(b.size_bytes(), exact.size());
                const auto da = a.finish();
                const auto db = b.finish();
                ASSERT_TRUE(std::equal(da.begin(), da.end(), db.begin(), db.end())) << value_bytes;
                ASSERT_EQ(validate_batch(da), errc::ok);
                // One byte short: refused, nothing changed.
                bytes short_buf(before + rec_bytes - 1);
                batch_builder c(short_buf);
                ASSERT_TRUE(c.append(1000, k, as_bytes("x")));
                EXPECT_FALSE(c.append(1001, k, as_bytes(value), hs));
                EXPECT_EQ(c.size_bytes(), before);
                EXPECT_EQ(c.records(), 1);
            }
        }
    }
}

// append(ts, record_field, value, record_tail) is the general append with the headers encoded
// once: same bytes and the same accept/refuse decisions, for null, empty, short and long keys,
// values of 0..300 bytes (and around the length varint's size steps), 0 to 3 headers and
// timestamps far apart (negative and wrapping deltas), in a roomy buffer (one pass) and at
// every capacity near the end of a small one (exact size first).
TEST(RecordBatch, TailAppendGivesTheGeneralAppendsBytes) {
    // Tails of 1, 23, 26 and 71 bytes (a tail of up to 32 bytes is copied as one 32-byte piece).
    const record_header hdr[] = {{"src", as_bytes("169.254.0.2:40000")},
                                 {"n", std::nullopt},
                                 {"trace", as_bytes("00-0af7651916cd43dd8448eb211c80319c-01")}};
    const std::string value_text(70000, 'v');
    const std::string key_text(200, 'k');
    const std::int64_t stamps[] = {1'700'000'000'000,
                                   1'700'000'000'001,
                                   1'699'999'999'000,
                                   0,
                                   -1,
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max(),
                                   1'700'000'100'000,
                                   1'700'000'000'063,
                                   1'700'000'000'064};
    const std::optional<std::size_t> key_sizes[] = {std::nullopt, 0, 1, 2, 3, 16, 17, 200};
    std::vector<std::size_t> value_sizes;
    for (std::size_t v = 0; v <= 300; ++v) value_sizes.push_back(v);
    for (std::size_t v : {8150, 8160, 8170, 8180, 8190, 8200, 70000}) value_sizes.push_back(v);

    for (std::size_t nh : {0, 1, 2, 3}) {
        const std::span<const record_header> hs(hdr, nh);
        record_tail tail;
        ASSERT_TRUE(tail.assign(hs));
        constexpr std::size_t tail_bytes[] = {1, 23, 26, 71};
        EXPECT_EQ(tail.size_bytes(), tail_bytes[nh]);
        for (const auto& key_size : key_sizes) {
            const auto key = key_size ? std::optional<bytes_view>(as_bytes(key_text).first(*key_size))
                                      : std::nullopt;
            const record_field key_field = key ? record_field::of(*key) : record_field::null();
            bytes general_buf(1 << 20), tail_buf(1 << 20), bound_buf(1 << 20);
            batch_builder general(general_buf), tailed(tail_buf), bound(bound_buf);
            bound.bind_tail(tail);  // append(ts, key, value) with the tail bound once
            for (std::size_t i = 0; i < value_sizes.size(); ++i) {
                const std::int64_t ts = stamps[i % std::size(stamps)];
                const bytes_view value = as_bytes(value_text).first(value_sizes[i]);
                const bool a = general.append(ts, key, value, hs);
                const bool b = tailed.append(ts, key_field, value, tail);
                const bool c = bound.append(ts, key_field, value);
                ASSERT_EQ(a, b) << nh << " " << i;
                ASSERT_EQ(a, c) << nh << " " << i;
                ASSERT_EQ(general.size_bytes(), tailed.size_bytes()) << nh << " " << i;
                ASSERT_EQ(general.size_bytes(), bound.size_bytes()) << nh << " " << i;
            }
            EXPECT_GT(general.records(), 300);
            const auto da = general.finish();
            const auto db = tailed.finish();
            const auto dc = bound.finish();
            ASSERT_TRUE(std::equal(da.begin(), da.end(), db.begin(), db.end())) << nh;
            ASSERT_TRUE(std::equal(da.begin(), da.end(), dc.begin(), dc.end())) << nh;
            ASSERT_EQ(validate_batch(db), errc::ok);
        }
    }

    // Near the end of the buffer: every capacity from an empty batch to a few records.
    const record_header src[] = {{"src", as_bytes("10.1.2.3:5000")}};
    record_tail tail;
    ASSERT_TRUE(tail.assign(src));
    const std::size_t cycle[] = {0, 5, 50, 91, 120, 300};
    for (std::size_t cap = 50; cap < 1200; ++cap) {
        bytes general_buf(cap), tail_buf(cap), bound_buf(cap);
        batch_builder general(general_buf), tailed(tail_buf), bound(bound_buf);
        bound.bind_tail(tail);
        for (std::size_t i = 0; i < 16; ++i) {
            const bool keyed = i % 3 != 0;
            const auto key = keyed ? std::optional<bytes_view>(as_bytes("sensor-17")) : std::nullopt;
            const record_field key_field = keyed ? record_field::of(*key) : record_field::null();
            const bytes_view value = as_bytes(value_text).first(cycle[i % std::size(cycle)]);
            const std::int64_t ts = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 1000;
            const bool a = general.append(ts, key, value, src);
            ASSERT_EQ(a, tailed.append(ts, key_field, value, tail)) << cap << " " << i;
            ASSERT_EQ(a, bound.append(ts, key_field, value)) << cap << " " << i;
            ASSERT_EQ(general.size_bytes(), tailed.size_bytes()) << cap << " " << i;
            ASSERT_EQ(general.size_bytes(), bound.size_bytes()) << cap << " " << i;
        }
        if (general.empty()) continue;
        const auto da = general.finish();
        const auto db = tailed.finish();
        const auto dc = bound.finish();
        ASSERT_TRUE(std::equal(da.begin(), da.end(), db.begin(), db.end())) << cap;
        ASSERT_TRUE(std::equal(da.begin(), da.end(), dc.begin(), dc.end())) << cap;
    }
}

// Keys, values and header values are copied by overlapping pieces up to 128 bytes (memcpy
// above): every size from 0 to 300 with distinct bytes comes back exactly.
TEST(RecordBatch, BuilderCopiesEverySizeExactly) {
    std::string text(300, '\0');
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 + 1);
    std::vector<rec> recs;
    for (std::size_t n = 0; n <= text.size(); ++n) {
        const std::string piece = text.substr(n % 5, n);
        recs.push_back({static_cast<std::int64_t>(n), piece.substr(0, n % 40), piece,
                        {{"h", piece.substr(0, n % 130)}}});
    }
    expect_round_trip(recs);
}

TEST(RecordBatch, RecordTailEncodesHeadersOnceAndRefusesTooLong) {
    record_tail none;
    ASSERT_EQ(none.size_bytes(), 1u);
    EXPECT_EQ(none.bytes()[0], std::byte{0});  // HeadersCount 0
    record_tail t;
    ASSERT_TRUE(t.assign({}));
    EXPECT_EQ(to_string(t.bytes()), to_string(none.bytes()));
    const record_header hdr[] = {{"h", as_bytes("x")}};
    ASSERT_TRUE(t.assign(hdr));
    // HeadersCount 1, "h" (length 1), "x" (length 1): as in the golden batch's record 1.
    EXPECT_EQ(to_string(t.bytes()), to_string(to_bytes({0x02, 0x02, 'h', 0x02, 'x'})));
    // Longer than bytes_max: refused, the tail unchanged.
    const std::string long_value(record_tail::bytes_max, 'v');
    const record_header too_long[] = {{"src", as_bytes(long_value)}};
    EXPECT_FALSE(t.assign(too_long));
    EXPECT_EQ(to_string(t.bytes()), to_string(to_bytes({0x02, 0x02, 'h', 0x02, 'x'})));
    // Exactly bytes_max: accepted (1 + 1 + 1 + 2 + value).
    const std::string fitting(record_tail::bytes_max - 5, 'v');
    const record_header fits[] = {{"s", as_bytes(fitting)}};
    ASSERT_TRUE(t.assign(fits));
    EXPECT_EQ(t.size_bytes(), record_tail::bytes_max);
}

TEST(RecordBatch, BuilderRefusesWhatDoesNotFitAndChangesNothing) {
    bytes buf(100);
    batch_builder bb(buf);
    EXPECT_TRUE(bb.empty());
    ASSERT_TRUE(bb.append(5, as_bytes("k"), as_bytes("v")));  // 61 + 9 bytes
    const std::size_t size = bb.size_bytes();
    EXPECT_FALSE(bb.append(6, as_bytes("k"), as_bytes(std::string(40, 'x'))));
    EXPECT_EQ(bb.size_bytes(), size);
    EXPECT_EQ(bb.records(), 1);
    ASSERT_TRUE(bb.append(2, std::nullopt, as_bytes("w")));
    auto done = bb.finish();
    batch_header h;
    ASSERT_EQ(validate_batch(done, &h), errc::ok);
    EXPECT_EQ(h.records_count, 2);
    EXPECT_EQ(h.base_timestamp, 5);
    EXPECT_EQ(h.max_timestamp, 5);

    // A buffer smaller than a header fits nothing.
    bytes tiny(60);
    batch_builder small(tiny);
    EXPECT_FALSE(small.append(0, std::nullopt, std::nullopt));
    EXPECT_TRUE(small.empty());

    // reset() starts over.
    bb.reset(buf);
    EXPECT_TRUE(bb.empty());
    EXPECT_EQ(bb.size_bytes(), batch_header_bytes);
    EXPECT_EQ(bb.capacity_bytes(), buf.size());
}

TEST(RecordBatch, StampDoesNotTouchTheCrc) {
    bytes b = golden_batch();
    const std::uint32_t crc = load_be<std::uint32_t>(b.data() + batch_offset::crc);
    stamp_batch(b, 0x0102030405060708, 0x11223344);
    EXPECT_EQ(load_be<std::int64_t>(b.data()), 0x0102030405060708);
    EXPECT_EQ(load_be<std::int32_t>(b.data() + batch_offset::partition_leader_epoch), 0x11223344);
    EXPECT_EQ(load_be<std::uint32_t>(b.data() + batch_offset::crc), crc);
    batch_header h;
    ASSERT_EQ(validate_batch(b, &h), errc::ok);
    EXPECT_EQ(h.base_offset, 0x0102030405060708);
    EXPECT_EQ(h.last_offset(), 0x0102030405060709);
}

TEST(RecordBatch, CodecDoesNotAllocate) {
    std::vector<std::byte> buf(1 << 16);
    const std::string value(100, 'v');
    const record_header hdr[] = {{"h", as_bytes("x")}, {"n", std::nullopt}};
    std::int32_t seen = 0;
    errc validated = errc::io_error;

    const std::uint64_t before = g_allocations.load(std::memory_order_relaxed);
    batch_builder bb(buf);
    for (int i = 0; i < 100; ++i) {
        if (!bb.append(1000 - i, as_bytes("key"), as_bytes(value), hdr)) break;
    }
    auto done = bb.finish();
    stamp_batch(done, 42, 1);
    validated = validate_batch(done);
    record_iterator it(done);
    record_view rv;
    while (it.next(rv) == errc::ok) {
        std::size_t hp = 0;
        record_header_view hv;
        while (record_iterator::next_header(rv.headers, hp, hv) == errc::ok) {
        }
        ++seen;
    }
    const std::uint32_t c = crc32c(done);
    const std::uint64_t after = g_allocations.load(std::memory_order_relaxed);

    EXPECT_EQ(after, before);
    EXPECT_EQ(validated, errc::ok);
    // The counter does see allocations (so the check above can fail).
    {
        std::vector<std::byte> probe(done.size());
        EXPECT_EQ(crc32c(probe), crc32c(probe));
    }
    EXPECT_GT(g_allocations.load(std::memory_order_relaxed), after);
    EXPECT_EQ(seen, 100);
    EXPECT_NE(c, 0u);
}

// ---- RecordBatch v2: rejection ----

TEST(RecordBatch, EveryTruncationIsRejected) {
    for (const bytes& b : {golden_batch(), build({{1, "a", "b", {{"h", "v"}}}, {2, "c", "d", {}}})}) {
        ASSERT_EQ(validate_batch(b), errc::ok);
        for (std::size_t n = 0; n < b.size(); ++n) {
            const bytes_view prefix = bytes_view(b).first(n);
            EXPECT_EQ(validate_batch(prefix), errc::truncated) << n;
            auto h = decode_batch_header(prefix);
            EXPECT_EQ(h.ok(), n >= batch_header_bytes) << n;
            if (!h) {
                EXPECT_EQ(h.error(), errc::truncated) << n;
            }
            // The iterator never reads past a cut-short batch.
            record_iterator it(prefix);
            record_view rv;
            std::int32_t got = 0;
            errc e = errc::ok;
            while ((e = it.next(rv)) == errc::ok) ++got;
            EXPECT_NE(e, errc::not_found) << "a truncated batch iterated to the end, n=" << n;
            EXPECT_LT(got, 2) << n;
        }
    }
}

TEST(RecordBatch, FlippedBytesInCrcRangeAreRejected) {
    const bytes good = golden_batch();
    for (std::size_t i = batch_offset::crc; i < good.size(); ++i) {
        for (int mask : {0x01, 0x80, 0xff}) {
            bytes b = good;
            b[i] ^= static_cast<std::byte>(mask);
            // A flip that makes the header itself invalid (sign of LastOffsetDelta or
            // RecordsCount) is reported by the header check, which comes before the CRC.
            auto h = decode_batch_header(b);
            const errc want = h ? errc::bad_crc : h.error();
            EXPECT_EQ(validate_batch(b), want) << "byte " << i << " mask " << mask;
            if (!h) {
                EXPECT_EQ(want, errc::bad_record);
                EXPECT_TRUE(i == batch_offset::last_offset_delta || i == batch_offset::records_count)
                    << i;
            }
        }
    }
    // BaseOffset and PartitionLeaderEpoch are outside the CRC.
    for (std::size_t i : {0u, 7u, 12u, 15u}) {
        bytes b = good;
        b[i] ^= std::byte{0x5a};
        EXPECT_EQ(validate_batch(b), errc::ok) << i;
    }
}

TEST(RecordBatch, BadMagic) {
    for (int m : {0, 1, 3, 0xff}) {
        bytes b = golden_batch();
        b[batch_offset::magic] = static_cast<std::byte>(m);
        EXPECT_EQ(validate_batch(b), errc::bad_magic) << m;
        EXPECT_EQ(decode_batch_header(b).error(), errc::bad_magic);
        // Magic is checked before anything else past 17 bytes.
        EXPECT_EQ(decode_batch_header(bytes_view(b).first(17)).error(), errc::bad_magic);
        record_iterator it(b);
        record_view rv;
        EXPECT_EQ(it.next(rv), errc::bad_magic);
    }
}

TEST(RecordBatch, BadLength) {
    for (std::int32_t len : {-1, std::numeric_limits<std::int32_t>::min(), 0, 48,
                             batch_bytes_max + 1, std::numeric_limits<std::int32_t>::max()}) {
        bytes b = golden_batch();
        store_be(b.data() + batch_offset::length, len);
        EXPECT_EQ(validate_batch(b), errc::bad_length) << len;
        EXPECT_EQ(decode_batch_header(bytes_view(b).first(17)).error(), errc::bad_length) << len;
    }
    // Plausible but longer than the input: truncated.
    bytes b = golden_batch();
    store_be(b.data() + batch_offset::length, std::int32_t{77});
    EXPECT_EQ(validate_batch(b), errc::truncated);
    // Shorter than the records: CRC computed over the shorter range fails first...
    store_be(b.data() + batch_offset::length, std::int32_t{70});
    EXPECT_EQ(validate_batch(b), errc::bad_crc);
    // ...and with a matching CRC the records overrun the batch.
    bytes c(b.begin(), b.begin() + 82);
    recrc(c);
    EXPECT_EQ(validate_batch(c), errc::bad_record);
    // Length 49 (a header with no records) is a legal length but not a legal batch.
    bytes d = golden_batch();
    d.resize(batch_header_bytes);
    store_be(d.data() + batch_offset::length, std::int32_t{49});
    recrc(d);
    EXPECT_EQ(validate_batch(d), errc::bad_record);
}

TEST(RecordBatch, RecordCountAndOffsetDeltaMismatches) {
    for (std::int32_t count : {0, 1, 3, 1000}) {
        bytes b = golden_batch();
        store_be(b.data() + batch_offset::records_count, count);
        recrc(b);
        EXPECT_EQ(validate_batch(b), errc::bad_record) << count;
    }
    for (std::int32_t count : {-1, std::numeric_limits<std::int32_t>::min()}) {
        bytes b = golden_batch();
        store_be(b.data() + batch_offset::records_count, count);
        recrc(b);
        EXPECT_EQ(validate_batch(b), errc::bad_record) << count;
        EXPECT_EQ(decode_batch_header(b).error(), errc::bad_record);
    }
    for (std::int32_t lod : {-1, 0, 2}) {
        bytes b = golden_batch();
        store_be(b.data() + batch_offset::last_offset_delta, lod);
        recrc(b);
        EXPECT_EQ(validate_batch(b), errc::bad_record) << lod;
    }
    // Record 1's OffsetDelta (byte 78) = 2 instead of 1.
    bytes b = golden_batch();
    ASSERT_EQ(b[78], std::byte{0x02});
    b[78] = std::byte{0x04};
    recrc(b);
    EXPECT_EQ(validate_batch(b), errc::bad_record);
    record_iterator it(b);
    record_view rv;
    EXPECT_EQ(it.next(rv), errc::ok);
    EXPECT_EQ(it.next(rv), errc::bad_record);
    EXPECT_EQ(it.next(rv), errc::bad_record);  // errors are sticky
}

TEST(RecordBatch, MalformedRecordFields) {
    // Each case patches one byte of the golden batch, re-checksums, and must be bad_record.
    const std::pair<std::size_t, int> patches[] = {
        {61, 0x1c},  // record 0 Length 14: runs into record 1
        {61, 0x18},  // record 0 Length 12: leaves a byte of record 0 unread
        {61, 0x01},  // record 0 Length -1
        {61, 0x80},  // record 0 Length varint runs into the attributes as a continuation
        {65, 0x03},  // record 0 KeyLength -2
        {65, 0x40},  // record 0 KeyLength 32: past the record
        {68, 0x01},  // record 0 ValueLength -1 leaves "hello" as trailing garbage
        {74, 0x02},  // record 0 HeadersCount 1 with no header bytes
        {74, 0x01},  // record 0 HeadersCount -1
        {84, 0x01},  // header key length -1 (null header keys are invalid)
        {86, 0x04},  // header value length 2: past the record
    };
    for (auto [at, v] : patches) {
        bytes b = golden_batch();
        b[at] = static_cast<std::byte>(v);
        recrc(b);
        EXPECT_EQ(validate_batch(b), errc::bad_record) << "byte " << at << " = " << v;
        record_iterator it(b);
        record_view rv;
        errc e = errc::ok;
        int n = 0;
        while ((e = it.next(rv)) == errc::ok && n < 10) ++n;
        EXPECT_NE(e, errc::not_found) << "byte " << at;
    }
}

TEST(RecordBatch, GarbageInsideTheBatchIsRejectedButBytesAfterItAreNotPartOfIt) {
    // Extra bytes covered by Length after the last record.
    bytes b = golden_batch();
    b.push_back(std::byte{0x00});
    b.push_back(std::byte{0x42});
    store_be(b.data() + batch_offset::length, std::int32_t{78});
    recrc(b);
    EXPECT_EQ(validate_batch(b), errc::bad_record);

    // Bytes after the batch (e.g. the next batch in a segment) are not this batch's business.
    bytes c = golden_batch();
    const bytes next = golden_batch();
    c.insert(c.end(), next.begin(), next.end());
    c.push_back(std::byte{0xee});
    batch_header h;
    ASSERT_EQ(validate_batch(c, &h), errc::ok);
    EXPECT_EQ(h.total_bytes(), 88u);
    ASSERT_EQ(validate_batch(bytes_view(c).subspan(h.total_bytes())), errc::ok);
    record_iterator it(c);
    record_view rv;
    int n = 0;
    while (it.next(rv) == errc::ok) ++n;
    EXPECT_EQ(n, 2);
}

TEST(RecordBatch, CompressedBatchesAreCheckedUpToTheCrcOnly) {
    bytes b = golden_batch();
    store_be(b.data() + batch_offset::attributes, std::int16_t{4});  // zstd
    // The records are not zstd data, which validate_batch does not look at.
    recrc(b);
    batch_header h;
    ASSERT_EQ(validate_batch(b, &h), errc::ok);
    EXPECT_EQ(h.codec(), compression::zstd);
    record_iterator it(b);
    record_view rv;
    EXPECT_EQ(it.next(rv), errc::unsupported);
    b[70] ^= std::byte{1};
    EXPECT_EQ(validate_batch(b), errc::bad_crc);
}

}  // namespace
}  // namespace sluice::log
