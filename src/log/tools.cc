// `sluice log verify` and `sluice log dump`.

#include <sluice/log/tools.h>

#include <sluice/base/json.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <vector>

#include <sluice/log/record_batch.h>
#include <sluice/log/segment_scan.h>
#include <sluice/log/storage.h>

namespace sluice::log {

namespace {

struct partition_dir {
    std::string topic;
    std::int32_t partition;
    std::string path;
    std::vector<std::int64_t> segments;  // base offsets, sorted
};

// Finds <topic>-<n> directories holding .log files.
std::vector<partition_dir> find_partitions(storage& st, const std::string& dir, std::ostream& err,
                                           bool& ok) {
    std::vector<partition_dir> out;
    auto names = st.list(dir);
    if (!names) {
        err << "sluice log: cannot read directory " << dir << ": " << to_string(names.error()) << "\n";
        ok = false;
        return out;
    }
    for (auto& n : *names) {
        auto dash = n.rfind('-');
        if (dash == std::string::npos || dash == 0 || dash + 1 == n.size()) continue;
        std::int32_t part;
        auto [p, ec] = std::from_chars(n.data() + dash + 1, n.data() + n.size(), part);
        if (ec != std::errc() || p != n.data() + n.size() || part < 0) continue;
        auto files = st.list(dir + "/" + n);
        if (!files) continue;
        partition_dir pd{n.substr(0, dash), part, dir + "/" + n, {}};
        for (auto& f : *files) {
            if (auto base = parse_segment_log_name(f)) pd.segments.push_back(*base);
        }
        if (pd.segments.empty()) continue;
        std::sort(pd.segments.begin(), pd.segments.end());
        out.push_back(std::move(pd));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
        return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
    });
    return out;
}

std::string segment_path(const partition_dir& pd, std::int64_t base) {
    return pd.path + "/" + segment_base_name(base) + ".log";
}

}  // namespace

int verify_data_dir(const verify_options& opts, std::ostream& out, std::ostream& err) {
    std::string e;
    auto st = make_file_storage(&e);
    if (!st) {
        err << "sluice log verify: " << e << "\n";
        return 2;
    }
    bool ok = true;
    auto parts = find_partitions(*st, opts.data_dir, err, ok);
    if (!ok) return 2;
    bool intact = true;
    for (auto& pd : parts) {
        std::int64_t expected = pd.segments.front();
        std::int64_t first = -1, next = expected;
        std::uint64_t batches = 0, records = 0, bytes = 0;
        std::string status = "ok";
        std::string torn_note;  // with status "ok": the crash tail it passed over
        for (std::int64_t base : pd.segments) {
            if (base != expected) {
                status = fmt::format("gap: segment {} but expected {}", base, expected);
                break;
            }
            auto fd = st->open(segment_path(pd, base), open_mode::read_only);
            if (!fd) {
                status = fmt::format("cannot open segment {}", base);
                break;
            }
            scan_options so;
            so.expected_base = base;
            so.classify_torn_tail = true;
            auto r = scan_segment(*st, *fd, so);
            st->close(*fd);
            batches += r.batches;
            records += r.records;
            bytes += r.valid_bytes;
            if (first < 0 && r.first_offset >= 0) first = r.first_offset;
            if (r.batches) next = r.next_offset;
            expected = next;
            if (r.stop != errc::ok) {
                if (r.torn_tail && base == pd.segments.back()) {
                    // A crash's torn tail in the active segment: written after the last
                    // fdatasync, never durable or visible; the next start truncates it.
                    torn_note = fmt::format(", torn tail at byte {} of segment {} (an incomplete "
                                            "write after the last sync; truncated at the next start)",
                                            r.stop_pos, base);
                    break;
                }
                status = fmt::format("damaged: segment {} byte {}: {}", base, r.stop_pos,
                                     to_string(r.stop));
                break;
            }
        }
        if (status != "ok") intact = false;
        out << fmt::format("{} {} offsets [{}, {}) batches {} records {} segments {} bytes {} {}\n",
                           pd.topic, pd.partition, first < 0 ? pd.segments.front() : first, next,
                           batches, records, pd.segments.size(), bytes, status + torn_note);
    }
    out << fmt::format("{} partitions, {}\n", parts.size(), intact ? "all intact" : "DAMAGED");
    return intact ? 0 : 1;
}

