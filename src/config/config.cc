#include <sluice/config/config.h>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <toml++/toml.h>

namespace sluice::config {

// ---------------------------------------------------------------------------------------------
// CIDR parsing and matching

bool parse_cidr(std::string_view text, cidr_v4* v4, cidr_v6* v6, bool* is_v6, std::string* error) {
    auto fail = [&](std::string msg) {
        if (error) *error = std::move(msg);
        return false;
    };
    std::string_view addr = text;
    int prefix = -1;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        std::string_view p = text.substr(slash + 1);
        int v = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size() || v < 0) {
            return fail("\"" + std::string(text) + "\" is not a valid CIDR (bad prefix length)");
        }
        prefix = v;
    }
    std::string a(addr);
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, a.c_str(), &a4) == 1) {
        if (prefix < 0) prefix = 32;
        if (prefix > 32) {
            return fail("\"" + std::string(text) + "\" is not a valid CIDR (IPv4 prefix > 32)");
        }
        const std::uint32_t host = ntohl(a4.s_addr);
        const std::uint32_t mask = prefix == 0 ? 0u : ~std::uint32_t{0} << (32 - prefix);
        if ((host & ~mask) != 0) {
            in_addr net{htonl(host & mask)};
            char buf[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &net, buf, sizeof buf);
            return fail("\"" + std::string(text) + "\" has host bits set (did you mean " + buf +
                        "/" + std::to_string(prefix) + "?)");
        }
        *v4 = cidr_v4{host, mask};
        *is_v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, a.c_str(), &a6) == 1) {
        if (prefix < 0) prefix = 128;
        if (prefix > 128) {
            return fail("\"" + std::string(text) + "\" is not a valid CIDR (IPv6 prefix > 128)");
        }
        cidr_v6 n;
        std::memcpy(n.network.data(), a6.s6_addr, 16);
        n.prefix_len = static_cast<std::uint8_t>(prefix);
        for (int bit = prefix; bit < 128; ++bit) {
            if (n.network[bit / 8] & (0x80 >> (bit % 8))) {
                return fail("\"" + std::string(text) + "\" has host bits set beyond /" +
                            std::to_string(prefix));
            }
        }
        *v6 = n;
        *is_v6 = true;
        return true;
    }
    return fail("\"" + std::string(text) + "\" is not a valid CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)");
}

bool allow_list::add(std::string_view cidr, std::string* error) {
    cidr_v4 a;
    cidr_v6 b;
    bool is_v6 = false;
    if (!parse_cidr(cidr, &a, &b, &is_v6, error)) return false;
    if (is_v6) {
        _v6.push_back(b);
        if (b.prefix_len == 0) _all_v6 = true;
    } else {
        _v4.push_back(a);
        if (a.mask == 0) _all_v4 = true;
    }
    _text.emplace_back(cidr);
    return true;
}

bool allow_list::allowed_v4(std::uint32_t addr_be) const noexcept {
    if (_all_v4) return true;
    const std::uint32_t host = ntohl(addr_be);
    for (const cidr_v4& n : _v4) {
        if ((host & n.mask) == n.network) return true;
    }
    return false;
}

bool allow_list::allowed_v6(const std::uint8_t* addr) const noexcept {
    static constexpr std::uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, v4_mapped_prefix, 12) == 0) {
        std::uint32_t be;
        std::memcpy(&be, addr + 12, 4);
        return allowed_v4(be);
    }
    if (_all_v6) return true;
    for (const cidr_v6& n : _v6) {
        const unsigned full = n.prefix_len / 8;
        const unsigned rest = n.prefix_len % 8;
        if (std::memcmp(addr, n.network.data(), full) != 0) continue;
        if (rest != 0) {
            const std::uint8_t m = static_cast<std::uint8_t>(0xff00u >> rest);
            if ((addr[full] & m) != n.network[full]) continue;
        }
        return true;
    }
    return false;
}

bool allow_list::allowed(const sockaddr* sa) const noexcept {
    if (sa == nullptr) return false;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in;
        std::memcpy(&in, sa, sizeof in);
        return allowed_v4(in.sin_addr.s_addr);
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6;
        std::memcpy(&in6, sa, sizeof in6);
        return allowed_v6(in6.sin6_addr.s6_addr);
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// endpoints

std::string endpoint::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

static bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    for (char c : h) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '.' || c == '_';
        if (!ok) return false;
    }
    return true;
}

