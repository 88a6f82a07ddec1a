#pragma once
// The DPDK packet I/O backend: EAL start-up from a profile (dpdk-config/*.toml), one ethdev port
// with one RX/TX queue pair per pipeline core, and the per-core receive loop that feeds a
// pipeline::pipeline (see include/sluice/pipeline/pipeline.h, "Backend contract").
//
// Threads:
//  - control thread: load_dpdk_profile(), dpdk_port::open() (EAL init, mempools, port
//    configure/start), stats(), request_stop(), close(). open() allocates; nothing else does.
//  - one receive thread per queue: run_queue(q, pipeline). It registers itself with the EAL
//    (rte_thread_register, so it gets an lcore id and a mempool cache) unless it already is an
//    EAL lcore, then loops rx_burst -> decode -> ARP/ICMP answers -> reassembly -> process()
//    until request_stop(); then flushes its pipeline and waits (bounded) for in_flight == 0.
//    No allocation, no exceptions, no locks on that loop.
//
// The EAL can be initialised once per process (rte_eal_cleanup is final): open() at most once.
//
// Counting: every frame that is not an answered/ignored ARP or ICMP and does not become a
// datagram is reported to the pipeline as one dropped event (drop_reason::bad_frame) for the
// topic of its UDP destination port when the frame shows one, else the "_unrouted" pseudo topic.
// Queue 0 polls the device counters about once a second and reports the deltas of imissed,
// rx_nombuf and ierrors as drop_reason::nic_missed on "_unrouted"; with net_af_packet also the
// kernel's AF_PACKET ring drops (PACKET_STATISTICS of the PMD's sockets), which that PMD itself
// does not report.

#include <sluice/net/frame.h>

#include <atomic>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::pipeline {
class pipeline;
}

namespace sluice::net {

// Frames per rx_burst (DPDK's recommended MAX_PKT_BURST).
inline constexpr std::uint16_t dpdk_burst_max = 64;
// SIMDJSON_PADDING: readable bytes the parser needs after a payload to run in place.
inline constexpr std::size_t json_padding_bytes = 64;

// A profile: EAL arguments and port settings (dpdk-config/<name>.toml). Every key optional;
// unknown keys are an error. See dpdk-config/README.md.
struct dpdk_profile {
    // [eal]
    std::vector<std::string> eal_args;   // eal.args: passed to rte_eal_init as written
    std::vector<std::string> vdevs;      // eal.vdevs: each becomes --vdev <arg>
    std::vector<std::string> allow;      // eal.allow: PCI addresses, each becomes -a <addr>
    // [port]
    std::string port_name;               // port.name: ethdev name ("net_pcap0", "0000:3b:00.0");
                                         // "" = the first available port
    std::uint16_t rx_descriptors = 1024; // port.rx_descriptors (per queue)
    std::uint16_t tx_descriptors = 512;  // port.tx_descriptors (per queue; ARP/ICMP replies only)
    bool rss = true;                     // port.rss: RSS over IP/UDP when queues > 1
    bool promiscuous = false;            // port.promiscuous
    bool verify_udp_checksum = true;     // port.verify_udp_checksum (false with trusted offload)
    std::uint16_t mtu = 0;               // port.mtu: 0 = leave the device's default
    // [mempool]
    std::uint32_t mbufs = 0;             // mempool.mbufs per NUMA node; 0 = computed
    std::uint32_t cache = 256;           // mempool.cache per lcore (<= 512)
    // [rx]
    std::uint16_t burst = 32;            // rx.burst (<= dpdk_burst_max)
    std::uint32_t reassembly_slots = 64; // rx.reassembly_slots per queue
    std::uint32_t stats_interval_ms = 1000;  // rx.stats_interval_ms: device counter poll period
};

// Parses profile TOML. nullopt + *error (naming the key, e.g. "port.rx_descriptors: ...").
[[nodiscard]] std::optional<dpdk_profile> parse_dpdk_profile(std::string_view toml_text,
                                                             std::string* error,
                                                             std::string_view source_name = "profile");
// Reads and parses a profile file; a missing file is an error naming the path.
[[nodiscard]] std::optional<dpdk_profile> load_dpdk_profile(const std::string& path,
                                                            std::string* error);

struct dpdk_port_options {
    dpdk_profile profile;
    std::vector<std::string> extra_eal_args;  // ingest.eal_args, appended after the profile's
    unsigned queues = 1;                      // RX/TX queue pairs = pipeline cores
    ip_address address;                       // IPv4 we answer ARP and ICMP echo for
    std::string program_name = "sluice";      // argv[0] for the EAL
};

// Per-queue receive counters (owned by the queue's thread; read relaxed from anywhere).
struct dpdk_queue_stats {
    std::uint64_t frames = 0;         // frames received (rx_burst)
    std::uint64_t bytes = 0;          // their bytes
    std::uint64_t bursts = 0;         // non-empty rx bursts
    std::uint64_t datagrams = 0;      // datagrams handed to process() (incl. reassembled)
    std::uint64_t reassembled = 0;    // datagrams completed by the reassembler
    std::uint64_t fragments = 0;      // IPv4 fragments seen
    std::uint64_t arp_replies = 0;    // ARP replies sent
    std::uint64_t icmp_replies = 0;   // ICMP echo replies sent
    std::uint64_t tx_failed = 0;      // replies that could not be sent (no mbuf, TX full)
    std::uint64_t ignored = 0;        // ARP/ICMP not for us (not events, not counted as drops)
    std::uint64_t multi_segment = 0;  // chained mbufs (frame larger than the data room): dropped
    std::uint64_t nic_missed = 0;     // device counter deltas folded in (queue 0 only)
    std::uint64_t tailroom_min = 0;   // smallest datagram tailroom seen (0 = none yet)
    std::array<std::uint64_t, drop_reason_count> frame_drops{};  // by net::drop_reason
};

struct dpdk_port_info {
    std::string driver;           // e.g. "net_pcap"
    std::string name;             // ethdev name
    std::uint16_t port_id = 0;
    int socket = 0;               // NUMA node of the port (0 when unknown)
    mac_address mac;
    unsigned queues = 0;
    bool rss = false;             // RSS configured (queues > 1 and the device hashes)
    std::uint64_t rss_hf = 0;     // hash functions after masking with the device's offloads
    std::uint32_t mbufs = 0;      // mempool size
    std::uint16_t data_room = 0;  // mbuf data room (incl. headroom)
    std::uint16_t headroom = 0;
    // RX checksum offloads enabled (where the device offers them): the NIC's per-frame verdicts
    // then spare the software checks (rx_checksum_options).
    bool rx_ipv4_checksum_offload = false;
    bool rx_udp_checksum_offload = false;
};

class dpdk_port {
public:
    // EAL init (profile args + vdevs + allow list + extra args; "-l <cpu>" added when no core
    // list is given, and the calling thread's CPU affinity restored afterwards), mempool per
    // NUMA node, port configure with `queues` RX/TX queues, start. nullptr + *error on failure;
    // *eal_failed (if given) tells whether rte_eal_init itself failed (lack of memory,
    // permissions: callers such as tests may skip).
    [[nodiscard]] static std::unique_ptr<dpdk_port> open(const dpdk_port_options& options,
                                                         std::string* error,
                                                         bool* eal_failed = nullptr);
    ~dpdk_port();  // close()
    dpdk_port(const dpdk_port&) = delete;
    dpdk_port& operator=(const dpdk_port&) = delete;

