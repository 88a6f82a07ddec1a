// DPDK profile TOML (dpdk-config/*.toml) -> dpdk_profile. Control plane only (start-up):
// toml++ with exceptions, caught here; nothing of this runs on a receive core.

#include <sluice/net/dpdk_port.h>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::net {

namespace {

struct profile_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string where(const toml::node& n) {
    const auto& s = n.source();
    if (s.begin.line == 0) return {};
    return " (line " + std::to_string(s.begin.line) + ")";
}

[[noreturn]] void fail(const std::string& path, const std::string& what, const toml::node& n) {
    throw profile_error(path + ": " + what + where(n));
}

void check_keys(const toml::table& t, const std::string& prefix,
                std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : t) {
        bool ok = false;
        for (auto kn : known) ok = ok || kn == k.str();
        if (!ok) fail(prefix + std::string(k.str()), "unknown key", v);
    }
}

const toml::table& table_of(const toml::node& n, const std::string& path) {
    const auto* t = n.as_table();
    if (t == nullptr) fail(path, "must be a table", n);
    return *t;
}

std::string get_string(const toml::node& n, const std::string& path) {
    const auto* s = n.as_string();
    if (s == nullptr) fail(path, "must be a string", n);
    return s->get();
}

std::vector<std::string> get_strings(const toml::node& n, const std::string& path) {
    const auto* a = n.as_array();
    if (a == nullptr) fail(path, "must be an array of strings", n);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a->size(); ++i)
        out.push_back(get_string(*a->get(i), path + "[" + std::to_string(i) + "]"));
    return out;
}

std::int64_t get_int(const toml::node& n, const std::string& path, std::int64_t lo,
                     std::int64_t hi) {
    const auto* v = n.as_integer();
    if (v == nullptr) fail(path, "must be an integer", n);
    const std::int64_t x = v->get();
    if (x < lo || x > hi)
        fail(path, std::to_string(x) + " is out of range " + std::to_string(lo) + ".." +
                       std::to_string(hi), n);
    return x;
}

bool get_bool(const toml::node& n, const std::string& path) {
    const auto* v = n.as_boolean();
    if (v == nullptr) fail(path, "must be a boolean", n);
    return v->get();
}

dpdk_profile from_table(const toml::table& root) {
    dpdk_profile p;
    check_keys(root, "", {"eal", "port", "mempool", "rx"});
    if (const auto* n = root.get("eal")) {
        const auto& t = table_of(*n, "eal");
        check_keys(t, "eal.", {"args", "vdevs", "allow"});
        if (const auto* v = t.get("args")) p.eal_args = get_strings(*v, "eal.args");
        if (const auto* v = t.get("vdevs")) p.vdevs = get_strings(*v, "eal.vdevs");
        if (const auto* v = t.get("allow")) p.allow = get_strings(*v, "eal.allow");
    }
    if (const auto* n = root.get("port")) {
        const auto& t = table_of(*n, "port");
        check_keys(t, "port.", {"name", "rx_descriptors", "tx_descriptors", "rss", "promiscuous",
                                "verify_udp_checksum", "mtu"});
        if (const auto* v = t.get("name")) p.port_name = get_string(*v, "port.name");
        if (const auto* v = t.get("rx_descriptors"))
            p.rx_descriptors = static_cast<std::uint16_t>(get_int(*v, "port.rx_descriptors", 32, 32768));
        if (const auto* v = t.get("tx_descriptors"))
            p.tx_descriptors = static_cast<std::uint16_t>(get_int(*v, "port.tx_descriptors", 32, 32768));
        if (const auto* v = t.get("rss")) p.rss = get_bool(*v, "port.rss");
        if (const auto* v = t.get("promiscuous")) p.promiscuous = get_bool(*v, "port.promiscuous");
        if (const auto* v = t.get("verify_udp_checksum"))
            p.verify_udp_checksum = get_bool(*v, "port.verify_udp_checksum");
        if (const auto* v = t.get("mtu"))
            p.mtu = static_cast<std::uint16_t>(get_int(*v, "port.mtu", 0, 9600));
    }
    if (const auto* n = root.get("mempool")) {
        const auto& t = table_of(*n, "mempool");
        check_keys(t, "mempool.", {"mbufs", "cache"});
        if (const auto* v = t.get("mbufs"))
            p.mbufs = static_cast<std::uint32_t>(get_int(*v, "mempool.mbufs", 0, 1 << 26));
        if (const auto* v = t.get("cache"))
            p.cache = static_cast<std::uint32_t>(get_int(*v, "mempool.cache", 0, 512));
    }
    if (const auto* n = root.get("rx")) {
        const auto& t = table_of(*n, "rx");
        check_keys(t, "rx.", {"burst", "reassembly_slots", "stats_interval_ms"});
        if (const auto* v = t.get("burst"))
            p.burst = static_cast<std::uint16_t>(get_int(*v, "rx.burst", 1, dpdk_burst_max));
        if (const auto* v = t.get("reassembly_slots"))
            p.reassembly_slots = static_cast<std::uint32_t>(get_int(*v, "rx.reassembly_slots", 1, 4096));
        if (const auto* v = t.get("stats_interval_ms"))
            p.stats_interval_ms =
                static_cast<std::uint32_t>(get_int(*v, "rx.stats_interval_ms", 10, 60000));
    }
    if (p.mbufs != 0 && p.cache != 0 && p.cache * 3 > p.mbufs * 2)
        throw profile_error("mempool.cache: " + std::to_string(p.cache) +
                            " exceeds mempool.mbufs / 1.5 (" + std::to_string(p.mbufs) + ")");
    return p;
}

}  // namespace

std::optional<dpdk_profile> parse_dpdk_profile(std::string_view toml_text, std::string* error,
                                               std::string_view source_name) {
    try {
        const toml::table root = toml::parse(toml_text, source_name);
        return from_table(root);
    } catch (const toml::parse_error& e) {
        if (error) {
            std::ostringstream os;
            os << source_name << ": " << e.description() << " (line " << e.source().begin.line
               << ")";
            *error = os.str();
        }
    } catch (const profile_error& e) {
        if (error) *error = std::string(source_name) + ": " + e.what();
    }
    return std::nullopt;
}

std::optional<dpdk_profile> load_dpdk_profile(const std::string& path, std::string* error) {
    std::ifstream in(path);
    if (!in) {
        if (error) *error = "ingest.dpdk_profile: cannot read '" + path + "'";
        return std::nullopt;
    }
    std::ostringstream os;
    os << in.rdbuf();
    return parse_dpdk_profile(os.str(), error, path);
}

}  // namespace sluice::net
