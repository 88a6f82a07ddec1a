// `sluice run`: the appliance. Loads the config, opens the log (creating missing topics and
// their `.dlq` topics), starts the writer, the pipelines (kernel-socket backend, one thread per
// core, pinned), the Kafka listener and the admin HTTP endpoint; on SIGTERM/SIGINT stops
// receiving, drains in-flight events to disk and exits 0.

#include "commands.h"

#include <sluice/admin/http_server.h>
#include <sluice/admin/kafka_metrics.h>
#include <sluice/admin/log_metrics.h>
#include <sluice/admin/metrics.h>
#include <sluice/base/clock.h>
#include <sluice/config/config.h>
#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>
#include <sluice/net/socket_rx.h>
#include <sluice/pipeline/pipeline.h>
#include <sluice/pipeline/socket_worker.h>
#include <sluice/topo/topo.h>

#include <sluice_config.h>
#if SLUICE_HAVE_DPDK
#include <sluice/net/dpdk_port.h>  // DPDK backend (owner: dpdk)

#include <arpa/inet.h>
#endif

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sluice/base/json.h>

namespace sluice::app {

namespace {

// Takes the pipeline cpus out of the calling thread's affinity, so the control threads it
// starts next (Kafka server, admin HTTP) and their children stay off the pipelines' cores;
// pipeline threads pin themselves. Returns the cpus left ("" when none would be: unchanged).
std::string keep_off_pipeline_cpus(const topo::placement& place) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return "";
    for (const unsigned c : place.pipeline_cpus)
        if (c < CPU_SETSIZE) CPU_CLR(c, &set);
    if (CPU_COUNT(&set) == 0) return "";
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) return "";
    std::string cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
    return cpus;
}

void append_counters(std::string& j, const pipeline::topic_counters& c) {
    j += fmt::format("\"received\":{},\"stored\":{},\"rejected\":{},\"dropped\":{},\"in_flight\":{}",
                     c.received, c.stored, c.rejected_total(), c.dropped_total(), c.in_flight);
    j += ",\"rejected_by_reason\":{";
    bool first = true;
    for (std::size_t r = 1; r < c.rejected.size(); ++r) {
        if (c.rejected[r] == 0) continue;
        j += fmt::format("{}{}:{}", first ? "" : ",",
                         json_string(event::to_string(static_cast<event::reject_reason>(r))), c.rejected[r]);
        first = false;
    }
    j += "},\"dropped_by_reason\":{";
    first = true;
    for (std::size_t r = 0; r < c.dropped.size(); ++r) {
        if (c.dropped[r] == 0) continue;
        j += fmt::format("{}{}:{}", first ? "" : ",",
                         json_string(pipeline::to_string(static_cast<pipeline::drop_reason>(r))), c.dropped[r]);
        first = false;
    }
    j += "}";
}