    // The receive loop of queue q on the calling thread, feeding `p`, until request_stop().
    // Then p.flush() and p.poll() until p.in_flight() == 0 or drain_timeout_ns elapsed.
    // Returns true when the pipeline drained. One loop per queue at a time, each on its own
    // thread; after every loop returned, resume() lets them be started again (a benchmark
    // pausing its pipeline; the device and the pipeline's counters carry on).
    bool run_queue(unsigned queue, pipeline::pipeline& p,
                   std::int64_t drain_timeout_ns = 10'000'000'000) noexcept;

    // Asks every run_queue loop to return (any thread; release, pairs with the loops' acquire).
    void request_stop() noexcept;
    // Clears request_stop() so run_queue may be called again. Only while no loop runs.
    void resume() noexcept;
    [[nodiscard]] bool stop_requested() const noexcept;

    // Stops and closes the port and cleans up the EAL. Call after every run_queue returned.
    // Idempotent.
    void close() noexcept;

    [[nodiscard]] const dpdk_port_info& info() const noexcept;
    [[nodiscard]] dpdk_queue_stats queue_stats(unsigned queue) const noexcept;
    // The device's counters (rte_eth_stats) for diagnostics: ipackets, imissed, rx_nombuf.
    struct device_stats {
        std::uint64_t ipackets = 0, opackets = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
    };
    [[nodiscard]] device_stats device_counters() const noexcept;
    // Sender side (`sluice gen --dpdk`): copies each frame into an mbuf from the port's pool and
    // hands them to queue q's TX ring; returns how many the device took (the caller retries or
    // counts the rest). One thread per queue, and not on a queue whose run_queue is running.
    std::size_t transmit(unsigned queue, std::span<const bytes_view> frames) noexcept;
    // ARP for `ip` from the port's address over queue q: a request every 200 ms, replies read
    // from q's receive side (everything else received meanwhile is freed) until timeout_ns.
    // Same threading rule as transmit().
    [[nodiscard]] std::optional<mac_address> resolve(unsigned queue, const ip_address& ip,
                                                     std::int64_t timeout_ns) noexcept;
    // The EAL arguments open() passed (for logs and `sluice plan`).
    [[nodiscard]] const std::vector<std::string>& eal_args() const noexcept;

    struct impl;

private:
    explicit dpdk_port(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

// Decode options for one received frame, from its mbuf's RX checksum flags (`ol_flags`): a
// checksum the NIC reported GOOD, or NONE (data integrity verified, checksum field not set, as
// virtio does), is not verified again in software. UNKNOWN (net_pcap, net_af_packet, any NIC
// without the offload) and BAD keep the software check: a BAD frame then fails it and is
// counted as bad_checksum as before, and a NIC erratum cannot drop a good frame. A check `base`
// turns off (port.verify_udp_checksum = false) stays off.
[[nodiscard]] decode_options rx_checksum_options(std::uint64_t mbuf_ol_flags,
                                                 const decode_options& base) noexcept;

// Peeks the UDP destination port of an IPv4/IPv6 frame that decode_frame dropped (bad checksum,
// bad UDP length), for topic attribution of the drop; 0 when the frame shows none. Pure,
// bounds-checked.
[[nodiscard]] std::uint16_t peek_udp_dst_port(bytes_view frame) noexcept;

}  // namespace sluice::net
