// The `sluice` executable: ISA baseline check, then CLI11 subcommand dispatch (see commands.h).
#include "commands.h"

#include <sluice/base/cpu.h>
#include <sluice_config.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

using namespace sluice::app;

int main(int argc, char** argv) {
    // Before anything else: code compiled for SLUICE_ISA must not run into an illegal instruction.
    if (const std::string missing = sluice::missing_isa_features(); !missing.empty()) {
        std::fprintf(stderr,
                     "sluice: this CPU lacks %s, required by the ISA baseline %s this binary was "
                     "built for; rebuild with a lower baseline (meson configure -Disa=x86-64-v2)\n",
                     missing.c_str(), SLUICE_ISA);
        return 1;
    }

    CLI::App app{"sluice: event-ingest appliance (NIC -> JSON -> durable Kafka-compatible logs)",
                 "sluice"};
    app.set_version_flag("--version", std::string("sluice ") + SLUICE_VERSION + " (" + SLUICE_ISA + ")");
    app.require_subcommand(1);
    app.fallthrough(false);

    int rc = 0;

    // run
    run_args run;
    auto* run_cmd = app.add_subcommand(
        "run", "Run the appliance (embedded default config when --config is not given). "
               "SIGTERM/SIGINT: stop receiving, drain in-flight events to disk, exit 0.");
    run_cmd->add_option("--config", run.config, "TOML config file")->check(CLI::ExistingFile);
    run_cmd->add_option("--data-dir", run.data_dir, "Override the config's data_dir");
    run_cmd->callback([&] { rc = cmd_run(run); });

    // gen
    gen_args gen;
    auto* gen_cmd = app.add_subcommand(
        "gen", "Load generator: JSON events with sequence numbers over UDP, or into a pcap file");
    gen_cmd->add_option("--target", gen.target, "Destination host:port")->capture_default_str();
    gen_cmd->add_option("--shape", gen.shape, "Event shape")
        ->check(CLI::IsMember({"sensors", "reviews", "users", "orders"}))
        ->capture_default_str();
    gen_cmd->add_option("--rate", gen.rate, "Events per second (0 = flat out)")->capture_default_str();
    gen_cmd->add_option("--count", gen.count, "Events to send (0 = no limit)")->capture_default_str();
    gen_cmd->add_option("--duration-s", gen.duration_s, "Seconds to run (0 = no limit)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    gen_cmd->add_option("--batch", gen.batch, "Events per datagram (NDJSON lines)")
        ->check(CLI::Range(1u, 65535u))
        ->capture_default_str();
    gen_cmd->add_option("--malformed-ratio", gen.malformed_ratio,
                        "Fraction of deliberately malformed events (0..1)")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    gen_cmd->add_option("--pcap", gen.pcap, "Write a pcap capture to FILE instead of sending");
    gen_cmd->add_option("--seed", gen.seed, "Random seed")->capture_default_str();
    gen_cmd->add_option("--dpdk", gen.dpdk_profile,
                        "Send through DPDK TX (kernel bypass) with this profile (dpdk-config/*.toml) "
                        "instead of a kernel socket; --target must be an IPv4 address")
        ->excludes("--pcap");
    gen_cmd->add_option("--source", gen.source, "With --dpdk: our IPv4 address (ARP and IP source)")
        ->capture_default_str();
    gen_cmd->add_option("--dst-mac", gen.dst_mac,
                        "With --dpdk: destination MAC (aa:bb:cc:dd:ee:ff); default: ask by ARP");
    gen_cmd->add_option("--eal-arg", gen.eal_args, "With --dpdk: extra EAL argument (repeatable)");
    gen_cmd->callback([&] { rc = cmd_gen(gen); });

    // log verify | dump
    auto* log_cmd = app.add_subcommand("log", "Inspect partition logs on disk");
    log_cmd->require_subcommand(1);
    log_verify_args verify;
    auto* verify_cmd = log_cmd->add_subcommand(
        "verify", "Check every segment of every partition; exit 0 iff all are intact");
    verify_cmd->add_option("DIR", verify.dir, "Data directory")->required()->check(CLI::ExistingDirectory);
    verify_cmd->callback([&] { rc = cmd_log_verify(verify); });

    log_dump_args dump;
    std::string dump_topic;
    std::int32_t dump_partition = 0;
    std::int64_t dump_from = 0;
    auto* dump_cmd = log_cmd->add_subcommand(
        "dump", "Print records (like kafka-dump-log); --format json: one object per record per line");
    dump_cmd->add_option("DIR", dump.dir, "Data directory")->required()->check(CLI::ExistingDirectory);
    auto* o_topic = dump_cmd->add_option("--topic", dump_topic, "Only this topic");
    auto* o_part = dump_cmd->add_option("--partition", dump_partition, "Only this partition")
                       ->check(CLI::NonNegativeNumber);
    auto* o_from = dump_cmd->add_option("--from", dump_from, "Start at this offset")
                       ->check(CLI::NonNegativeNumber);
    dump_cmd->add_option("--format", dump.format, "Output format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    dump_cmd->callback([&] {
        if (o_topic->count()) dump.topic = dump_topic;
        if (o_part->count()) dump.partition = dump_partition;
        if (o_from->count()) dump.from = dump_from;
        rc = cmd_log_dump(dump);
    });

    // stat
    stat_args stat;
    auto* stat_cmd = app.add_subcommand("stat", "Live per-core and per-partition view from the admin endpoint");
    stat_cmd->add_option("--admin", stat.admin, "Admin HTTP HOST:PORT")->capture_default_str();
    stat_cmd->add_flag("--once", stat.once, "Print one snapshot and exit");
    stat_cmd->add_option("--format", stat.format, "Output format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    stat_cmd->callback([&] { rc = cmd_stat(stat); });

    // plan
    plan_args plan;
    auto* plan_cmd = app.add_subcommand(
        "plan", "Show the core/NUMA placement `run` would use and check host tuning");
    plan_cmd->add_option("--config", plan.config, "TOML config file")->check(CLI::ExistingFile);
    plan_cmd->add_option("--nic", plan.nic,
                         "PCI address of the ingest NIC (e.g. 0000:3b:00.0, see `lspci -D`): "
                         "pipelines go on its NUMA node (sysfs numa_node); an unknown device "
                         "is an error")
        ->type_name("PCI_ADDRESS");
    plan_cmd->add_flag("--check", plan.check, "Exit 1 if any tuning check fails");
    plan_cmd->callback([&] { rc = cmd_plan(plan); });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return rc;
}
