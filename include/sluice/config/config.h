#pragma once
// sluice's appliance configuration: a plain struct parsed from TOML (see DESIGN.md
// "Configuration"), validated at start-up with messages that name the setting.
//
// Control plane only: parsing allocates and uses toml++. The one piece meant for the data path
// is `allow_list::allowed*()`, which neither allocates nor throws.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

// An IPv4 network, host byte order. Matches `addr` iff (addr & mask) == network.
struct cidr_v4 {
    std::uint32_t network = 0;
    std::uint32_t mask = 0;
};

// An IPv6 network: the first `prefix_len` bits of `network` must match.
struct cidr_v6 {
    std::array<std::uint8_t, 16> network{};
    std::uint8_t prefix_len = 0;
};

// Parses "10.0.0.0/8", "fd00::/8", or a bare address (= /32 or /128). Host bits set beyond the
// prefix are an error (write the network address). Returns false and sets *error on failure.
bool parse_cidr(std::string_view text, cidr_v4* v4, cidr_v6* v6, bool* is_v6, std::string* error);

// Source-address allow list. Built at start-up; the matchers are allocation-free and noexcept,
// safe to call from pinned data-path cores (read-only after construction).
class allow_list {
public:
    // Adds one CIDR (see parse_cidr). Returns false and sets *error on a bad CIDR.
    bool add(std::string_view cidr, std::string* error);

    // `addr_be`: IPv4 address in network byte order, as in an IPv4 header or sockaddr_in.
    [[nodiscard]] bool allowed_v4(std::uint32_t addr_be) const noexcept;
    // `addr`: 16 bytes, network order. v4-mapped addresses (::ffff:a.b.c.d) match the v4 list.
    [[nodiscard]] bool allowed_v6(const std::uint8_t* addr) const noexcept;
    // AF_INET / AF_INET6 sockaddr; any other family (or nullptr) is not allowed.
    [[nodiscard]] bool allowed(const sockaddr* sa) const noexcept;

    // True when every IPv4 source is allowed (0.0.0.0/0 present): the data path may skip checks.
    [[nodiscard]] bool allows_all_v4() const noexcept { return _all_v4; }
    [[nodiscard]] bool allows_all_v6() const noexcept { return _all_v6; }
    [[nodiscard]] bool empty() const noexcept { return _v4.empty() && _v6.empty(); }

    [[nodiscard]] const std::vector<cidr_v4>& v4() const noexcept { return _v4; }
    [[nodiscard]] const std::vector<cidr_v6>& v6() const noexcept { return _v6; }
    // The CIDRs as written in the config, in order.
    [[nodiscard]] const std::vector<std::string>& text() const noexcept { return _text; }

private:
    std::vector<cidr_v4> _v4;
    std::vector<cidr_v6> _v6;
    std::vector<std::string> _text;
    bool _all_v4 = false;
    bool _all_v6 = false;
};

// "host:port" or "[v6addr]:port". host is kept as written (a name or an address literal),
// without brackets.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;

    [[nodiscard]] std::string to_string() const;  // re-adds brackets for IPv6 literals
    bool operator==(const endpoint&) const = default;
};

// Parses host:port. `allow_port_zero`: listeners may ask for an ephemeral port (tests).
bool parse_endpoint(std::string_view text, bool allow_port_zero, endpoint* out, std::string* error);

enum class ingest_backend : std::uint8_t { socket, dpdk };
[[nodiscard]] std::string_view to_string(ingest_backend b) noexcept;

struct ingest_config {
    ingest_backend backend = ingest_backend::socket;
    std::string address = "127.0.0.1";   // an IP literal (dpdk: IPv4 only)
    std::uint32_t cores = 1;              // 0 = "auto" (one per RX queue on the NIC's NUMA node)
    allow_list allow;                     // default: 0.0.0.0/0
    std::string dpdk_profile = "dpdk-config/af_packet.toml";
    std::vector<std::string> eal_args;
    std::uint64_t rate_limit_per_source = 0;  // events/s per source address; 0 = off
};

struct flush_config {
    std::uint32_t interval_ms = 5;
    std::uint64_t bytes = 1048576;
};

struct kafka_config {
    endpoint listen{"127.0.0.1", 9092};
    std::optional<endpoint> advertised;  // unset ("" in TOML) = listen

    [[nodiscard]] const endpoint& advertised_or_listen() const noexcept {
        return advertised ? *advertised : listen;
    }
};

struct admin_config {
    endpoint listen{"127.0.0.1", 9644};
};

struct topic_config {
    std::string name = "events";
    std::uint16_t port = 5140;
    std::int32_t partitions = 8;
    std::string key;                    // JSON pointer, "" = keyless
    std::vector<std::string> require;   // JSON pointers, each non-empty
    std::string timestamp;              // JSON pointer, "" = ingest time
    std::int64_t retention_bytes = -1;  // -1 = unlimited
    std::int64_t retention_ms = 604800000;  // -1 = unlimited
    std::int64_t segment_bytes = 1073741824;

    [[nodiscard]] std::string dlq_name() const { return name + ".dlq"; }
};

struct appliance_config {
    std::string data_dir = "data";
    ingest_config ingest;
    flush_config flush;
    kafka_config kafka;
    admin_config admin;
    std::vector<topic_config> topics;  // never empty after load; ports and names distinct

    // The topic whose UDP port is `port`, or nullptr.
    [[nodiscard]] const topic_config* topic_by_port(std::uint16_t port) const noexcept;
    [[nodiscard]] const topic_config* topic_by_name(std::string_view name) const noexcept;
};

// The embedded default: exactly DESIGN.md's defaults, one topic `events` on port 5140 with 8
// partitions.
[[nodiscard]] appliance_config default_config();

// Parses TOML text. On failure returns nullopt and sets *error (if non-null) to a message that
// starts with the setting's path, e.g. "topic[1].port: 70000 is out of range 1..65535 (line 12)".
// Topic indexes count [[topic]] tables from 0. `source_name` prefixes syntax errors.
[[nodiscard]] std::optional<appliance_config> parse_config(std::string_view toml_text,
                                                           std::string* error,
                                                           std::string_view source_name = "config");

// Reads and parses a file. A missing/unreadable file is an error naming the path.
[[nodiscard]] std::optional<appliance_config> load_config(const std::string& path,
                                                          std::string* error);

// Validates a config assembled in code (e.g. after --data-dir). Returns "" when valid.
[[nodiscard]] std::string validate(const appliance_config& cfg);

// Renders a config back to TOML (every key, explicit); parse_config(to_toml(c)) == c.
[[nodiscard]] std::string to_toml(const appliance_config& cfg);

// Kafka's legal topic name: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
[[nodiscard]] bool is_valid_topic_name(std::string_view name) noexcept;

}  // namespace sluice::config
