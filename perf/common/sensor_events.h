#pragma once
// The ~90-byte sensor events the capacity benchmarks replay (bench-pipeline-dpdk, and
// profile-pipeline for profilers), each with a sequence number, and their datagram payloads.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace sluice::perf {

inline std::string sensor_event(std::uint64_t seq) {
    char b[160];
    const int n = std::snprintf(
        b, sizeof b,
        R"({"sensor_id":%u,"seq":%llu,"ts":%llu,"temp":%.2f,"hum":%.1f,"site":"plant-%02u"})",
        static_cast<unsigned>(seq % 1000), static_cast<unsigned long long>(seq),
        1700000000000ULL + seq, 15.0 + static_cast<double>(seq % 1000) / 100.0,
        30.0 + static_cast<double>(seq % 500) / 10.0, static_cast<unsigned>(seq % 17));
    return std::string(b, static_cast<std::size_t>(n));
}

// `packets` payloads of `per_packet` events each (NDJSON lines, newline-terminated, when more
// than one), sequence numbers 0, 1, ... across them.
inline std::vector<std::string> sensor_payloads(std::size_t packets, unsigned per_packet) {
    std::vector<std::string> out;
    std::uint64_t seq = 0;
    for (std::size_t i = 0; i < packets; ++i) {
        std::string p;
        for (unsigned k = 0; k < per_packet; ++k) {
            p += sensor_event(seq++);
            if (per_packet > 1) p += '\n';
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace sluice::perf