int dump_data_dir(const dump_options& opts, std::ostream& out, std::ostream& err) {
    std::string e;
    auto st = make_file_storage(&e);
    if (!st) {
        err << "sluice log dump: " << e << "\n";
        return 2;
    }
    bool ok = true;
    auto parts = find_partitions(*st, opts.data_dir, err, ok);
    if (!ok) return 2;
    int rc = 0;
    bool matched = false;
    std::vector<std::byte> buf;
    std::string line;
    for (auto& pd : parts) {
        if (opts.topic && pd.topic != *opts.topic) continue;
        if (opts.partition && pd.partition != *opts.partition) continue;
        matched = true;
        for (std::size_t si = 0; si < pd.segments.size(); ++si) {
            std::int64_t base = pd.segments[si];
            if (si + 1 < pd.segments.size() && pd.segments[si + 1] <= opts.from_offset) continue;
            auto fd = st->open(segment_path(pd, base), open_mode::read_only);
            if (!fd) continue;
            std::uint64_t pos = 0;
            auto size = st->size(*fd);
            std::uint64_t end = size ? *size : 0;
            if (opts.format == dump_format::text)
                out << fmt::format("# {}-{} segment {}\n", pd.topic, pd.partition, base);
            while (pos + batch_header_bytes <= end) {
                buf.resize(batch_header_bytes);
                auto got = st->read(*fd, pos, buf);
                if (!got || *got != batch_header_bytes) break;
                auto h = decode_batch_header(buf);
                if (!h) {
                    bool zero = std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0}; });
                    if (!zero) {
                        err << fmt::format("{}: damaged at byte {}: {}\n", segment_path(pd, base), pos,
                                           to_string(h.error()));
                        rc = 1;
                    }
                    break;
                }
                buf.resize(h->total_bytes());
                got = st->read(*fd, pos, buf);
                if (!got || *got != buf.size()) {
                    err << fmt::format("{}: truncated batch at byte {}\n", segment_path(pd, base), pos);
                    rc = 1;
                    break;
                }
                errc v = validate_batch(buf);
                if (v != errc::ok) {
                    err << fmt::format("{}: damaged batch at byte {}: {}\n", segment_path(pd, base), pos,
                                       to_string(v));
                    rc = 1;
                    break;
                }
                std::uint64_t batch_pos = pos;
                pos += h->total_bytes();
                if (h->last_offset() < opts.from_offset) continue;
                if (opts.format == dump_format::text) {
                    out << fmt::format(
                        "baseOffset: {} lastOffset: {} count: {} position: {} size: {} "
                        "maxTimestamp: {} compression: {} crc: {} isvalid: true\n",
                        h->base_offset, h->last_offset(), h->records_count, batch_pos,
                        h->total_bytes(), h->max_timestamp, static_cast<int>(h->codec()), h->crc);
                }
                if (h->codec() != compression::none) {
                    err << fmt::format("{}-{}: batch at offset {} is compressed (codec {}); records "
                                       "not shown\n",
                                       pd.topic, pd.partition, h->base_offset, static_cast<int>(h->codec()));
                    continue;
                }
                record_iterator it(buf);
                record_view r;
                while (it.next(r) == errc::ok) {
                    if (r.offset < opts.from_offset) continue;
                    line.clear();
                    if (opts.format == dump_format::json) {
                        line += fmt::format("{{\"topic\":\"{}\",\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":",
                                            pd.topic, pd.partition, r.offset, r.timestamp);
                        if (r.key) append_json_string(line, as_chars(*r.key));
                        else line += "null";
                        line += ",\"value\":";
                        if (r.value) append_json_string(line, as_chars(*r.value));
                        else line += "null";
                        line += "}\n";
                    } else {
                        line += fmt::format("| offset: {} CreateTime: {} keySize: {} valueSize: {} key: {} payload: {}\n",
                                            r.offset, r.timestamp,
                                            r.key ? static_cast<long>(r.key->size()) : -1L,
                                            r.value ? static_cast<long>(r.value->size()) : -1L,
                                            r.key ? as_chars(*r.key) : std::string_view("null"),
                                            r.value ? as_chars(*r.value) : std::string_view("null"));
                    }
                    out << line;
                }
            }
            st->close(*fd);
        }
    }
    if (!matched && (opts.topic || opts.partition)) {
        err << "sluice log dump: no such topic/partition in " << opts.data_dir << "\n";
        return 2;
    }
    return rc;
}

}  // namespace sluice::log