bool parse_endpoint(std::string_view text, bool allow_port_zero, endpoint* out, std::string* error) {
    auto fail = [&](std::string why) {
        if (error) *error = "\"" + std::string(text) + "\" is not a valid host:port (" + why + ")";
        return false;
    };
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return fail("missing ']'");
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') return fail("missing ':port'");
        port = rest.substr(1);
        in6_addr a6;
        if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
            return fail("bad IPv6 address");
        }
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return fail("missing ':port'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return fail("write IPv6 addresses in brackets, e.g. [::1]:9092");
        }
        if (!valid_hostname(host)) return fail("bad host");
    }
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size()) {
        return fail("bad port");
    }
    const unsigned lo = allow_port_zero ? 0 : 1;
    if (v < lo || v > 65535) {
        return fail("port " + std::to_string(v) + " is out of range " + std::to_string(lo) +
                    "..65535");
    }
    out->host = std::string(host);
    out->port = static_cast<std::uint16_t>(v);
    return true;
}

std::string_view to_string(ingest_backend b) noexcept {
    switch (b) {
        case ingest_backend::socket: return "socket";
        case ingest_backend::dpdk: return "dpdk";
    }
    return "?";
}

bool is_valid_topic_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

const topic_config* appliance_config::topic_by_port(std::uint16_t port) const noexcept {
    for (const auto& t : topics) {
        if (t.port == port) return &t;
    }
    return nullptr;
}

