#include <sluice/admin/stat_view.h>
#include <sluice/base/json.h>

#include <simdjson.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace sluice::admin {

// ---------------------------------------------------------------------------------------------
// Prometheus text

const std::string* prom_sample::label(std::string_view key) const noexcept {
    for (const auto& [k, v] : labels)
        if (k == key) return &v;
    return nullptr;
}

namespace {

bool parse_prom_line(std::string_view line, prom_sample& s) {
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ' && line[i] != '\t') ++i;
    if (i == 0) return false;
    s.name.assign(line.substr(0, i));
    s.labels.clear();
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
            std::size_t k0 = i;
            while (i < line.size() && line[i] != '=') ++i;
            if (i + 1 >= line.size() || line[i + 1] != '"') return false;
            std::string key(line.substr(k0, i - k0));
            i += 2;
            std::string val;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\' && i + 1 < line.size()) {
                    ++i;
                    val += line[i] == 'n' ? '\n' : line[i];
                } else {
                    val += line[i];
                }
                ++i;
            }
            if (i >= line.size()) return false;
            ++i;  // closing quote
            s.labels.emplace_back(std::move(key), std::move(val));
            if (i < line.size() && line[i] == ',') ++i;
        }
        if (i >= line.size()) return false;
        ++i;  // '}'
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) return false;
    std::size_t v0 = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    const std::string v(line.substr(v0, i - v0));
    char* end = nullptr;
    s.value = std::strtod(v.c_str(), &end);
    return end && *end == '\0';
}

}  // namespace

std::vector<prom_sample> parse_prometheus_text(std::string_view text) {
    std::vector<prom_sample> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line[0] == '#') continue;
        prom_sample s;
        if (parse_prom_line(line, s)) out.push_back(std::move(s));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Status JSON -> sample

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

