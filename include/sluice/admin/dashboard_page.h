#pragma once
// The status web page served at GET / by the admin listener: one self-contained HTML document
// (inline CSS and JS, charts drawn on <canvas>, no external resources) that polls /v1/status
// and /metrics every second and shows the figures of `sluice stat` with charts of the last
// minutes (events/s, drops and rejects, fdatasync latency, disk bandwidth, consumer lag).

#include <string_view>

namespace sluice::admin {

// The page (static storage; text/html; charset=utf-8).
[[nodiscard]] std::string_view dashboard_page() noexcept;

}  // namespace sluice::admin