const topic_config* appliance_config::topic_by_name(std::string_view name) const noexcept {
    for (const auto& t : topics) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

appliance_config default_config() {
    appliance_config c;
    std::string err;
    const bool ok = c.ingest.allow.add("0.0.0.0/0", &err);
    (void)ok;
    c.topics.emplace_back();
    return c;
}

// ---------------------------------------------------------------------------------------------
// Semantic validation shared by the parser and validate().

namespace {

bool valid_pointer(std::string_view p) { return p.empty() || p.front() == '/'; }

std::string range_msg(std::string_view path, long long v, long long lo, long long hi) {
    return std::string(path) + ": " + std::to_string(v) + " is out of range " +
           std::to_string(lo) + ".." + std::to_string(hi);
}

std::string topic_path(std::size_t i, std::string_view key) {
    return "topic[" + std::to_string(i) + "]." + std::string(key);
}

// Cross-field checks on a fully assembled config. Per-field ranges are checked by the parser
// (with line numbers) and again here for configs built in code.
std::string check(const appliance_config& c) {
    if (c.data_dir.empty()) return "data_dir: must not be empty";
    if (c.ingest.cores > 1024) return range_msg("ingest.cores", c.ingest.cores, 0, 1024);
    {
        in_addr a4;
        in6_addr a6;
        const bool v4 = inet_pton(AF_INET, c.ingest.address.c_str(), &a4) == 1;
        const bool v6 = inet_pton(AF_INET6, c.ingest.address.c_str(), &a6) == 1;
        if (!v4 && !v6) {
            return "ingest.address: \"" + c.ingest.address + "\" is not an IP address";
        }
        if (c.ingest.backend == ingest_backend::dpdk && !v4) {
            return "ingest.address: \"" + c.ingest.address +
                   "\" must be an IPv4 address with backend = \"dpdk\"";
        }
    }
    if (c.ingest.allow.empty()) return "ingest.allow: must list at least one CIDR";
    if (c.flush.interval_ms < 1 || c.flush.interval_ms > 60000) {
        return range_msg("flush.interval_ms", c.flush.interval_ms, 1, 60000);
    }
    if (c.flush.bytes < 4096 || c.flush.bytes > (std::uint64_t{1} << 30)) {
        return range_msg("flush.bytes", static_cast<long long>(c.flush.bytes), 4096, 1LL << 30);
    }
    if (c.kafka.advertised && c.kafka.advertised->port == 0) {
        return "kafka.advertised: port 0 cannot be advertised";
    }
    if (c.kafka.listen.port != 0 && c.kafka.listen == c.admin.listen) {
        return "admin.listen: " + c.admin.listen.to_string() + " is also kafka.listen";
    }
    if (c.topics.empty()) return "topic: at least one [[topic]] is required";
    std::unordered_map<std::string, std::size_t> names;
    std::unordered_map<std::uint16_t, std::size_t> ports;
    for (std::size_t i = 0; i < c.topics.size(); ++i) {
        const topic_config& t = c.topics[i];
        if (!is_valid_topic_name(t.name)) {
            return topic_path(i, "name") + ": \"" + t.name +
                   "\" is not a valid Kafka topic name (1..249 characters of a-z A-Z 0-9 . _ -, "
                   "not \".\" or \"..\")";
        }
        if (t.name.size() + 4 > 249) {
            return topic_path(i, "name") + ": \"" + t.name +
                   "\" is too long for its dead-letter topic \"<name>.dlq\" (max 245 characters)";
        }
        if (t.port == 0) return range_msg(topic_path(i, "port"), 0, 1, 65535);
        if (t.partitions < 1 || t.partitions > 65536) {
            return range_msg(topic_path(i, "partitions"), t.partitions, 1, 65536);
        }
        if (!valid_pointer(t.key)) {
            return topic_path(i, "key") + ": \"" + t.key +
                   "\" is not a JSON pointer (must be \"\" or start with '/')";
        }
        if (!valid_pointer(t.timestamp)) {
            return topic_path(i, "timestamp") + ": \"" + t.timestamp +
                   "\" is not a JSON pointer (must be \"\" or start with '/')";
        }
        for (std::size_t j = 0; j < t.require.size(); ++j) {
            if (t.require[j].empty() || t.require[j].front() != '/') {
                return topic_path(i, "require") + "[" + std::to_string(j) + "]: \"" +
                       t.require[j] + "\" is not a JSON pointer (must start with '/')";
            }
        }
        if (t.retention_bytes < -1) {
            return topic_path(i, "retention_bytes") + ": " + std::to_string(t.retention_bytes) +
                   " is invalid (-1 = unlimited, else >= 0)";
        }
        if (t.retention_ms < -1) {
            return topic_path(i, "retention_ms") + ": " + std::to_string(t.retention_ms) +
                   " is invalid (-1 = unlimited, else >= 0)";
        }
        if (t.segment_bytes < 4096 || t.segment_bytes > 2147483647) {
            return range_msg(topic_path(i, "segment_bytes"), t.segment_bytes, 4096, 2147483647);
        }
        if (auto [it, fresh] = names.emplace(t.name, i); !fresh) {
            return topic_path(i, "name") + ": \"" + t.name + "\" is already the name of topic[" +
                   std::to_string(it->second) + "]";
        }
        if (auto [it, fresh] = ports.emplace(t.port, i); !fresh) {
            return topic_path(i, "port") + ": " + std::to_string(t.port) +
                   " is already the port of topic[" + std::to_string(it->second) + "] (\"" +
                   c.topics[it->second].name + "\")";
        }
    }
    for (std::size_t i = 0; i < c.topics.size(); ++i) {
        const std::string& n = c.topics[i].name;
        if (n.size() > 4 && n.compare(n.size() - 4, 4, ".dlq") == 0) {
            auto it = names.find(n.substr(0, n.size() - 4));
            if (it != names.end()) {
                return topic_path(i, "name") + ": \"" + n +
                       "\" conflicts with the dead-letter topic of topic[" +
                       std::to_string(it->second) + "] (\"" + c.topics[it->second].name + "\")";
            }
        }
    }
    return {};
}

// --- TOML walking ----------------------------------------------------------------------------

class parse_failure {
public:
    std::string message;
};

std::string where(const toml::node& n) {
    const auto& src = n.source();
    if (src.begin.line == 0) return {};
    return " (line " + std::to_string(src.begin.line) + ")";
}

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        default: return "nothing";
    }
}

[[noreturn]] void fail(const std::string& path, const std::string& what, const toml::node& n) {
    throw parse_failure{path + ": " + what + where(n)};
}

