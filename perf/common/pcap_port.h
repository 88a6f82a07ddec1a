#pragma once
// The capacity source of the DPDK benchmarks and profilers (bench-pipeline-dpdk,
// profile-rx-dpdk): one net_pcap port, one queue, replaying a capture forever from memory
// (infinite_rx=1), EAL without hugepages. `tag` makes the EAL file prefix unique per port
// within the process; errors are printed with `program` and give nullptr.

#include <sluice/net/dpdk_port.h>

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

namespace sluice::perf {

inline std::unique_ptr<net::dpdk_port> open_pcap_port(const std::string& pcap,
                                                      std::size_t packets, const char* program,
                                                      const std::string& tag,
                                                      const char* memory_mb = "2048") {
    std::string err;
    net::dpdk_profile prof;
    prof.eal_args = {"--no-huge", "-m", memory_mb, "--no-pci", "--file-prefix",
                     std::string("sluice-") + program + "-" + std::to_string(getpid()) + "-" + tag,
                     "--log-level", "lib.eal:warning"};
    prof.vdevs = {"net_pcap0,rx_pcap=" + pcap + ",infinite_rx=1"};
    prof.rx_descriptors = 1024;
    prof.tx_descriptors = 256;
    prof.mbufs = static_cast<std::uint32_t>(packets + 16384);
    prof.rss = false;
    net::dpdk_port_options po;
    po.profile = prof;
    po.queues = 1;
    po.address = net::ip_address::v4(169, 254, 0, 1);
    po.program_name = program;
    auto port = net::dpdk_port::open(po, &err);
    if (!port) std::fprintf(stderr, "%s: %s\n", program, err.c_str());
    return port;
}

}  // namespace sluice::perf
