#pragma once

#include <cstdint>
#include <ctime>

namespace sluice {

// Monotonic nanoseconds, for latencies and timers.
[[nodiscard]] inline std::int64_t mono_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Wall-clock milliseconds since the epoch, for Kafka timestamps.
[[nodiscard]] inline std::int64_t wall_ms() noexcept {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace sluice