void check_keys(const toml::table& t, const std::string& prefix,
                std::initializer_list<std::string_view> known) {
    for (auto&& [k, v] : t) {
        bool ok = false;
        for (auto kk : known) ok = ok || kk == k.str();
        if (!ok) {
            std::string list;
            for (auto kk : known) {
                if (!list.empty()) list += ", ";
                list += kk;
            }
            fail(prefix + std::string(k.str()), "unknown setting (known here: " + list + ")", v);
        }
    }
}

std::string get_string(const toml::node& n, const std::string& path) {
    if (auto s = n.as_string()) return s->get();
    fail(path, "expected a string, got " + std::string(type_name(n)), n);
}

std::int64_t get_int(const toml::node& n, const std::string& path, std::int64_t lo,
                     std::int64_t hi) {
    auto i = n.as_integer();
    if (!i) fail(path, "expected an integer, got " + std::string(type_name(n)), n);
    const std::int64_t v = i->get();
    if (v < lo || v > hi) {
        fail(path, std::to_string(v) + " is out of range " + std::to_string(lo) + ".." +
                       std::to_string(hi), n);
    }
    return v;
}

std::vector<std::string> get_string_array(const toml::node& n, const std::string& path) {
    auto a = n.as_array();
    if (!a) fail(path, "expected an array of strings, got " + std::string(type_name(n)), n);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a->size(); ++i) {
        out.push_back(get_string(*a->get(i), path + "[" + std::to_string(i) + "]"));
    }
    return out;
}

const toml::table& get_table(const toml::node& n, const std::string& path) {
    if (auto t = n.as_table()) return *t;
    fail(path, "expected a table, got " + std::string(type_name(n)), n);
}

std::string json_pointer(const toml::node& n, const std::string& path, bool allow_empty) {
    std::string s = get_string(n, path);
    if (s.empty() ? !allow_empty : s.front() != '/') {
        fail(path, "\"" + s + "\" is not a JSON pointer (must " +
                       (allow_empty ? "be \"\" or " : "") + "start with '/')", n);
    }
    return s;
}

endpoint get_endpoint(const toml::node& n, const std::string& path, bool allow_port_zero) {
    std::string s = get_string(n, path);
    endpoint e;
    std::string err;
    if (!parse_endpoint(s, allow_port_zero, &e, &err)) fail(path, err, n);
    return e;
}

void parse_ingest(const toml::table& t, ingest_config& c) {
    check_keys(t, "ingest.", {"backend", "address", "cores", "allow", "dpdk_profile", "eal_args",
                              "rate_limit_per_source"});
    if (auto n = t.get("backend")) {
        std::string b = get_string(*n, "ingest.backend");
        if (b == "socket") c.backend = ingest_backend::socket;
        else if (b == "dpdk") c.backend = ingest_backend::dpdk;
        else fail("ingest.backend", "\"" + b + "\" is not one of \"socket\", \"dpdk\"", *n);
    }
    if (auto n = t.get("address")) {
        c.address = get_string(*n, "ingest.address");
        in_addr a4;
        in6_addr a6;
        if (inet_pton(AF_INET, c.address.c_str(), &a4) != 1 &&
            inet_pton(AF_INET6, c.address.c_str(), &a6) != 1) {
            fail("ingest.address", "\"" + c.address + "\" is not an IP address", *n);
        }
    }
    if (auto n = t.get("cores")) {
        if (auto s = n->as_string()) {
            if (s->get() != "auto") {
                fail("ingest.cores", "\"" + s->get() + "\" is neither \"auto\" nor a number", *n);
            }
            c.cores = 0;
        } else if (n->is_integer()) {
            c.cores = static_cast<std::uint32_t>(get_int(*n, "ingest.cores", 1, 1024));
        } else {
            fail("ingest.cores", "expected an integer or \"auto\", got " +
                                     std::string(type_name(*n)), *n);
        }
    }
    if (auto n = t.get("allow")) {
        auto list = get_string_array(*n, "ingest.allow");
        if (list.empty()) fail("ingest.allow", "must list at least one CIDR", *n);
        allow_list a;
        for (std::size_t i = 0; i < list.size(); ++i) {
            std::string err;
            if (!a.add(list[i], &err)) {
                fail("ingest.allow[" + std::to_string(i) + "]", err, *n->as_array()->get(i));
            }
        }
        c.allow = std::move(a);
    }
    if (auto n = t.get("dpdk_profile")) {
        c.dpdk_profile = get_string(*n, "ingest.dpdk_profile");
        if (c.dpdk_profile.empty()) fail("ingest.dpdk_profile", "must not be empty", *n);
    }
    if (auto n = t.get("eal_args")) c.eal_args = get_string_array(*n, "ingest.eal_args");
    if (auto n = t.get("rate_limit_per_source")) {
        c.rate_limit_per_source = static_cast<std::uint64_t>(
            get_int(*n, "ingest.rate_limit_per_source", 0, std::int64_t{1} << 40));
    }
}

