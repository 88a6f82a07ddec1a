#pragma once
// Metrics registry for sluice: per-core (per-shard) counter blocks written by one thread each
// with relaxed atomics and summed at scrape time, histograms with fixed log2 buckets, and
// callback gauges evaluated at scrape time. Exposed as Prometheus text format 0.0.4.
//
// Usage:
//   start-up (any thread, allocates):
//     admin::registry reg(/*shards=*/n_pipelines + 2);
//     auto id = reg.counter("sluice_events_received_total", "Events received.", {{"topic", "events"}});
//     admin::counter_cell c = reg.cell(id, /*shard=*/core_index);   // one per writer thread
//   hot path (the one thread that owns `shard`): c.add(burst_n);      // no lookup, no allocation
//   scrape (control thread): std::string text = reg.exposition();
//
// Threading: registration and scrapes take an internal mutex. Each cell is written by exactly
// one thread (the shard's owner) with a relaxed load + relaxed store, no locked RMW; the scrape
// reads every shard's cell with relaxed loads and sums. Cells of different shards never share a
// cache line. A cell that several threads must write uses the *_shared() variants (fetch_add).
// Cells stay valid for the registry's lifetime.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::admin {

// Label pairs in the order they are printed, e.g. {{"topic", "events"}, {"reason", "not_json"}}.
using labels = std::vector<std::pair<std::string, std::string>>;

namespace detail {
// One 64-bit slot per cell. Relaxed ordering everywhere: metrics carry no happens-before; a
// scrape may see a value a few bursts old. Writer store pairs with the scraper's load.
using slot = std::atomic<std::uint64_t>;
static_assert(slot::is_always_lock_free);
inline slot g_discard_slots[64];  // target of default-constructed cells: bumps go nowhere useful
}  // namespace detail

// A monotonically increasing counter cell owned by one thread.
class counter_cell {
public:
    counter_cell() noexcept : _s(&detail::g_discard_slots[0]) {}
    explicit counter_cell(detail::slot* s) noexcept : _s(s) {}