std::string status_json(const config::appliance_config& cfg, const log::log_store& store,
                        const pipeline::pipeline_set& set, const std::vector<bool>& io_uring,
                        std::uint16_t kafka_port, std::int64_t started_ms) {
    const auto snap = set.counters();
    std::string j = "{";
    j += fmt::format("\"version\":{},\"uptime_ms\":{},", json_string(SLUICE_VERSION), wall_ms() - started_ms);
    j += "\"config\":{";
    j += fmt::format("\"data_dir\":{},\"backend\":{},\"address\":{},\"cores\":{},", json_string(cfg.data_dir),
                     json_string(config::to_string(cfg.ingest.backend)), json_string(cfg.ingest.address),
                     set.cores());
    j += "\"allow\":[";
    for (std::size_t i = 0; i < cfg.ingest.allow.text().size(); ++i) {
        if (i != 0) j += ',';
        j += json_string(cfg.ingest.allow.text()[i]);
    }
    j += fmt::format("],\"rate_limit_per_source\":{},", cfg.ingest.rate_limit_per_source);
    j += fmt::format("\"flush\":{{\"interval_ms\":{},\"bytes\":{}}},", cfg.flush.interval_ms, cfg.flush.bytes);
    j += fmt::format("\"kafka\":{{\"listen\":{},\"port\":{}}},\"admin\":{{\"listen\":{}}},",
                     json_string(cfg.kafka.listen.to_string()), kafka_port,
                     json_string(cfg.admin.listen.to_string()));
    j += "\"topics\":[";
    for (std::size_t i = 0; i < cfg.topics.size(); ++i) {
        const auto& t = cfg.topics[i];
        j += fmt::format("{}{{\"name\":{},\"port\":{},\"partitions\":{},\"key\":{},\"timestamp\":{}}}",
                         i ? "," : "", json_string(t.name), t.port, t.partitions, json_string(t.key),
                         json_string(t.timestamp));
    }
    j += "]},";
    // Per-topic counters (summed over cores) with partitions and watermarks.
    j += "\"topics\":[";
    for (std::size_t t = 0; t < snap.topics.size(); ++t) {
        j += t ? ",{" : "{";
        j += fmt::format("\"name\":{},", json_string(snap.topic_names[t]));
        append_counters(j, snap.topics[t]);
        j += ",\"partitions\":[";
        if (auto info = store.find_topic(snap.topic_names[t])) {
            for (std::int32_t p = 0; p < info->partitions; ++p) {
                const partition_index pi{info->first.value() + static_cast<std::uint32_t>(p)};
                j += fmt::format("{}{{\"partition\":{},\"log_start_offset\":{},\"high_watermark\":{}}}",
                                 p ? "," : "", p, store.log_start_offset(pi), store.high_watermark(pi));
            }
        }
        j += "]";
        if (t + 1 < snap.topics.size()) {
            const std::string dlq = snap.topic_names[t] + ".dlq";
            if (auto info = store.find_topic(dlq))
                j += fmt::format(",\"dlq\":{{\"name\":{},\"high_watermark\":{}}}", json_string(dlq),
                                 store.high_watermark(info->first));
        }
        j += "}";
    }
    const auto total = snap.total();
    j += "],\"total\":{";
    append_counters(j, total);
    j += "},\"cores\":[";
    for (std::size_t c = 0; c < snap.cores.size(); ++c) {
        const auto& k = snap.cores[c];
        j += fmt::format("{}{{\"core\":{},\"io_uring\":{},\"datagrams\":{},\"bytes\":{},\"scratch_copies\":{},"
                         "\"batches\":{},\"batches_full\":{},\"topics\":[",
                         c ? "," : "", c, c < io_uring.size() && io_uring[c] ? "true" : "false", k.datagrams,
                         k.bytes, k.scratch_copies, k.batches_appended, k.batches_full);
        for (std::size_t t = 0; t < snap.per_core[c].size(); ++t) {
            j += t ? ",{" : "{";
            j += fmt::format("\"name\":{},", json_string(snap.topic_names[t]));
            append_counters(j, snap.per_core[c][t]);
            j += "}";
        }
        j += "]}";
    }
    j += fmt::format("],\"durable_latency_us\":{{\"p50\":{},\"p99\":{},\"p999\":{}}}",
                     snap.durable_latency_us(0.5), snap.durable_latency_us(0.99), snap.durable_latency_us(0.999));
    const auto ls = store.stats();
    j += fmt::format(",\"log\":{{\"flushes\":{},\"bytes_written\":{},\"appends_full\":{},\"io_errors\":{},"
                     "\"no_space_errors\":{},\"fsync_ns_p50\":{},\"fsync_ns_p99\":{}}}",
                     ls.flushes, ls.bytes_written, ls.appends_full, ls.io_errors, ls.no_space_errors,
                     ls.fsync_ns_p50, ls.fsync_ns_p99);
    j += "}";
    return j;
}

}  // namespace