topic_config parse_topic(const toml::table& t, std::size_t i) {
    const std::string p = "topic[" + std::to_string(i) + "].";
    check_keys(t, p, {"name", "port", "partitions", "key", "require", "timestamp",
                      "retention_bytes", "retention_ms", "segment_bytes"});
    topic_config c;
    if (auto n = t.get("name")) {
        c.name = get_string(*n, p + "name");
        if (!is_valid_topic_name(c.name)) {
            fail(p + "name", "\"" + c.name +
                                 "\" is not a valid Kafka topic name (1..249 characters of "
                                 "a-z A-Z 0-9 . _ -, not \".\" or \"..\")", *n);
        }
    }
    if (auto n = t.get("port")) c.port = static_cast<std::uint16_t>(get_int(*n, p + "port", 1, 65535));
    if (auto n = t.get("partitions")) {
        c.partitions = static_cast<std::int32_t>(get_int(*n, p + "partitions", 1, 65536));
    }
    if (auto n = t.get("key")) c.key = json_pointer(*n, p + "key", true);
    if (auto n = t.get("timestamp")) c.timestamp = json_pointer(*n, p + "timestamp", true);
    if (auto n = t.get("require")) {
        auto a = n->as_array();
        if (!a) fail(p + "require", "expected an array of strings, got " + std::string(type_name(*n)), *n);
        for (std::size_t j = 0; j < a->size(); ++j) {
            c.require.push_back(
                json_pointer(*a->get(j), p + "require[" + std::to_string(j) + "]", false));
        }
    }
    if (auto n = t.get("retention_bytes")) {
        c.retention_bytes = get_int(*n, p + "retention_bytes", -1, INT64_MAX);
    }
    if (auto n = t.get("retention_ms")) c.retention_ms = get_int(*n, p + "retention_ms", -1, INT64_MAX);
    if (auto n = t.get("segment_bytes")) {
        c.segment_bytes = get_int(*n, p + "segment_bytes", 4096, 2147483647);
    }
    return c;
}

appliance_config from_table(const toml::table& root) {
    check_keys(root, "", {"data_dir", "ingest", "flush", "kafka", "admin", "topic"});
    appliance_config c = default_config();
    if (auto n = root.get("data_dir")) {
        c.data_dir = get_string(*n, "data_dir");
        if (c.data_dir.empty()) fail("data_dir", "must not be empty", *n);
    }
    if (auto n = root.get("ingest")) parse_ingest(get_table(*n, "ingest"), c.ingest);
    if (auto n = root.get("flush")) {
        const auto& t = get_table(*n, "flush");
        check_keys(t, "flush.", {"interval_ms", "bytes"});
        if (auto m = t.get("interval_ms")) {
            c.flush.interval_ms = static_cast<std::uint32_t>(get_int(*m, "flush.interval_ms", 1, 60000));
        }
        if (auto m = t.get("bytes")) {
            c.flush.bytes = static_cast<std::uint64_t>(get_int(*m, "flush.bytes", 4096, 1LL << 30));
        }
    }
    if (auto n = root.get("kafka")) {
        const auto& t = get_table(*n, "kafka");
        check_keys(t, "kafka.", {"listen", "advertised"});
        if (auto m = t.get("listen")) c.kafka.listen = get_endpoint(*m, "kafka.listen", true);
        if (auto m = t.get("advertised")) {
            if (get_string(*m, "kafka.advertised").empty()) {
                c.kafka.advertised.reset();
            } else {
                c.kafka.advertised = get_endpoint(*m, "kafka.advertised", false);
            }
        }
    }
    if (auto n = root.get("admin")) {
        const auto& t = get_table(*n, "admin");
        check_keys(t, "admin.", {"listen"});
        if (auto m = t.get("listen")) c.admin.listen = get_endpoint(*m, "admin.listen", true);
    }
    if (auto n = root.get("topic")) {
        auto a = n->as_array();
        if (!a) fail("topic", "expected [[topic]] tables, got " + std::string(type_name(*n)), *n);
        if (a->empty()) fail("topic", "at least one [[topic]] is required", *n);
        c.topics.clear();
        for (std::size_t i = 0; i < a->size(); ++i) {
            c.topics.push_back(parse_topic(get_table(*a->get(i), "topic[" + std::to_string(i) + "]"), i));
        }
    }
    return c;
}

}  // namespace

