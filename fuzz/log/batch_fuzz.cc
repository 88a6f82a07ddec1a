// libFuzzer target `batch`: RecordBatch v2 decode, validation and iteration over arbitrary input.
// Properties checked (any violation traps):
//  - nothing reads out of bounds (ASan) or hits UB (UBSan);
//  - validate_batch fails with exactly decode_batch_header's error when the header is bad;
//  - when validate_batch accepts an uncompressed batch, iteration yields exactly RecordsCount
//    records, every record's headers iterate to exactly headers_count, and rebuilding the records
//    with batch_builder gives a batch that validates and iterates to the same records;
//  - stamping BaseOffset/PartitionLeaderEpoch never breaks a valid batch.
// Each input is checked as is and again with its CRC recomputed (see check_with_fixed_crc).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <sluice/base/assert.h>
#include <sluice/log/crc32c.h>
#include <sluice/log/record_batch.h>

namespace {

using namespace sluice;
using namespace sluice::log;

bool same(const std::optional<bytes_view>& a, const std::optional<bytes_view>& b) {
    if (a.has_value() != b.has_value()) return false;
    if (!a) return true;
    return a->size() == b->size() && (a->empty() || std::memcmp(a->data(), b->data(), a->size()) == 0);
}

bool within(bytes_view outer, bytes_view inner) {
    if (inner.empty()) return true;
    return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Iterates every record (and header) of `batch`; returns the terminating error and the count.
errc iterate(bytes_view batch, std::int32_t& count) {
    record_iterator it(batch);
    record_view rv;
    count = 0;
    errc e = errc::ok;
    while ((e = it.next(rv)) == errc::ok) {
        SLUICE_ASSERT(count < static_cast<std::int32_t>(batch.size()), "more records than bytes");
        if (rv.key) SLUICE_ASSERT(within(batch, *rv.key));
        if (rv.value) SLUICE_ASSERT(within(batch, *rv.value));
        SLUICE_ASSERT(within(batch, rv.headers));
        std::size_t pos = 0;
        record_header_view hv;
        std::int32_t headers = 0;
        errc he = errc::ok;
        while ((he = record_iterator::next_header(rv.headers, pos, hv)) == errc::ok) {
            SLUICE_ASSERT(within(rv.headers, as_bytes(hv.key)));
            if (hv.value) SLUICE_ASSERT(within(rv.headers, *hv.value));
            ++headers;
            SLUICE_ASSERT(headers <= rv.headers_count, "more headers than headers_count");
        }
        // The record decoder already walked the headers: they must iterate cleanly.
        SLUICE_ASSERT(he == errc::not_found && headers == rv.headers_count);
        ++count;
    }
    return e;
}

void check_valid_uncompressed(bytes_view batch, const batch_header& h) {
    std::int32_t n = 0;
    const errc e = iterate(batch, n);
    SLUICE_ASSERT(e == errc::not_found, "valid batch did not iterate to the end");
    SLUICE_ASSERT(n == h.records_count, "validate_batch and record_iterator disagree on count");

    // Rebuild with batch_builder and compare record by record.
    static std::vector<std::byte> buf;
    static std::vector<record_header> headers;
    // Canonical re-encoding can grow a record by at most ~10 bytes (timestamp delta re-based on
    // the first record), and every record takes at least 7 bytes: 3x is always enough.
    buf.assign(batch.size() * 3 + 1024, std::byte{0});
    batch_builder bb(buf);
    record_iterator it(batch);
    record_view rv;
    while (it.next(rv) == errc::ok) {
        headers.clear();
        std::size_t pos = 0;
        record_header_view hv;
        while (record_iterator::next_header(rv.headers, pos, hv) == errc::ok) {
            headers.push_back({hv.key, hv.value});
        }
        SLUICE_ASSERT(bb.append(rv.timestamp, rv.key, rv.value, headers), "rebuild did not fit");
    }
    auto rebuilt = bb.finish();
    batch_header rh;
    SLUICE_ASSERT(validate_batch(rebuilt, &rh) == errc::ok, "rebuilt batch does not validate");
    SLUICE_ASSERT(rh.records_count == h.records_count);
    stamp_batch(rebuilt, h.base_offset, h.partition_leader_epoch);
    record_iterator a(batch);
    record_iterator b(rebuilt);
    record_view ra;
    record_view rb;
    for (std::int32_t i = 0; i < h.records_count; ++i) {
        SLUICE_ASSERT(a.next(ra) == errc::ok && b.next(rb) == errc::ok);
        SLUICE_ASSERT(ra.timestamp == rb.timestamp && ra.offset == rb.offset);
        SLUICE_ASSERT(same(ra.key, rb.key) && same(ra.value, rb.value));
        SLUICE_ASSERT(ra.headers_count == rb.headers_count);
        std::size_t pa = 0;
        std::size_t pb = 0;
        record_header_view ha;
        record_header_view hb;
        for (std::int32_t k = 0; k < ra.headers_count; ++k) {
            SLUICE_ASSERT(record_iterator::next_header(ra.headers, pa, ha) == errc::ok &&
                          record_iterator::next_header(rb.headers, pb, hb) == errc::ok);
            SLUICE_ASSERT(ha.key == hb.key && same(ha.value, hb.value));
        }
    }
    SLUICE_ASSERT(a.next(ra) == errc::not_found && b.next(rb) == errc::not_found);
}

void check_one(bytes_view in) {
    const auto decoded = decode_batch_header(in);
    batch_header h;
    const errc v = validate_batch(in, &h);
    std::int32_t n = 0;
    (void)iterate(in, n);  // must be memory-safe whatever the input

    if (!decoded) {
        SLUICE_ASSERT(v == decoded.error(), "validate_batch disagrees with the header check");
        return;
    }
    if (v != errc::ok) return;
    SLUICE_ASSERT(h.total_bytes() <= in.size());
    SLUICE_ASSERT(h.records_count == decoded->records_count && h.length == decoded->length);
    SLUICE_ASSERT(crc32c(in.subspan(crc_start_bytes, h.total_bytes() - crc_start_bytes)) == h.crc);
    const bytes_view batch = in.first(h.total_bytes());
    if (h.codec() == compression::none) {
        check_valid_uncompressed(batch, h);
    } else {
        record_iterator it(batch);
        record_view rv;
        SLUICE_ASSERT(it.next(rv) == errc::unsupported);
    }

    // Stamping (outside the CRC) keeps the batch valid.
    static std::vector<std::byte> copy;
    copy.assign(batch.begin(), batch.end());
    stamp_batch(copy, 0x7fff'ffff'0000'0000, 12345);
    batch_header sh;
    SLUICE_ASSERT(validate_batch(copy, &sh) == errc::ok && sh.base_offset == 0x7fff'ffff'0000'0000 &&
                  sh.partition_leader_epoch == 12345);
}

// A mutated batch almost never keeps a matching CRC, which would stop the fuzzer at the CRC
// check. So each input is also checked with its CRC recomputed, to reach the record decoder.
void check_with_fixed_crc(bytes_view in) {
    const auto decoded = decode_batch_header(in);
    if (!decoded || decoded->total_bytes() > in.size()) return;
    static std::vector<std::byte> fixed;
    fixed.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(decoded->total_bytes()));
    const bytes_view body = bytes_view(fixed).subspan(crc_start_bytes);
    store_be(fixed.data() + batch_offset::crc, crc32c(body));
    SLUICE_ASSERT(validate_batch(fixed) != errc::bad_crc, "recomputed CRC rejected");
    check_one(fixed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes_view in(reinterpret_cast<const std::byte*>(data), size);
    check_with_fixed_crc(in);
    // Treat the input as a segment: consecutive batches, as recovery scans them.
    for (int i = 0; i < 64 && !in.empty(); ++i) {
        check_one(in);
        batch_header h;
        if (validate_batch(in, &h) != errc::ok) break;
        in = in.subspan(h.total_bytes());
    }
    return 0;
}