int cmd_run(const run_args& a) {
    const std::int64_t started_ms = wall_ms();
    std::string err;
    auto cfg_opt = load_app_config(a.config, a.data_dir, &err);
    if (!cfg_opt) {
        std::fprintf(stderr, "sluice run: %s\n", err.c_str());
        return 2;
    }
    const config::appliance_config& cfg = *cfg_opt;
    const bool use_dpdk = cfg.ingest.backend == config::ingest_backend::dpdk;
#if !SLUICE_HAVE_DPDK
    if (use_dpdk) {
        std::fprintf(stderr, "sluice run: ingest.backend = \"dpdk\", but this build has no DPDK "
                             "(install libdpdk-dev, meson configure -Ddpdk=enabled)\n");
        return 2;
    }
#endif

    // Signals: blocked in every thread (inherited), taken by sigwait on the main thread.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    // The NIC's NUMA node, when the DPDK profile names its PCI device (eal.allow): pipelines go
    // there. Virtual devices (vdevs) have no node of their own.
    int nic_numa = -1;
#if SLUICE_HAVE_DPDK
    std::optional<net::dpdk_profile> profile;
    if (use_dpdk) {
        profile = net::load_dpdk_profile(cfg.ingest.dpdk_profile, &err);
        if (!profile) {
            std::fprintf(stderr, "sluice run: %s\n", err.c_str());
            return 2;
        }
        if (!profile->allow.empty()) {
            nic_numa = topo::numa_node_of_pci(profile->allow.front());
            spdlog::info("placement: NIC {} on NUMA node {}", profile->allow.front(),
                         nic_numa >= 0 ? std::to_string(nic_numa) : std::string("unknown"));
        }
    }
#endif

    // Placement (pipelines on distinct cores; writer/control elsewhere when possible).
    std::optional<topo::topology> topology = topo::topology::load(&err);
    unsigned cores = cfg.ingest.cores;
    topo::placement place;
    if (topology) {
        place = topo::plan(*topology, topo::placement_request{cores, nic_numa});
        cores = static_cast<unsigned>(place.pipeline_cpus.size());
        for (const auto& n : place.notes) spdlog::info("placement: {}", n);
    } else {
        spdlog::warn("topology unavailable ({}); threads are not pinned", err);
        if (cores == 0) cores = 1;
    }

    // The log.
    log::store_options so;
    so.data_dir = cfg.data_dir;
    so.flush_interval_us = std::int64_t{cfg.flush.interval_ms} * 1000;
    so.flush_bytes = static_cast<std::int64_t>(cfg.flush.bytes);
    so.max_appenders = std::max<std::uint32_t>(64, cores + 8);
    if (topology) {
        so.writer_cpu = static_cast<int>(place.writer_cpu);
        spdlog::info("log writer on cpu {}", place.writer_cpu);
    }
    auto store = log::log_store::open(so, &err);
    if (!store) {
        std::fprintf(stderr, "sluice run: data_dir %s: %s\n", cfg.data_dir.c_str(), err.c_str());
        return 1;
    }
    for (const auto& t : cfg.topics) {
        for (int dlq = 0; dlq < 2; ++dlq) {
            log::topic_spec spec;
            spec.name = dlq ? t.dlq_name() : t.name;
            spec.partitions = dlq ? 1 : t.partitions;
            spec.retention_bytes = t.retention_bytes;
            spec.retention_ms = t.retention_ms;
            spec.segment_bytes = t.segment_bytes;
            if (auto existing = store->find_topic(spec.name)) {
                if (existing->partitions != spec.partitions)
                    spdlog::warn("topic {} exists with {} partitions (config says {}); keeping {}", spec.name,
                                 existing->partitions, spec.partitions, existing->partitions);
                continue;
            }
            if (store->create_topic(spec, &err) != errc::ok) {
                std::fprintf(stderr, "sluice run: topic %s: cannot create: %s\n", spec.name.c_str(), err.c_str());
                return 1;
            }
            spdlog::info("created topic {} ({} partitions)", spec.name, spec.partitions);
        }
    }
    store->start();

    // Pipelines.
    pipeline::pipeline_options po;
    po.cores = cores;
    po.allow = &cfg.ingest.allow;
    po.rate_limit_per_source = cfg.ingest.rate_limit_per_source;
    for (const auto& t : cfg.topics) {
        pipeline::topic_route r;
        r.name = t.name;
        r.port = t.port;
        r.rules.key_pointer = t.key;
        r.rules.require_pointers = t.require;
        r.rules.timestamp_pointer = t.timestamp;
        r.dlq_name = t.dlq_name();
        po.topics.push_back(std::move(r));
    }
    auto set = pipeline::pipeline_set::make(*store, po, &err);
    if (!set) {
        std::fprintf(stderr, "sluice run: %s\n", err.c_str());
        return 1;
    }
    admin::registry reg(cores + 2);
    set->register_metrics(reg);
    log::log_store* st = store.get();
    reg.callback_gauge("sluice_log_flushes", "fdatasync calls completed by the log writer.", {},
                       [st] { return static_cast<double>(st->stats().flushes); });
    reg.callback_gauge("sluice_log_bytes_written", "Bytes written by the log writer.", {},
                       [st] { return static_cast<double>(st->stats().bytes_written); });
    reg.callback_gauge("sluice_log_io_errors", "Storage I/O errors seen by the log writer.", {},
                       [st] { return static_cast<double>(st->stats().io_errors + st->stats().no_space_errors); });

    admin::register_log_metrics(reg, *store);  // fsync latency histogram, bytes on disk (owner: ops)

    std::vector<std::uint16_t> ports;
    for (const auto& t : cfg.topics) ports.push_back(t.port);
    std::vector<std::unique_ptr<pipeline::pipeline>> pipes;
    std::vector<std::unique_ptr<net::socket_rx>> rxs;
    std::vector<bool> io_uring;
#if SLUICE_HAVE_DPDK
    // DPDK backend (owner: dpdk): one port, one RX/TX queue pair per pipeline core.
    std::unique_ptr<net::dpdk_port> dpdk;
    if (use_dpdk) {
        net::dpdk_port_options dpo;
        dpo.profile = *profile;
        dpo.extra_eal_args = cfg.ingest.eal_args;
        dpo.queues = cores;
        in_addr a4{};
        if (inet_pton(AF_INET, cfg.ingest.address.c_str(), &a4) != 1) {
            std::fprintf(stderr, "sluice run: ingest.address: %s is not an IPv4 address (dpdk)\n",
                         cfg.ingest.address.c_str());
            return 2;
        }
        std::memcpy(dpo.address.bytes.data(), &a4, 4);
        dpdk = net::dpdk_port::open(dpo, &err);
        if (!dpdk) {
            std::fprintf(stderr, "sluice run: ingest.dpdk_profile %s: %s\n",
                         cfg.ingest.dpdk_profile.c_str(), err.c_str());
            return 1;
        }
        spdlog::info("dpdk: port {} ({}), {} queue(s), rss {}, {} mbufs", dpdk->info().name,
                     dpdk->info().driver, dpdk->info().queues, dpdk->info().rss ? "on" : "off",
                     dpdk->info().mbufs);
    }
#endif
    for (unsigned c = 0; c < cores; ++c) {
        auto p = set->make_pipeline(c, &err);
        if (!p) {
            std::fprintf(stderr, "sluice run: %s\n", err.c_str());
            return 1;
        }
        if (use_dpdk) {
            io_uring.push_back(false);
            pipes.push_back(std::move(p));
            continue;
        }
        net::socket_rx_options ro;
        ro.address = cfg.ingest.address;
        ro.ports = ports;
        auto rx = net::socket_rx::open(ro, &err);
        if (!rx) {
            std::fprintf(stderr, "sluice run: %s\n", err.c_str());
            return 1;
        }
        io_uring.push_back(rx->uses_io_uring());
        pipes.push_back(std::move(p));
        rxs.push_back(std::move(rx));
    }

    // Control threads off the pipeline cores (with a dedicated placement; the writer pinned
    // itself and its io-wq workers when the store started).
    if (topology && place.dedicated) {
        const std::string cpus = keep_off_pipeline_cpus(place);
        if (!cpus.empty()) spdlog::info("control threads (Kafka, admin HTTP) on cpus {}", cpus);
    }

    // Kafka listener.
    kafka::server_options ko;
    ko.listen_host = cfg.kafka.listen.host;
    ko.listen_port = cfg.kafka.listen.port;
    ko.advertised_host = cfg.kafka.advertised_or_listen().host;
    ko.advertised_port = cfg.kafka.advertised ? cfg.kafka.advertised->port : 0;
    auto kafka_server = kafka::server::create(*store, ko, &err);
    if (!kafka_server || !kafka_server->start(&err)) {
        std::fprintf(stderr, "sluice run: kafka.listen %s: %s\n", cfg.kafka.listen.to_string().c_str(),
                     err.c_str());
        return 1;
    }
    const std::uint16_t kafka_port = kafka_server->port();
    admin::register_kafka_metrics(reg, *kafka_server, *store);  // requests, errors, lag (owner: ops)

    // Admin HTTP.
    const pipeline::pipeline_set* setp = set.get();
    admin::http_server http(reg, [&cfg, st, setp, io_uring, kafka_port, started_ms] {
        return status_json(cfg, *st, *setp, io_uring, kafka_port, started_ms);
    });
    if (!http.start(cfg.admin.listen.host, cfg.admin.listen.port, &err)) {
        std::fprintf(stderr, "sluice run: %s\n", err.c_str());
        return 1;
    }

    // Pipeline threads.
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::atomic<unsigned> undrained{0};
    for (unsigned c = 0; c < cores; ++c) {
        threads.emplace_back([&, c] {
            const std::string name = fmt::format("sluice-pipe-{}", c);
            pthread_setname_np(pthread_self(), name.c_str());
            if (topology && c < place.pipeline_cpus.size()) {
                std::string perr;
                if (!topo::pin_current_thread(*topology, place.pipeline_cpus[c], &perr))
                    spdlog::warn("pipeline {}: cannot pin to cpu {}: {}", c, place.pipeline_cpus[c], perr);
            }
#if SLUICE_HAVE_DPDK
            if (dpdk) {
                if (!dpdk->run_queue(c, *pipes[c])) undrained.fetch_add(1);
                return;
            }
#endif
            if (!pipeline::run_socket_loop(*pipes[c], *rxs[c], stop)) undrained.fetch_add(1);
        });
    }

    spdlog::info("sluice {} running: data_dir {}, {} pipeline core(s), backend socket ({})", SLUICE_VERSION,
                 cfg.data_dir, cores, io_uring.empty() || io_uring[0] ? "io_uring multishot recvmsg" : "recvmmsg");
    for (unsigned c = 0; c < cores && topology; ++c)
        spdlog::info("pipeline {} on cpu {}", c, place.pipeline_cpus[c]);
    for (const auto& t : cfg.topics)
        spdlog::info("ingest: UDP {}:{} -> topic {} ({} partitions, DLQ {})", cfg.ingest.address, t.port, t.name,
                     t.partitions, t.dlq_name());
    spdlog::info("kafka API listening on {}:{}", cfg.kafka.listen.host, kafka_port);
    spdlog::info("admin HTTP listening on {}:{} (/metrics, /v1/status)", cfg.admin.listen.host, http.port());

    int sig = 0;
    sigwait(&sigs, &sig);
    spdlog::info("signal {}: stopping ingest, draining in-flight events", sig);
    stop.store(true, std::memory_order_release);  // pairs with run_socket_loop's acquire load
#if SLUICE_HAVE_DPDK
    if (dpdk) dpdk->request_stop();
#endif
    for (auto& t : threads) t.join();
#if SLUICE_HAVE_DPDK
    if (dpdk) dpdk->close();
#endif
    rxs.clear();
    const auto total = set->counters().total();
    kafka_server->stop();
    store->stop();
    http.stop();
    spdlog::info("stopped: received {} stored {} rejected {} dropped {} in_flight {}", total.received, total.stored,
                 total.rejected_total(), total.dropped_total(), total.in_flight);
    if (undrained.load() != 0) {
        spdlog::error("{} pipeline(s) did not drain in time", undrained.load());
        return 1;
    }
    return 0;
}

}  // namespace sluice::app