std::string validate(const appliance_config& cfg) { return check(cfg); }

std::optional<appliance_config> parse_config(std::string_view toml_text, std::string* error,
                                             std::string_view source_name) {
    auto set_error = [&](std::string m) {
        if (error) *error = std::move(m);
        return std::nullopt;
    };
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& src = e.source();
        return set_error(std::string(source_name) + ":" + std::to_string(src.begin.line) + ":" +
                         std::to_string(src.begin.column) + ": TOML syntax error: " +
                         std::string(e.description()));
    }
    appliance_config c;
    try {
        c = from_table(root);
    } catch (const parse_failure& f) {
        return set_error(f.message);
    }
    if (std::string m = check(c); !m.empty()) return set_error(m);
    return c;
}

std::optional<appliance_config> load_config(const std::string& path, std::string* error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (error) *error = "cannot read config file \"" + path + "\": " + std::strerror(errno);
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        if (error) *error = "cannot read config file \"" + path + "\"";
        return std::nullopt;
    }
    return parse_config(ss.str(), error, path);
}

// ---------------------------------------------------------------------------------------------

namespace {
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string quote_list(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += quote(v[i]);
    }
    return out + "]";
}
}  // namespace

std::string to_toml(const appliance_config& c) {
    std::string o;
    o += "data_dir = " + quote(c.data_dir) + "\n\n[ingest]\n";
    o += "backend = " + quote(to_string(c.ingest.backend)) + "\n";
    o += "address = " + quote(c.ingest.address) + "\n";
    o += "cores = " + (c.ingest.cores == 0 ? std::string("\"auto\"") : std::to_string(c.ingest.cores)) + "\n";
    o += "allow = " + quote_list(c.ingest.allow.text()) + "\n";
    o += "dpdk_profile = " + quote(c.ingest.dpdk_profile) + "\n";
    o += "eal_args = " + quote_list(c.ingest.eal_args) + "\n";
    o += "rate_limit_per_source = " + std::to_string(c.ingest.rate_limit_per_source) + "\n\n";
    o += "[flush]\ninterval_ms = " + std::to_string(c.flush.interval_ms) + "\n";
    o += "bytes = " + std::to_string(c.flush.bytes) + "\n\n";
    o += "[kafka]\nlisten = " + quote(c.kafka.listen.to_string()) + "\n";
    o += "advertised = " + quote(c.kafka.advertised ? c.kafka.advertised->to_string() : "") + "\n\n";
    o += "[admin]\nlisten = " + quote(c.admin.listen.to_string()) + "\n";
    for (const auto& t : c.topics) {
        o += "\n[[topic]]\nname = " + quote(t.name) + "\n";
        o += "port = " + std::to_string(t.port) + "\n";
        o += "partitions = " + std::to_string(t.partitions) + "\n";
        o += "key = " + quote(t.key) + "\n";
        o += "require = " + quote_list(t.require) + "\n";
        o += "timestamp = " + quote(t.timestamp) + "\n";
        o += "retention_bytes = " + std::to_string(t.retention_bytes) + "\n";
        o += "retention_ms = " + std::to_string(t.retention_ms) + "\n";
        o += "segment_bytes = " + std::to_string(t.segment_bytes) + "\n";
    }
    return o;
}

}  // namespace sluice::config
