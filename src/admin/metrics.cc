#include <sluice/admin/metrics.h>
#include <sluice/base/assert.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

namespace sluice::admin {

namespace {

constexpr std::uint32_t chunk_slots = 512;  // 4 KiB per shard per chunk

// One shard's block of slots. Different shards' chunks are separate aligned allocations, so two
// writer threads never share a cache line.
struct alignas(64) chunk {
    detail::slot s[chunk_slots];
};
static_assert(sizeof(chunk) == chunk_slots * 8);
static_assert(alignof(chunk) == 64);

bool valid_metric_name(std::string_view n) {
    if (n.empty()) return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        const bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) return false;
    }
    return true;
}

bool valid_label_name(std::string_view n) {
    if (n.empty() || n.starts_with("__")) return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        const bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) return false;
    }
    return true;
}

// Renders `{a="x",b="y"` (no closing brace, so histograms can append le) or "" when empty.
std::string render_labels_open(const labels& l) {
    if (l.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) out += ',';
        out += l[i].first;
        out += "=\"";
        out += escape_label_value(l[i].second);
        out += '"';
    }
    return out;
}

std::string render_labels(const labels& l) {
    std::string s = render_labels_open(l);
    if (!s.empty()) s += '}';
    return s;
}

const char* type_text(metric_type t) {
    switch (t) {
        case metric_type::counter: return "counter";
        case metric_type::gauge: return "gauge";
        case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::trunc(v) && std::fabs(v) < 9.0e18) {
        return std::to_string(static_cast<long long>(v));
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

struct registry::impl {
    struct series {
        labels l;
        std::string label_text;       // rendered, with braces; "" when no labels
        std::string label_open;       // rendered without the closing brace
        std::uint32_t slot = 0;       // first slot index (same in every shard)
        std::uint32_t slot_count = 0; // 0 for callback series
        std::function<double()> fn;   // callback gauge
    };
    struct family {
        std::string name;
        std::string help;
        metric_type type;
        std::uint32_t buckets = 0;  // histograms
        std::vector<std::uint32_t> series_ids;
        std::vector<std::function<void(sample_sink&)>> collectors;
        struct hist_callback {
            std::string label_text;  // with braces, "" when no labels
            std::string label_open;  // without the closing brace
            std::function<histogram_snapshot()> fn;
        };
        std::vector<hist_callback> hist_callbacks;
    };

    mutable std::mutex mu;
    std::vector<family> families;
    std::unordered_map<std::string, std::uint32_t> family_by_name;
    std::vector<series> all_series;
    std::unordered_map<std::string, std::uint32_t> series_by_key;  // name + label_text
    std::vector<std::vector<std::unique_ptr<chunk>>> shard_chunks;
    std::uint32_t next_slot = 0;

    explicit impl(std::uint32_t shards) : shard_chunks(shards) {}

    detail::slot* slot_ptr(std::uint32_t shard, std::uint32_t index) {
        return &shard_chunks[shard][index / chunk_slots]->s[index % chunk_slots];
    }
    std::uint64_t load(std::uint32_t shard, std::uint32_t index) const {
        return shard_chunks[shard][index / chunk_slots]->s[index % chunk_slots].load(
            std::memory_order_relaxed);  // pairs with the writer's relaxed store
    }
    std::uint64_t sum(std::uint32_t index) const {
        std::uint64_t s = 0;
        for (std::uint32_t sh = 0; sh < shard_chunks.size(); ++sh) s += load(sh, index);
        return s;
    }

    // A run of n contiguous slots in one chunk, allocated in every shard.
    std::uint32_t alloc_slots(std::uint32_t n) {
        SLUICE_ASSERT(n >= 1 && n <= chunk_slots);
        const std::uint32_t in_chunk = next_slot % chunk_slots;
        if (in_chunk != 0 && in_chunk + n > chunk_slots) {
            next_slot += chunk_slots - in_chunk;  // a run never straddles two chunks
        }
        const std::uint32_t last_chunk = (next_slot + n - 1) / chunk_slots;
        while (shard_chunks[0].size() <= last_chunk) {
            for (auto& v : shard_chunks) v.push_back(std::make_unique<chunk>());  // zeroed
        }
        const std::uint32_t first = next_slot;
        next_slot += n;
        return first;
    }

    family& get_family(std::string_view name, std::string_view help, metric_type type,
                       std::uint32_t buckets) {
        SLUICE_ASSERT(valid_metric_name(name), "invalid metric name");
        auto it = family_by_name.find(std::string(name));
        if (it != family_by_name.end()) {
            family& f = families[it->second];
            SLUICE_ASSERT(f.type == type, "metric registered again with another type");
            SLUICE_ASSERT(f.help == help, "metric registered again with another help text");
            SLUICE_ASSERT(f.buckets == buckets, "histogram registered again with other buckets");
            return f;
        }
        family_by_name.emplace(std::string(name), static_cast<std::uint32_t>(families.size()));
        families.push_back(family{std::string(name), std::string(help), type, buckets, {}, {}, {}});
        return families.back();
    }

    // Returns the series id; `slot_count` 0 = callback series.
    std::uint32_t add_series(std::string_view name, std::string_view help, metric_type type,
                             labels l, std::uint32_t slot_count, std::uint32_t buckets,
                             std::function<double()> fn) {
        for (const auto& [k, v] : l) {
            SLUICE_ASSERT(valid_label_name(k), "invalid label name");
            SLUICE_ASSERT(!(type == metric_type::histogram && k == "le"), "label le is reserved");
        }
        std::lock_guard lock(mu);
        family& f = get_family(name, help, type, buckets);
        std::string text = render_labels(l);
        std::string key = std::string(name) + text;
        if (auto it = series_by_key.find(key); it != series_by_key.end()) {
            SLUICE_ASSERT(!fn && all_series[it->second].slot_count == slot_count,
                          "series registered twice with different kinds");
            return it->second;
        }
        series s;
        s.label_open = render_labels_open(l);
        s.label_text = std::move(text);
        s.l = std::move(l);
        s.slot_count = slot_count;
        if (slot_count) s.slot = alloc_slots(slot_count);
        s.fn = std::move(fn);
        const auto id = static_cast<std::uint32_t>(all_series.size());
        all_series.push_back(std::move(s));
        series_by_key.emplace(std::move(key), id);
        f.series_ids.push_back(id);
        return id;
    }
};

registry::registry(std::uint32_t shards) : _shards(shards), _impl(std::make_unique<impl>(shards)) {
    SLUICE_ASSERT(shards >= 1 && shards <= 4096);
}

registry::~registry() = default;

counter_id registry::counter(std::string_view name, std::string_view help, labels l) {
    return {_impl->add_series(name, help, metric_type::counter, std::move(l), 1, 0, {})};
}

gauge_id registry::gauge(std::string_view name, std::string_view help, labels l) {
    return {_impl->add_series(name, help, metric_type::gauge, std::move(l), 1, 0, {})};
}

histogram_id registry::histogram(std::string_view name, std::string_view help, labels l,
                                 std::uint32_t bucket_count) {
    SLUICE_ASSERT(bucket_count >= 1 && bucket_count <= 63);
    return {_impl->add_series(name, help, metric_type::histogram, std::move(l), bucket_count + 2,
                              bucket_count, {})};
}

void registry::callback_gauge(std::string_view name, std::string_view help, labels l,
                              std::function<double()> fn) {
    SLUICE_ASSERT(fn != nullptr);
    (void)_impl->add_series(name, help, metric_type::gauge, std::move(l), 0, 0, std::move(fn));
}

void registry::collector(std::string_view name, std::string_view help, metric_type type,
                         std::function<void(sample_sink&)> fn) {
    SLUICE_ASSERT(type != metric_type::histogram, "collectors emit counters or gauges");
    SLUICE_ASSERT(fn != nullptr);
    std::lock_guard lock(_impl->mu);
    _impl->get_family(name, help, type, 0).collectors.push_back(std::move(fn));
}

void registry::callback_histogram(std::string_view name, std::string_view help, labels l,
                                  std::function<histogram_snapshot()> fn) {
    SLUICE_ASSERT(fn != nullptr);
    for (const auto& [k, v] : l) {
        SLUICE_ASSERT(valid_label_name(k), "invalid label name");
        SLUICE_ASSERT(k != "le", "label le is reserved");
    }
    std::lock_guard lock(_impl->mu);
    // buckets = 0 marks the family as callback-only: a cell histogram of the same name asserts.
    _impl->get_family(name, help, metric_type::histogram, 0)
        .hist_callbacks.push_back({render_labels(l), render_labels_open(l), std::move(fn)});
}

counter_cell registry::cell(counter_id id, std::uint32_t shard) {
    std::lock_guard lock(_impl->mu);
    SLUICE_ASSERT(id.series < _impl->all_series.size() && shard < _shards);
    return counter_cell(_impl->slot_ptr(shard, _impl->all_series[id.series].slot));
}

gauge_cell registry::cell(gauge_id id, std::uint32_t shard) {
    std::lock_guard lock(_impl->mu);
    SLUICE_ASSERT(id.series < _impl->all_series.size() && shard < _shards);
    return gauge_cell(_impl->slot_ptr(shard, _impl->all_series[id.series].slot));
}

histogram_cell registry::cell(histogram_id id, std::uint32_t shard) {
    std::lock_guard lock(_impl->mu);
    SLUICE_ASSERT(id.series < _impl->all_series.size() && shard < _shards);
    const auto& s = _impl->all_series[id.series];
    return histogram_cell(_impl->slot_ptr(shard, s.slot), s.slot_count - 2);
}

std::uint64_t registry::value(counter_id id) const {
    std::lock_guard lock(_impl->mu);
    SLUICE_ASSERT(id.series < _impl->all_series.size());
    return _impl->sum(_impl->all_series[id.series].slot);
}

std::int64_t registry::value(gauge_id id) const {
    std::lock_guard lock(_impl->mu);
    SLUICE_ASSERT(id.series < _impl->all_series.size());
    return static_cast<std::int64_t>(_impl->sum(_impl->all_series[id.series].slot));
}

namespace {
// Shortest decimal that reads back as `v` (so le="0.001048576", not 0.0010485760000000001).
std::string format_bound(double v) {
    if (!std::isfinite(v) || (v == std::trunc(v) && std::fabs(v) < 9.0e18)) return format_value(v);
    char buf[32];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

class text_sink final : public sample_sink {
public:
    text_sink(std::string& out, const std::string& name) : _out(out), _name(name) {}
    void sample(const labels& l, double value) override {
        _out += _name;
        _out += render_labels(l);
        _out += ' ';
        _out += format_value(value);
        _out += '\n';
    }

private:
    std::string& _out;
    const std::string& _name;
};
}  // namespace

std::string registry::exposition() const {
    std::lock_guard lock(_impl->mu);
    std::string out;
    out.reserve(4096);
    for (const auto& f : _impl->families) {
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + " " + type_text(f.type) + "\n";
        for (std::uint32_t id : f.series_ids) {
            const auto& s = _impl->all_series[id];
            if (f.type == metric_type::histogram) {
                std::uint64_t cum = 0;
                const std::string open = s.label_open.empty() ? "{" : s.label_open + ",";
                for (std::uint32_t b = 0; b <= f.buckets; ++b) {
                    cum += _impl->sum(s.slot + b);
                    out += f.name + "_bucket" + open + "le=\"";
                    out += b == f.buckets ? std::string("+Inf")
                                          : std::to_string(std::uint64_t{1} << b);
                    out += "\"} " + std::to_string(cum) + "\n";
                }
                out += f.name + "_sum" + s.label_text + " " +
                       std::to_string(_impl->sum(s.slot + f.buckets + 1)) + "\n";
                out += f.name + "_count" + s.label_text + " " + std::to_string(cum) + "\n";
            } else if (s.fn) {
                out += f.name + s.label_text + " " + format_value(s.fn()) + "\n";
            } else if (f.type == metric_type::counter) {
                out += f.name + s.label_text + " " + std::to_string(_impl->sum(s.slot)) + "\n";
            } else {
                out += f.name + s.label_text + " " +
                       std::to_string(static_cast<std::int64_t>(_impl->sum(s.slot))) + "\n";
            }
        }
        for (const auto& c : f.collectors) {
            text_sink sink(out, f.name);
            c(sink);
        }
        for (const auto& h : f.hist_callbacks) {
            const histogram_snapshot snap = h.fn();
            const std::string open = h.label_open.empty() ? "{" : h.label_open + ",";
            std::uint64_t cum = 0;
            for (std::size_t b = 0; b <= snap.upper_bounds.size(); ++b) {
                cum += b < snap.counts.size() ? snap.counts[b] : 0;
                out += f.name + "_bucket" + open + "le=\"";
                out += b == snap.upper_bounds.size() ? std::string("+Inf")
                                                     : format_bound(snap.upper_bounds[b]);
                out += "\"} " + std::to_string(cum) + "\n";
            }
            out += f.name + "_sum" + h.label_text + " " + format_value(snap.sum) + "\n";
            out += f.name + "_count" + h.label_text + " " + std::to_string(cum) + "\n";
        }
    }
    return out;
}

}  // namespace sluice::admin