    // Single writer (the shard's thread): plain load+store, no lock prefix.
    void add(std::uint64_t n = 1) const noexcept {
        _s->store(_s->load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void inc() const noexcept { add(1); }
    // Any number of writers.
    void add_shared(std::uint64_t n = 1) const noexcept {
        _s->fetch_add(n, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t value() const noexcept {
        return _s->load(std::memory_order_relaxed);
    }

private:
    detail::slot* _s;
};

// A gauge cell. The exported gauge is the sum over all shards' cells (two's complement), so e.g.
// in_flight can be +1'd by a pipeline shard and -1'd by the writer's shard.
class gauge_cell {
public:
    gauge_cell() noexcept : _s(&detail::g_discard_slots[0]) {}
    explicit gauge_cell(detail::slot* s) noexcept : _s(s) {}

    void add(std::int64_t d) const noexcept {
        _s->store(_s->load(std::memory_order_relaxed) + static_cast<std::uint64_t>(d),
                  std::memory_order_relaxed);
    }
    void sub(std::int64_t d) const noexcept { add(-d); }
    // Only meaningful when this is the only shard that writes the gauge.
    void set(std::int64_t v) const noexcept {
        _s->store(static_cast<std::uint64_t>(v), std::memory_order_relaxed);
    }
    void add_shared(std::int64_t d) const noexcept {
        _s->fetch_add(static_cast<std::uint64_t>(d), std::memory_order_relaxed);
    }
    [[nodiscard]] std::int64_t value() const noexcept {
        return static_cast<std::int64_t>(_s->load(std::memory_order_relaxed));
    }

private:
    detail::slot* _s;
};

// Histogram with `bucket_count` log2 buckets: bucket i counts observations v <= 2^i (i = 0 ..
// bucket_count-1, printed as le="1","2","4",...), plus +Inf. Values are unsigned integers in the
// histogram's unit (e.g. microseconds). Cells layout: [bucket_count + 1 buckets][sum].
class histogram_cell {
public:
    histogram_cell() noexcept : _s(&detail::g_discard_slots[0]), _buckets(0) {}
    histogram_cell(detail::slot* s, std::uint32_t bucket_count) noexcept
        : _s(s), _buckets(bucket_count) {}

    [[nodiscard]] static std::uint32_t bucket_of(std::uint64_t v, std::uint32_t bucket_count) noexcept {
        const std::uint32_t b = v <= 1 ? 0u : static_cast<std::uint32_t>(std::bit_width(v - 1));
        return b < bucket_count ? b : bucket_count;  // bucket_count = the +Inf bucket
    }
    void observe(std::uint64_t v) const noexcept {
        detail::slot& b = _s[bucket_of(v, _buckets)];
        b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        detail::slot& sum = _s[_buckets + 1];
        sum.store(sum.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    }
    void observe_shared(std::uint64_t v) const noexcept {
        _s[bucket_of(v, _buckets)].fetch_add(1, std::memory_order_relaxed);
        _s[_buckets + 1].fetch_add(v, std::memory_order_relaxed);
    }

private:
    detail::slot* _s;
    std::uint32_t _buckets;
};

// Opaque ids returned by registration; turn them into per-shard cells with registry::cell().
struct counter_id { std::uint32_t series = ~0u; };
struct gauge_id { std::uint32_t series = ~0u; };
struct histogram_id { std::uint32_t series = ~0u; };

// Receives samples from a collector callback at scrape time.
class sample_sink {
public:
    virtual ~sample_sink() = default;
    virtual void sample(const labels& l, double value) = 0;
};

enum class metric_type : std::uint8_t { counter, gauge, histogram };

// A histogram read at scrape time from a component's own buckets (see callback_histogram()).
struct histogram_snapshot {
    std::vector<double> upper_bounds;    // ascending, finite `le` bounds; +Inf is implied
    std::vector<std::uint64_t> counts;   // per bucket, NOT cumulative: upper_bounds.size() + 1
                                         // entries, the last one counts values above every bound
    double sum = 0;                      // sum of all observed values
};

class registry {
public:
    // `shards`: number of independent writer threads (pipelines + writer + control...). Cells are
    // addressed by shard index 0..shards-1.
    explicit registry(std::uint32_t shards = 1);
    ~registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    [[nodiscard]] std::uint32_t shards() const noexcept { return _shards; }

    // Registration (start-up, allocates). Registering the same name+labels again returns the same
    // id. A name must keep one type and one help text; names must match
    // [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (asserted: these are bugs).
    counter_id counter(std::string_view name, std::string_view help, labels l = {});
    gauge_id gauge(std::string_view name, std::string_view help, labels l = {});
    histogram_id histogram(std::string_view name, std::string_view help, labels l = {},
                           std::uint32_t bucket_count = 24);

    // A gauge whose value is computed at scrape time (on the scraping thread, under the
    // registry's lock; must not call back into the registry).
    void callback_gauge(std::string_view name, std::string_view help, labels l,
                        std::function<double()> fn);
    // A collector that emits any number of series of one family at scrape time (e.g. one
    // high watermark per partition). `type` is counter or gauge.
    void collector(std::string_view name, std::string_view help, metric_type type,
                   std::function<void(sample_sink&)> fn);

    // A histogram whose buckets are read at scrape time (on the scraping thread, under the
    // registry's lock; must not call back into the registry). Printed like cell histograms
    // (_bucket{le=...} cumulative, _sum, _count) but with the snapshot's own bounds, so e.g. a
    // nanosecond log2 histogram can be exported in seconds.
    void callback_histogram(std::string_view name, std::string_view help, labels l,
                            std::function<histogram_snapshot()> fn);

    // Per-shard cells (shard < shards()). Stable for the registry's lifetime.
    [[nodiscard]] counter_cell cell(counter_id id, std::uint32_t shard);
    [[nodiscard]] gauge_cell cell(gauge_id id, std::uint32_t shard);
    [[nodiscard]] histogram_cell cell(histogram_id id, std::uint32_t shard);

    // Sums over shards (for tests, `stat`, status JSON).
    [[nodiscard]] std::uint64_t value(counter_id id) const;
    [[nodiscard]] std::int64_t value(gauge_id id) const;

    // Prometheus text exposition format 0.0.4: families in registration order, series in
    // registration order within a family.
    [[nodiscard]] std::string exposition() const;

    // Content-Type of exposition().
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    struct impl;
    std::uint32_t _shards;
    std::unique_ptr<impl> _impl;
};

// Escaping helpers (exposed for tests): label values escape \ " and newline; HELP escapes \ and
// newline.
[[nodiscard]] std::string escape_label_value(std::string_view v);
[[nodiscard]] std::string escape_help(std::string_view v);
// Prometheus float formatting: integers without exponent, NaN, +Inf, -Inf.
[[nodiscard]] std::string format_value(double v);

}  // namespace sluice::admin