double num(const element& e) {
    double d = 0;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    if (e.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
    if (e.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
    if (e.get_double().get(d) == simdjson::SUCCESS) return d;
    bool b = false;
    if (e.get_bool().get(b) == simdjson::SUCCESS) return b ? 1 : 0;
    return 0;
}

double field(const object& o, std::string_view key, double dflt = 0) {
    element e;
    if (o.at_key(key).get(e) != simdjson::SUCCESS) return dflt;
    return num(e);
}

std::string str_field(const object& o, std::string_view key) {
    std::string_view s;
    if (o.at_key(key).get_string().get(s) != simdjson::SUCCESS) return {};
    return std::string(s);
}

reason_counts reasons(const object& o, std::string_view key) {
    reason_counts out;
    object r;
    if (o.at_key(key).get_object().get(r) != simdjson::SUCCESS) return out;
    for (auto [k, v] : r) out[std::string(k)] += num(v);
    return out;
}

array arr(const object& o, std::string_view key) {
    array a;
    if (o.at_key(key).get_array().get(a) != simdjson::SUCCESS) return {};
    return a;
}

bool has_array(const object& o, std::string_view key) {
    array a;
    return o.at_key(key).get_array().get(a) == simdjson::SUCCESS;
}

}  // namespace

bool parse_stat_sample(std::string_view status_json, std::string_view metrics_text, double t_s,
                       stat_sample* out, std::string* error) {
    simdjson::dom::parser parser;
    element doc;
    if (auto e = parser.parse(status_json.data(), status_json.size()).get(doc); e != simdjson::SUCCESS) {
        if (error) *error = std::string("status is not JSON: ") + simdjson::error_message(e);
        return false;
    }
    object root;
    if (doc.get_object().get(root) != simdjson::SUCCESS) {
        if (error) *error = "status is not a JSON object";
        return false;
    }
    stat_sample s;
    s.t_s = t_s;
    s.version = str_field(root, "version");
    s.uptime_s = field(root, "uptime_ms") / 1000.0;

    if (has_array(root, "cores")) {
        for (element ce : arr(root, "cores")) {
            object co;
            if (ce.get_object().get(co) != simdjson::SUCCESS) continue;
            stat_core c;
            c.core = static_cast<int>(field(co, "core"));
            c.io_uring = field(co, "io_uring") != 0;
            c.packets = field(co, "datagrams");
            c.bytes = field(co, "bytes");
            c.scratch_copies = field(co, "scratch_copies");
            if (has_array(co, "topics")) {
                for (element te : arr(co, "topics")) {
                    object to;
                    if (te.get_object().get(to) != simdjson::SUCCESS) continue;
                    c.events += field(to, "received");
                    c.drops += field(to, "dropped");
                    c.parse_failures += field(to, "rejected");
                    for (const auto& [k, v] : reasons(to, "dropped_by_reason")) c.drops_by_reason[k] += v;
                    for (const auto& [k, v] : reasons(to, "rejected_by_reason"))
                        c.parse_failures_by_reason[k] += v;
                }
            }
            s.cores.push_back(std::move(c));
        }
    }
    if (has_array(root, "topics")) {
        for (element te : arr(root, "topics")) {
            object to;
            if (te.get_object().get(to) != simdjson::SUCCESS) continue;
            stat_topic t;
            t.name = str_field(to, "name");
            t.received = field(to, "received");
            t.stored = field(to, "stored");
            t.rejected = field(to, "rejected");
            t.dropped = field(to, "dropped");
            t.in_flight = field(to, "in_flight");
            t.rejected_by_reason = reasons(to, "rejected_by_reason");
            t.dropped_by_reason = reasons(to, "dropped_by_reason");
            if (has_array(to, "partitions")) {
                for (element pe : arr(to, "partitions")) {
                    object po;
                    if (pe.get_object().get(po) != simdjson::SUCCESS) continue;
                    stat_partition p;
                    p.partition = static_cast<int>(field(po, "partition"));
                    p.high_watermark = field(po, "high_watermark");
                    p.log_start_offset = field(po, "log_start_offset");
                    p.bytes_on_disk = field(po, "bytes_on_disk", -1);
                    t.partitions.push_back(p);
                }
            }
            object dlq;
            if (to.at_key("dlq").get_object().get(dlq) == simdjson::SUCCESS)
                t.dlq_high_watermark = field(dlq, "high_watermark", -1);
            s.topics.push_back(std::move(t));
        }
    }
    object lo;
    if (root.at_key("log").get_object().get(lo) == simdjson::SUCCESS) {
        s.log.flushes = field(lo, "flushes");
        s.log.bytes_written = field(lo, "bytes_written");
        s.log.io_errors = field(lo, "io_errors");
        s.log.no_space_errors = field(lo, "no_space_errors");
        const double p50 = field(lo, "fsync_ns_p50", -1), p99 = field(lo, "fsync_ns_p99", -1);
        // 0 means "no flush yet" in the status; keep it unknown.
        s.log.fsync_p50_s = p50 > 0 ? p50 * 1e-9 : -1;
        s.log.fsync_p99_s = p99 > 0 ? p99 * 1e-9 : -1;
    }
    if (has_array(root, "groups")) {
        for (element ge : arr(root, "groups")) {
            object go;
            if (ge.get_object().get(go) != simdjson::SUCCESS) continue;
            stat_group g;
            g.group = str_field(go, "group");
            g.topic = str_field(go, "topic");
            g.partition = static_cast<int>(field(go, "partition"));
            g.committed_offset = field(go, "committed_offset", -1);
            g.lag = field(go, "lag", -1);
            s.groups.push_back(std::move(g));
        }
    }

    // Metrics: bytes on disk, fsync histogram, consumer groups.
    auto find_partition = [&s](const std::string* topic, const std::string* part) -> stat_partition* {
        if (!topic || !part) return nullptr;
        const int p = std::atoi(part->c_str());
        for (auto& t : s.topics) {
            if (t.name != *topic) continue;
            for (auto& sp : t.partitions)
                if (sp.partition == p) return &sp;
        }
        return nullptr;
    };
    auto find_group = [&s](const prom_sample& m) -> stat_group* {
        const std::string *g = m.label("group"), *t = m.label("topic"), *p = m.label("partition");
        if (!g || !t || !p) return nullptr;
        const int pn = std::atoi(p->c_str());
        for (auto& sg : s.groups)
            if (sg.group == *g && sg.topic == *t && sg.partition == pn) return &sg;
        stat_group ng;
        ng.group = *g;
        ng.topic = *t;
        ng.partition = pn;
        s.groups.push_back(std::move(ng));
        return &s.groups.back();
    };
    for (const prom_sample& m : parse_prometheus_text(metrics_text)) {
        if (m.name == "sluice_partition_bytes_on_disk") {
            if (auto* p = find_partition(m.label("topic"), m.label("partition"))) p->bytes_on_disk = m.value;
        } else if (m.name == "sluice_fsync_latency_seconds_bucket") {
            if (const std::string* le = m.label("le"))
                s.log.fsync_buckets.emplace_back(std::strtod(le->c_str(), nullptr), m.value);
        } else if (m.name == "sluice_consumer_group_committed_offset") {
            if (auto* g = find_group(m)) g->committed_offset = m.value;
        } else if (m.name == "sluice_consumer_group_lag") {
            if (auto* g = find_group(m)) g->lag = m.value;
        }
    }
    std::sort(s.log.fsync_buckets.begin(), s.log.fsync_buckets.end());
    // Lag from the high watermark when only the committed offset is known.
    for (auto& g : s.groups) {
        if (g.lag >= 0 || g.committed_offset < 0) continue;
        for (const auto& t : s.topics) {
            if (t.name != g.topic) continue;
            for (const auto& p : t.partitions)
                if (p.partition == g.partition) g.lag = std::max(0.0, p.high_watermark - g.committed_offset);
        }
    }
    *out = std::move(s);
    return true;
}

// ---------------------------------------------------------------------------------------------
// Rates

double histogram_quantile(double q, const std::vector<std::pair<double, double>>& cum) {
    if (cum.empty()) return -1;
    const double total = cum.back().second;
    if (total <= 0) return -1;
    const double want = q * total;
    double prev_le = 0, prev_cum = 0;
    for (const auto& [le, c] : cum) {
        if (c >= want && c > prev_cum) {
            if (std::isinf(le)) return prev_le;  // above every finite bound: report the largest
            return prev_le + (le - prev_le) * (want - prev_cum) / (c - prev_cum);
        }
        if (!std::isinf(le)) prev_le = le;
        prev_cum = c;
    }
    return prev_le;
}

namespace {

double rate(double cur, double prev, double dt) {
    if (dt <= 0 || cur < prev) return 0;
    return (cur - prev) / dt;
}

}  // namespace

stat_view compute_stat_view(const stat_sample* prev, const stat_sample& cur, std::string admin) {
    stat_view v;
    v.admin = std::move(admin);
    v.cur = cur;
    const double dt = prev ? cur.t_s - prev->t_s : 0;
    v.interval_s = dt > 0 ? dt : 0;
    for (const auto& c : cur.cores) {
        stat_core_rates r;
        const stat_core* p = nullptr;
        if (prev)
            for (const auto& pc : prev->cores)
                if (pc.core == c.core) p = &pc;
        if (p) {
            r.packets_s = rate(c.packets, p->packets, dt);
            r.bytes_s = rate(c.bytes, p->bytes, dt);
            r.events_s = rate(c.events, p->events, dt);
            r.scratch_copies_s = rate(c.scratch_copies, p->scratch_copies, dt);
            r.drops_s = rate(c.drops, p->drops, dt);
            r.parse_failures_s = rate(c.parse_failures, p->parse_failures, dt);
        }
        v.cores.push_back(r);
    }
    for (const auto& t : cur.topics) {
        stat_topic_rates r;
        const stat_topic* p = nullptr;
        if (prev)
            for (const auto& pt : prev->topics)
                if (pt.name == t.name) p = &pt;
        if (p) {
            r.received_s = rate(t.received, p->received, dt);
            r.stored_s = rate(t.stored, p->stored, dt);
            r.rejected_s = rate(t.rejected, p->rejected, dt);
            r.dropped_s = rate(t.dropped, p->dropped, dt);
        }
        for (const auto& part : t.partitions) {
            double e = 0;
            if (p)
                for (const auto& pp : p->partitions)
                    if (pp.partition == part.partition) e = rate(part.high_watermark, pp.high_watermark, dt);
            r.partition_events_s.push_back(e);
        }
        v.topics.push_back(std::move(r));
    }
    if (prev) {
        v.log.flushes_s = rate(cur.log.flushes, prev->log.flushes, dt);
        v.log.bytes_written_s = rate(cur.log.bytes_written, prev->log.bytes_written, dt);
        // Interval percentiles: difference of the two cumulative histograms.
        if (!cur.log.fsync_buckets.empty() && cur.log.fsync_buckets.size() == prev->log.fsync_buckets.size()) {
            std::vector<std::pair<double, double>> d;
            for (std::size_t i = 0; i < cur.log.fsync_buckets.size(); ++i)
                d.emplace_back(cur.log.fsync_buckets[i].first,
                               std::max(0.0, cur.log.fsync_buckets[i].second - prev->log.fsync_buckets[i].second));
            if (!d.empty() && d.back().second > 0) {
                v.log.fsync_p50_s = histogram_quantile(0.5, d);
                v.log.fsync_p99_s = histogram_quantile(0.99, d);
                v.log.fsync_window = "interval";
            }
        }
    }
    if (v.log.fsync_window.empty()) {
        if (!cur.log.fsync_buckets.empty() && cur.log.fsync_buckets.back().second > 0) {
            v.log.fsync_p50_s = histogram_quantile(0.5, cur.log.fsync_buckets);
            v.log.fsync_p99_s = histogram_quantile(0.99, cur.log.fsync_buckets);
            v.log.fsync_window = "since_start";
        } else if (cur.log.fsync_p50_s > 0) {
            v.log.fsync_p50_s = cur.log.fsync_p50_s;
            v.log.fsync_p99_s = cur.log.fsync_p99_s;
            v.log.fsync_window = "since_start";
        }
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// Formatting

std::string format_si(double v) {
    const double a = std::fabs(v);
    if (a < 1e3) return a == std::trunc(a) ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
    if (a < 1e6) return fmt::format("{:.2f}k", v / 1e3);
    if (a < 1e9) return fmt::format("{:.2f}M", v / 1e6);
    return fmt::format("{:.2f}G", v / 1e9);
}

std::string format_bytes(double v) {
    if (v < 0) return "?";
    if (v < 1024) return fmt::format("{:.0f} B", v);
    if (v < 1024.0 * 1024) return fmt::format("{:.1f} KiB", v / 1024);
    if (v < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
    return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
}

std::string format_seconds(double s) {
    if (s < 0) return "-";
    if (s < 1e-3) return fmt::format("{:.0f} us", s * 1e6);
    if (s < 1) return fmt::format("{:.2f} ms", s * 1e3);
    return fmt::format("{:.2f} s", s);
}

namespace {

// JSON number: integers without a fraction, rates with up to 3 decimals, unknown = null.
std::string jnum(double v) {
    if (!std::isfinite(v)) return "null";
    if (v == std::trunc(v) && std::fabs(v) < 9e15) return fmt::format("{:.0f}", v);
    return fmt::format("{:.3f}", v);
}
std::string jopt(double v) { return v < 0 ? "null" : jnum(v); }
std::string jsec(double v) { return v < 0 ? "null" : fmt::format("{:.9f}", v); }

std::string jreasons(const reason_counts& r) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : r) {
        if (v == 0) continue;
        out += (first ? "" : ",") + sluice::json_string(k) + ":" + jnum(v);
        first = false;
    }
    return out + "}";
}

}  // namespace

std::string render_stat_json(const stat_view& v) {
    const stat_sample& s = v.cur;
    std::string j = "{";
    j += fmt::format("\"admin\":{},\"version\":{},\"uptime_s\":{},\"interval_s\":{}", sluice::json_string(v.admin),
                     sluice::json_string(s.version), jnum(s.uptime_s), jnum(v.interval_s));
    j += ",\"cores\":[";
    for (std::size_t i = 0; i < s.cores.size(); ++i) {
        const auto& c = s.cores[i];
        const auto& r = v.cores[i];
        j += fmt::format(
            "{}{{\"core\":{},\"io_uring\":{},\"packets\":{},\"packets_per_s\":{},\"events\":{},\"events_per_s\":{},"
            "\"bytes\":{},\"bytes_per_s\":{},\"drops\":{},\"drops_per_s\":{},\"drops_by_reason\":{},"
            "\"parse_failures\":{},\"parse_failures_per_s\":{},\"parse_failures_by_reason\":{},"
            "\"scratch_copies\":{},\"scratch_copies_per_s\":{}}}",
            i ? "," : "", c.core, c.io_uring ? "true" : "false", jnum(c.packets), jnum(r.packets_s), jnum(c.events),
            jnum(r.events_s), jnum(c.bytes), jnum(r.bytes_s), jnum(c.drops), jnum(r.drops_s),
            jreasons(c.drops_by_reason), jnum(c.parse_failures), jnum(r.parse_failures_s),
            jreasons(c.parse_failures_by_reason), jnum(c.scratch_copies), jnum(r.scratch_copies_s));
    }
    j += "],\"topics\":[";
    for (std::size_t i = 0; i < s.topics.size(); ++i) {
        const auto& t = s.topics[i];
        const auto& r = v.topics[i];
        double disk = 0;
        bool disk_known = !t.partitions.empty();
        for (const auto& p : t.partitions) {
            if (p.bytes_on_disk < 0) disk_known = false;
            else disk += p.bytes_on_disk;
        }
        j += fmt::format(
            "{}{{\"name\":{},\"received\":{},\"received_per_s\":{},\"stored\":{},\"stored_per_s\":{},"
            "\"rejected\":{},\"rejected_per_s\":{},\"dropped\":{},\"dropped_per_s\":{},\"in_flight\":{},"
            "\"rejected_by_reason\":{},\"dropped_by_reason\":{},\"bytes_on_disk\":{},\"dlq_high_watermark\":{},"
            "\"partitions\":[",
            i ? "," : "", sluice::json_string(t.name), jnum(t.received), jnum(r.received_s), jnum(t.stored), jnum(r.stored_s),
            jnum(t.rejected), jnum(r.rejected_s), jnum(t.dropped), jnum(r.dropped_s), jnum(t.in_flight),
            jreasons(t.rejected_by_reason), jreasons(t.dropped_by_reason), disk_known ? jnum(disk) : "null",
            jopt(t.dlq_high_watermark));
        for (std::size_t p = 0; p < t.partitions.size(); ++p) {
            const auto& sp = t.partitions[p];
            j += fmt::format("{}{{\"partition\":{},\"high_watermark\":{},\"log_start_offset\":{},"
                             "\"events_per_s\":{},\"bytes_on_disk\":{}}}",
                             p ? "," : "", sp.partition, jnum(sp.high_watermark), jnum(sp.log_start_offset),
                             jnum(p < r.partition_events_s.size() ? r.partition_events_s[p] : 0),
                             jopt(sp.bytes_on_disk));
        }
        j += "]}";
    }
    j += fmt::format(
        "],\"log\":{{\"flushes\":{},\"flushes_per_s\":{},\"bytes_written\":{},\"bytes_written_per_s\":{},"
        "\"io_errors\":{},\"no_space_errors\":{},\"fsync_latency_p50_s\":{},\"fsync_latency_p99_s\":{},"
        "\"fsync_latency_window\":{}}}",
        jnum(s.log.flushes), jnum(v.log.flushes_s), jnum(s.log.bytes_written), jnum(v.log.bytes_written_s),
        jnum(s.log.io_errors), jnum(s.log.no_space_errors), jsec(v.log.fsync_p50_s), jsec(v.log.fsync_p99_s),
        v.log.fsync_window.empty() ? "null" : sluice::json_string(v.log.fsync_window));
    j += ",\"groups\":[";
    for (std::size_t i = 0; i < s.groups.size(); ++i) {
        const auto& g = s.groups[i];
        j += fmt::format("{}{{\"group\":{},\"topic\":{},\"partition\":{},\"committed_offset\":{},\"lag\":{}}}",
                         i ? "," : "", sluice::json_string(g.group), sluice::json_string(g.topic), g.partition, jopt(g.committed_offset),
                         jopt(g.lag));
    }
    j += "]}\n";
    return j;
}

namespace {

std::string join_reasons(const reason_counts& r) {
    std::string out;
    for (const auto& [k, v] : r) {
        if (v == 0) continue;
        if (!out.empty()) out += ' ';
        out += k + "=" + format_si(v);
    }
    return out.empty() ? "-" : out;
}

class screen {
public:
    screen(int cols, int rows, bool ansi) : _cols(std::max(cols, 20)), _rows(std::max(rows, 5)), _ansi(ansi) {}
    bool full() const { return _n >= _rows; }
    int left() const { return _rows - _n; }
    void line(std::string s) {
        if (full()) return;
        if (static_cast<int>(s.size()) > _cols) s.resize(static_cast<std::size_t>(_cols));
        _out += s;
        if (_ansi) _out += "\x1b[K";  // clear the rest of the line (redraw in place)
        _out += '\n';
        ++_n;
    }
    void head(const std::string& s) {
        if (full()) return;
        std::string t = s.size() > static_cast<std::size_t>(_cols) ? s.substr(0, static_cast<std::size_t>(_cols)) : s;
        _out += _ansi ? "\x1b[1m" + t + "\x1b[0m\x1b[K\n" : t + "\n";
        ++_n;
    }
    std::string take() { return std::move(_out); }

private:
    int _cols, _rows;
    bool _ansi;
    int _n = 0;
    std::string _out;
};

}  // namespace

std::string render_stat_text(const stat_view& v, int cols, int rows, bool ansi) {
    const stat_sample& s = v.cur;
    screen sc(cols, rows, ansi);
    const long up = static_cast<long>(s.uptime_s);
    sc.head(fmt::format("sluice {}  admin {}  uptime {}h{:02}m{:02}s  interval {:.2f}s{}", s.version, v.admin,
                        up / 3600, (up / 60) % 60, up % 60, v.interval_s,
                        ansi ? "   (q or Ctrl-C quits)" : ""));
    double rx = 0, st = 0, rj = 0, dr = 0, rx_s = 0, st_s = 0, rj_s = 0, dr_s = 0, inflight = 0;
    for (std::size_t i = 0; i < s.topics.size(); ++i) {
        rx += s.topics[i].received;
        st += s.topics[i].stored;
        rj += s.topics[i].rejected;
        dr += s.topics[i].dropped;
        inflight += s.topics[i].in_flight;
        rx_s += v.topics[i].received_s;
        st_s += v.topics[i].stored_s;
        rj_s += v.topics[i].rejected_s;
        dr_s += v.topics[i].dropped_s;
    }
    sc.line(fmt::format("total  received {}/s ({})  stored {}/s ({})  rejected {}/s ({})  dropped {}/s ({})  "
                        "in flight {}",
                        format_si(rx_s), format_si(rx), format_si(st_s), format_si(st), format_si(rj_s),
                        format_si(rj), format_si(dr_s), format_si(dr), format_si(inflight)));
    sc.line("");
    sc.head(fmt::format("{:<5} {:>10} {:>10} {:>12} {:>9} {:>12} {:>10}  {}", "core", "packets/s", "events/s",
                        "bytes/s", "drops/s", "parse-fail/s", "scratch/s", "drops / parse failures by reason"));
    for (std::size_t i = 0; i < s.cores.size(); ++i) {
        const auto& c = s.cores[i];
        const auto& r = v.cores[i];
        std::string why = join_reasons(c.drops_by_reason);
        const std::string pf = join_reasons(c.parse_failures_by_reason);
        if (pf != "-") why = (why == "-" ? "" : why + " | ") + pf;
        sc.line(fmt::format("{:<5} {:>10} {:>10} {:>12} {:>9} {:>12} {:>10}  {}", c.core, format_si(r.packets_s),
                            format_si(r.events_s), format_bytes(r.bytes_s) + "/s", format_si(r.drops_s),
                            format_si(r.parse_failures_s), format_si(r.scratch_copies_s), why));
    }
    sc.line("");
    const auto& l = v.log;
    sc.head("writer");
    sc.line(fmt::format("flushes {}/s  disk write {}/s  fdatasync p50 {}  p99 {} ({})  io errors {}  no space {}",
                        format_si(l.flushes_s), format_bytes(l.bytes_written_s), format_seconds(l.fsync_p50_s),
                        format_seconds(l.fsync_p99_s), l.fsync_window.empty() ? "no flushes yet" : l.fsync_window,
                        format_si(s.log.io_errors), format_si(s.log.no_space_errors)));
    sc.line("");
    // Groups go last; reserve their rows (header + one per group, capped) before partitions.
    const int group_rows = s.groups.empty() ? 0 : 2 + static_cast<int>(std::min<std::size_t>(s.groups.size(), 8));
    sc.head(fmt::format("{:<24} {:>5} {:>10} {:>16} {:>12}  {}", "topic", "part", "events/s", "high watermark",
                        "on disk", "rejected / dropped by reason"));
    for (std::size_t i = 0; i < s.topics.size(); ++i) {
        const auto& t = s.topics[i];
        const auto& r = v.topics[i];
        double disk = 0, hw = 0;
        bool disk_known = !t.partitions.empty();
        for (const auto& p : t.partitions) {
            hw += p.high_watermark;
            if (p.bytes_on_disk < 0) disk_known = false;
            else disk += p.bytes_on_disk;
        }
        std::string why = join_reasons(t.rejected_by_reason);
        const std::string dw = join_reasons(t.dropped_by_reason);
        if (dw != "-") why = (why == "-" ? "" : why + " | ") + dw;
        // Internal pseudo-topics (e.g. _unrouted) only when they saw something.
        if (!t.name.empty() && t.name[0] == '_' && t.received == 0) continue;
        sc.line(fmt::format("{:<24} {:>5} {:>10} {:>16.0f} {:>12}  {}", t.name, "all", format_si(r.stored_s),
                            hw, disk_known ? format_bytes(disk) : "?", why));
        for (std::size_t p = 0; p < t.partitions.size(); ++p) {
            if (sc.left() <= group_rows + 1) {
                sc.line(fmt::format("{:<24} ... {} more partitions", "", t.partitions.size() - p));
                break;
            }
            const auto& sp = t.partitions[p];
            sc.line(fmt::format("{:<24} {:>5} {:>10} {:>16.0f} {:>12}", "", sp.partition,
                                format_si(p < r.partition_events_s.size() ? r.partition_events_s[p] : 0),
                                sp.high_watermark, format_bytes(sp.bytes_on_disk)));
        }
        if (t.dlq_high_watermark >= 0 && sc.left() > group_rows)
            sc.line(fmt::format("{:<24} {:>5} {:>10} {:>16.0f}", t.name + ".dlq", "0", "", t.dlq_high_watermark));
    }
    if (!s.groups.empty()) {
        sc.line("");
        sc.head(fmt::format("{:<24} {:<24} {:>5} {:>16} {:>12}", "consumer group", "topic", "part", "committed", "lag"));
        for (std::size_t i = 0; i < s.groups.size(); ++i) {
            if (sc.left() <= 1 && i + 1 < s.groups.size()) {
                sc.line(fmt::format("... {} more", s.groups.size() - i));
                break;
            }
            const auto& g = s.groups[i];
            sc.line(fmt::format("{:<24} {:<24} {:>5} {:>16} {:>12}", g.group, g.topic, g.partition,
                                g.committed_offset < 0 ? "-" : fmt::format("{:.0f}", g.committed_offset),
                                g.lag < 0 ? "?" : format_si(g.lag)));
        }
    }
    return sc.take();
}

}  // namespace sluice::admin
