#pragma once
// The `sluice` subcommands: parsed options (exactly DESIGN.md's "Interface") and entry points.
// main.cc parses the command line with CLI11 and calls one cmd_* function; each returns the
// process exit status. Each command lives in its own file (cmd_<name>.cc).

#include <sluice/config/config.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::app {

// sluice run [--config FILE] [--data-dir DIR]
struct run_args {
    std::string config;    // "" = embedded default
    std::string data_dir;  // "" = keep the config's data_dir
};

// sluice gen --target host:port --shape S --rate N --count N --duration-s N --batch N
//            --malformed-ratio R --pcap FILE --seed N
struct gen_args {
    std::string target = "127.0.0.1:5140";
    std::string shape = "sensors";      // sensors | reviews | users | orders
    std::uint64_t rate = 0;             // events/s; 0 = flat out
    std::uint64_t count = 0;            // events to send; 0 = no limit
    double duration_s = 0;              // seconds; 0 = no limit
    std::uint32_t batch = 1;            // events per datagram (NDJSON lines)
    double malformed_ratio = 0;         // 0..1, fraction of deliberately malformed events
    std::string pcap;                   // write a pcap capture to FILE instead of sending
    std::uint64_t seed = 1;
    std::string dpdk_profile;           // send through DPDK TX with this profile instead
    std::string source = "169.254.0.2"; // --dpdk: our IPv4 (ARP, IP source)
    std::string dst_mac;                // --dpdk: destination MAC; empty = resolve by ARP
    std::vector<std::string> eal_args;  // --dpdk: appended to the profile's EAL arguments
};

// sluice log verify DIR
struct log_verify_args {
    std::string dir;
};

// sluice log dump DIR [--topic T] [--partition P] [--from OFFSET] [--format text|json]
struct log_dump_args {
    std::string dir;
    std::optional<std::string> topic;
    std::optional<std::int32_t> partition;
    std::optional<std::int64_t> from;
    std::string format = "text";  // text | json
};

// sluice stat [--admin HOST:PORT] [--once] [--format text|json]
struct stat_args {
    std::string admin = "127.0.0.1:9644";
    bool once = false;
    std::string format = "text";  // text | json
};

// sluice plan [--config FILE] [--nic PCI_ADDRESS] [--check]
struct plan_args {
    std::string config;  // "" = embedded default
    std::string nic;     // PCI address of the ingest NIC ("" = none: no NUMA preference)
    bool check = false;  // exit 1 when any tuning check fails
};

// Loads `config_path` ("" = embedded default), applies `data_dir_override` (if non-empty) and
// validates. nullopt + *error (naming the setting or file) on failure. Shared by run and plan.
std::optional<config::appliance_config> load_app_config(const std::string& config_path,
                                                        const std::string& data_dir_override,
                                                        std::string* error);

int cmd_run(const run_args& a);
int cmd_gen(const gen_args& a);
int cmd_log_verify(const log_verify_args& a);
int cmd_log_dump(const log_dump_args& a);
int cmd_stat(const stat_args& a);
int cmd_plan(const plan_args& a);

}  // namespace sluice::app
