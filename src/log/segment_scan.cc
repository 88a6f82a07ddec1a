#include <sluice/log/segment_scan.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace sluice::log {

namespace {
constexpr std::size_t chunk_bytes = 1 << 20;

bool all_zero(bytes_view b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

constexpr std::uint64_t block_bytes = 4096;

// See scan_result::torn_tail.
bool unwritten_block_in_batch(storage& st, int fd, std::uint64_t at, std::uint64_t file_bytes) {
    std::uint64_t end = std::min(file_bytes, at + 2 * block_bytes);
    std::byte head[batch_header_bytes];
    if (auto got = st.read(fd, at, mutable_bytes(head, sizeof head)); got && *got == sizeof head) {
        if (auto h = decode_batch_header(bytes_view(head, sizeof head)); h && at + h->total_bytes() <= file_bytes)
            end = at + h->total_bytes();
    }
    if (end <= at || end - at > (std::uint64_t{64} << 20)) return false;
    std::vector<std::byte> b(static_cast<std::size_t>(end - at));
    auto got = st.read(fd, at, mutable_bytes(b.data(), b.size()));
    if (!got || *got != b.size()) return false;
    for (std::uint64_t blk = (at + block_bytes - 1) / block_bytes * block_bytes; blk < end; blk += block_bytes) {
        const std::uint64_t stop = std::min(end, blk + block_bytes);
        const bool to_end = stop == end;  // the batch's last bytes, from a block boundary on
        if ((to_end || stop - blk == block_bytes) &&
            all_zero(bytes_view(b.data() + (blk - at), static_cast<std::size_t>(stop - blk))))
            return true;
    }
    return false;
}
}  // namespace

std::string segment_base_name(std::int64_t base_offset) {
    return fmt::format("{:020d}", base_offset);
}

std::optional<std::int64_t> parse_segment_log_name(std::string_view name) noexcept {
    if (name.size() != 24 || !name.ends_with(".log")) return std::nullopt;
    std::int64_t base = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + 20, base);
    if (ec != std::errc() || p != name.data() + 20 || base < 0) return std::nullopt;
    return base;
}

scan_result scan_segment(storage& st, int fd, const scan_options& opts, const batch_visitor& visit) {
    scan_result r;
    auto size = st.size(fd);
    if (!size) {
        r.stop = errc::io_error;
        return r;
    }
    r.file_bytes = *size;
    r.next_offset = opts.expected_base;
    std::vector<std::byte> buf(chunk_bytes);
    std::uint64_t pos = 0;
    std::int64_t expected = opts.expected_base;
    while (pos < r.file_bytes) {
        std::uint64_t left = r.file_bytes - pos;
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
        auto got = st.read(fd, pos, mutable_bytes(buf.data(), want));
        if (!got) {
            r.stop = errc::io_error;
            break;
        }
        bytes_view chunk(buf.data(), *got);
        std::size_t at = 0;
        bool need_more = false;
        while (at < chunk.size()) {
            bytes_view rest = chunk.subspan(at);
            if (rest.size() < batch_header_bytes && *got == want && pos + chunk.size() < r.file_bytes) {
                need_more = true;  // header straddles the chunk: re-read from here
                break;
            }
            auto h = decode_batch_header(rest);
            if (!h) {
                r.stop = h.error();
                break;
            }
            std::size_t total = h->total_bytes();
            if (total > rest.size()) {
                if (pos + at + total <= r.file_bytes) {
                    if (total > buf.size()) buf.resize(total);
                    need_more = true;  // batch straddles the chunk
                } else {
                    r.stop = errc::truncated;
                }
                break;
            }
            if (expected >= 0 && h->base_offset != expected) {
                r.stop = errc::out_of_range;
                break;
            }
            if (opts.verify_crc) {
                errc e = validate_batch(rest.first(total));
                if (e != errc::ok) {
                    r.stop = e;
                    break;
                }
            }
            if (visit) visit(*h, pos + at);
            if (r.first_offset < 0) r.first_offset = h->base_offset;
            expected = h->next_offset();
            r.next_offset = expected;
            r.batches++;
            r.records += static_cast<std::uint64_t>(h->records_count);
            r.max_timestamp = std::max(r.max_timestamp, h->max_timestamp);
            at += total;
            r.valid_bytes = pos + at;
        }
        if (r.stop != errc::ok) break;
        if (!need_more && at >= chunk.size()) {
            pos += at;
            continue;
        }
        if (!need_more) break;
        pos += at;
    }
    if (r.stop != errc::ok) {
        r.stop_pos = r.valid_bytes;
        if (opts.allow_zero_tail) {
            // A preallocated, never-written tail reads as zeros: that is a clean end.
            std::uint64_t p = r.valid_bytes;
            bool zeros = true;
            while (p < r.file_bytes && zeros) {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(r.file_bytes - p, buf.size()));
                auto got = st.read(fd, p, mutable_bytes(buf.data(), n));
                if (!got || *got == 0) break;
                zeros = all_zero(bytes_view(buf.data(), *got));
                p += *got;
            }
            if (zeros) r.stop = errc::ok;
        }
        if (opts.classify_torn_tail && r.stop != errc::ok && r.stop != errc::io_error)
            r.torn_tail = unwritten_block_in_batch(st, fd, r.stop_pos, r.file_bytes);
    }
    return r;
}

}  // namespace sluice::log
