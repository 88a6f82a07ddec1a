#pragma once
// Shared helpers for the log tests.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

namespace sluice::log::testing {

// A batch of `n` records with values "<prefix><first + i>" and keys "k<first + i>".
inline std::vector<std::byte> make_batch(const std::string& prefix, int first, int n,
                                         std::int64_t ts = 1'700'000'000'000) {
    std::vector<std::byte> buf(64 * 1024);
    batch_builder b(buf);
    for (int i = 0; i < n; ++i) {
        std::string v = prefix + std::to_string(first + i);
        std::string k = "k" + std::to_string(first + i);
        bool ok = b.append(ts + i, as_bytes(k), as_bytes(v));
        if (!ok) std::abort();
    }
    auto done = b.finish();
    return {done.begin(), done.end()};
}

struct read_record {
    std::int64_t offset = 0;
    std::int64_t timestamp = 0;
    std::optional<std::string> key;  // nullopt = null key
    std::string value;               // empty for a null value
    std::map<std::string, std::string> headers;
};

// Reads every record of a partition from `from` to the high watermark, checking each batch
// (CRC and record layout). A problem stops the read and is described in *problem.
inline std::vector<read_record> read_all(const log_store& s, partition_index p, std::int64_t from = -1,
                                         std::string* problem = nullptr) {
    std::vector<read_record> out;
    std::vector<std::byte> buf(1 << 20);
    std::int64_t pos = from >= 0 ? from : s.log_start_offset(p);
    const std::int64_t hwm = s.high_watermark(p);
    while (pos < hwm) {
        auto n = s.read(p, pos, buf);
        if (!n || *n == 0) {
            if (problem) *problem = "read failed at " + std::to_string(pos);
            break;
        }
        std::size_t at = 0;
        while (at < *n) {
            batch_header h;
            bytes_view rest(buf.data() + at, *n - at);
            errc e = validate_batch(rest, &h);
            if (e != errc::ok) {
                if (problem) *problem = "invalid batch: " + std::string(to_string(e));
                return out;
            }
            record_iterator it(rest.first(h.total_bytes()));
            record_view r;
            while (it.next(r) == errc::ok) {
                if (r.offset < pos) continue;
                read_record rec;
                rec.offset = r.offset;
                rec.timestamp = r.timestamp;
                if (r.key) rec.key = std::string(as_chars(*r.key));
                if (r.value) rec.value = std::string(as_chars(*r.value));
                std::size_t hp = 0;
                for (std::int32_t i = 0; i < r.headers_count; ++i) {
                    record_header_view hv;
                    if (record_iterator::next_header(r.headers, hp, hv) != errc::ok) break;
                    rec.headers[std::string(hv.key)] =
                        hv.value ? std::string(as_chars(*hv.value)) : std::string();
                }
                out.push_back(std::move(rec));
            }
            at += h.total_bytes();
            pos = h.next_offset();
        }
    }
    return out;
}

// Waits (bounded) until pred() holds.
template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pred();
}

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        char tmpl[] = "/tmp/sluice-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace sluice::log::testing
