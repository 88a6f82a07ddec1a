// The DPDK packet I/O backend: see include/sluice/net/dpdk_port.h and README.md ("DPDK port").

#include <sluice/net/dpdk_port.h>
#include <sluice/net/frame_tx.h>

#include <sluice/base/assert.h>
#include <sluice/base/clock.h>
#include <sluice/pipeline/pipeline.h>

#include "frame_impl.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include <dirent.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace sluice::net {

namespace {

// Largest frame we promise to parse in place: 1500-byte IP MTU + Ethernet + two VLAN tags.
constexpr std::size_t frame_bytes_max = 1500 + 14 + 2 * 4;
// Data room (incl. headroom): DPDK's default 2048 + 128 leaves 2048 - 1522 = 526 bytes of
// tailroom after a full-size frame, well above simdjson's 64-byte padding.
constexpr std::uint16_t mbuf_data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
static_assert(mbuf_data_room - RTE_PKTMBUF_HEADROOM >= frame_bytes_max + json_padding_bytes,
              "mbuf data room must leave SIMDJSON_PADDING after a 1500-byte frame's payload");

constexpr std::int64_t poll_interval_ns = 20'000;         // pipeline poll while busy
constexpr std::int64_t expire_interval_ns = 10'000'000;   // reassembly expiry
constexpr std::uint64_t rss_wanted = RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP;

std::atomic<bool> g_eal_used{false};  // EAL init is once per process (cleanup is final)

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    // Single writer (the queue's thread); readers load relaxed.
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

bool has_core_list(const std::vector<std::string>& args) {
    for (const auto& a : args) {
        if (a == "-l" || a == "-c" || a == "--lcores" || a.rfind("--lcores=", 0) == 0 ||
            (a.size() > 2 && (a.rfind("-l", 0) == 0 || a.rfind("-c", 0) == 0) && a[2] != '-'))
            return true;
    }
    return false;
}

std::string rte_error(int e) { return rte_strerror(e < 0 ? -e : e); }

// net_af_packet (DPDK 22.11) never reads its sockets' PACKET_STATISTICS, so frames the kernel
// dropped because the AF_PACKET ring was full appear in no ethdev counter. The PMD's sockets are
// the only AF_PACKET sockets of this process: find them by their domain, read their drop counts
// here (reading clears them; the PMD never reads them, so nothing else is disturbed).
std::vector<int> find_packet_sockets() {
    std::vector<int> fds;
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return fds;
    const int own = dirfd(d);
    while (const dirent* e = readdir(d)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == own) continue;
        int domain = 0;
        socklen_t len = sizeof domain;
        if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
            domain == AF_PACKET)
            fds.push_back(static_cast<int>(fd));
    }
    closedir(d);
    return fds;
}

// Kernel ring drops since the last call, summed over `fds`.
std::uint64_t take_packet_ring_drops(const std::vector<int>& fds) noexcept {
    std::uint64_t drops = 0;
    for (const int fd : fds) {
        tpacket_stats st{};
        socklen_t len = sizeof st;
        if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) drops += st.tp_drops;
    }
    return drops;
}

// rx_checksum_options, inline in run_queue's per-frame loop (a call there cost ~10
// instructions per frame and spilled the options to the stack).
[[gnu::always_inline]] inline decode_options checksum_options(std::uint64_t flags,
                                                              const decode_options& base) noexcept {
    decode_options o = base;
    const std::uint64_t ip = flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    const std::uint64_t l4 = flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE)
        o.verify_ipv4_checksum = false;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE)
        o.verify_udp_checksum = false;
    return o;
}

// True for virtual PMDs whose rx_burst copies each frame into its mbuf on the calling core
// (net_pcap, net_af_packet, net_tap, net_null with copy=1, net_ring's producer): the frame is
// in this core's cache when run_queue reads it, so prefetching it only costs. Measured on
// bench-pipeline-dpdk (net_pcap, one event per packet, perf record -C 1, 6 runs each on a
// loaded 2-vCPU VM): the receive path's share of the pipeline process's samples 6.8% (5.7-7.7)
// with the prefetch of frame i + 3, 6.0% (5.4-7.7) without; the prefetch's address computation
// held ~7% of run_queue's samples; 4 fewer instructions per frame. A NIC that DMAs frames (PCI)
// keeps the prefetch (DPDK's l3fwd/l2fwd practice).
bool rx_copies_on_core(const std::string& driver) noexcept {
    for (const char* d : {"net_pcap", "net_af_packet", "net_tap", "net_null", "net_ring"})
        if (driver == d) return true;
    return false;
}

// Frees a received burst. In the usual case every mbuf is direct, unshared (refcnt 1), one
// segment and from the port's pool: rte_pktmbuf_prefree_seg would leave each unchanged, so they
// go back with one rte_mempool_put_bulk, what rte_pktmbuf_free_bulk ends with, without its
// per-mbuf pool grouping into a pending array (a call and ~40 instructions per mbuf there).
// Anything else takes rte_pktmbuf_free_bulk.
[[gnu::always_inline]] inline void free_burst(rte_mbuf** pkts, unsigned n,
                                              rte_mempool* pool) noexcept {
    bool plain = true;
    for (unsigned i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        plain &= (rte_mbuf_refcnt_read(m) == 1) & RTE_MBUF_DIRECT(m) & (m->next == nullptr) &
                 (m->nb_segs == 1) & (m->pool == pool);
    }
    if (plain) [[likely]]
        rte_mempool_put_bulk(pool, reinterpret_cast<void* const*>(pkts), n);
    else
        rte_pktmbuf_free_bulk(pkts, n);
}

}  // namespace

struct queue_counters {
    std::atomic<std::uint64_t> frames{0}, bytes{0}, bursts{0}, datagrams{0}, reassembled{0},
        fragments{0}, arp_replies{0}, icmp_replies{0}, tx_failed{0}, ignored{0},
        multi_segment{0}, nic_missed{0}, tailroom_min{0};
    std::array<std::atomic<std::uint64_t>, drop_reason_count> frame_drops{};
};

struct alignas(64) queue_state {
    queue_counters c;
    std::unique_ptr<ipv4_reassembler> reassembler;
    // Device drops (imissed + rx_nombuf + ierrors + ring drops) already folded into the
    // pipeline's counters (queue 0): kept across run_queue calls, so a loop started again after
    // resume() counts only what is new.
    std::uint64_t nic_seen = 0;
};

struct dpdk_port::impl {
    dpdk_port_options options;
    dpdk_port_info info;
    std::vector<std::string> eal_args;
    std::vector<std::unique_ptr<queue_state>> queues;
    rte_mempool* pool = nullptr;
    bool eal_ready = false;
    bool port_started = false;
    bool closed = false;
    std::atomic<bool> stop{false};
    std::atomic<unsigned> running{0};
    decode_options decode;
    std::vector<int> packet_sockets;  // net_af_packet's sockets (ring drops), else empty
};

dpdk_port::dpdk_port(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}
dpdk_port::~dpdk_port() { close(); }

const dpdk_port_info& dpdk_port::info() const noexcept { return _impl->info; }
const std::vector<std::string>& dpdk_port::eal_args() const noexcept { return _impl->eal_args; }

void dpdk_port::request_stop() noexcept {
    _impl->stop.store(true, std::memory_order_release);  // pairs with run_queue's acquire load
}
void dpdk_port::resume() noexcept {
    _impl->stop.store(false, std::memory_order_release);
}
bool dpdk_port::stop_requested() const noexcept {
    return _impl->stop.load(std::memory_order_acquire);
}

std::unique_ptr<dpdk_port> dpdk_port::open(const dpdk_port_options& o, std::string* error,
                                           bool* eal_failed) {
    auto fail = [&](std::string msg) -> std::unique_ptr<dpdk_port> {
        if (error) *error = std::move(msg);
        return nullptr;
    };
    if (eal_failed) *eal_failed = false;
    const dpdk_profile& pr = o.profile;
    if (o.queues == 0 || o.queues > RTE_MAX_QUEUES_PER_PORT)
        return fail("ingest.cores: " + std::to_string(o.queues) + " queues is out of range");
    if (o.address.v6) return fail("ingest.address: the DPDK backend answers ARP for IPv4 only");
    if (pr.burst == 0 || pr.burst > dpdk_burst_max)
        return fail("rx.burst: must be 1.." + std::to_string(dpdk_burst_max));

    auto im = std::make_unique<impl>();
    im->options = o;
    im->decode.verify_udp_checksum = pr.verify_udp_checksum;

    // EAL arguments: profile args, vdevs, allow list, then the config's extra args.
    std::vector<std::string> args{o.program_name};
    args.insert(args.end(), pr.eal_args.begin(), pr.eal_args.end());
    for (const auto& v : pr.vdevs) {
        args.emplace_back("--vdev");
        args.push_back(v);
    }
    for (const auto& a : pr.allow) {
        args.emplace_back("-a");
        args.push_back(a);
    }
    args.insert(args.end(), o.extra_eal_args.begin(), o.extra_eal_args.end());

    // EAL pins the main thread to the main lcore's CPU (and threads created later inherit it):
    // keep the caller's affinity and restore it; receive threads are pinned by their owner.
    cpu_set_t saved;
    CPU_ZERO(&saved);
    const bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    if (!has_core_list(args)) {
        int first = 0;
        if (have_saved)
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &saved)) {
                    first = c;
                    break;
                }
        args.emplace_back("-l");
        args.push_back(std::to_string(first));
    }
    im->eal_args = args;

    if (g_eal_used.exchange(true))
        return fail("DPDK EAL was already initialised in this process (once per process)");
    std::vector<std::string> storage = args;  // rte_eal_init may permute argv
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
    if (have_saved) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    if (rc < 0) {
        if (eal_failed) *eal_failed = true;
        std::string joined;
        for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
        return fail("rte_eal_init failed: " + rte_error(rte_errno) + " (args: " + joined + ")");
    }
    im->eal_ready = true;
    auto port = std::unique_ptr<dpdk_port>(new dpdk_port(std::move(im)));
    impl& s = *port->_impl;

    // Port.
    std::uint16_t pid = RTE_MAX_ETHPORTS;
    if (!pr.port_name.empty()) {
        if (rte_eth_dev_get_port_by_name(pr.port_name.c_str(), &pid) != 0)
            return fail("port.name: no DPDK port named '" + pr.port_name + "'");
    } else {
        std::uint16_t id = 0;
        RTE_ETH_FOREACH_DEV(id) {
            pid = id;
            break;
        }
        if (pid == RTE_MAX_ETHPORTS)
            return fail("no DPDK port: add a vdev (eal.vdevs) or a PCI device bound to vfio-pci "
                        "(eal.allow, dpdk-devbind.py)");
    }
    rte_eth_dev_info dev{};
    if (int e = rte_eth_dev_info_get(pid, &dev); e != 0)
        return fail("rte_eth_dev_info_get: " + rte_error(e));
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(pid, name);
    s.info.port_id = pid;
    s.info.name = name;
    s.info.driver = dev.driver_name ? dev.driver_name : "";
    s.info.queues = o.queues;
    if (o.queues > dev.max_rx_queues || o.queues > dev.max_tx_queues)
        return fail("ingest.cores: " + std::to_string(o.queues) + " queues, but port '" +
                    s.info.name + "' (" + s.info.driver + ") offers at most " +
                    std::to_string(std::min(dev.max_rx_queues, dev.max_tx_queues)) +
                    " (net_pcap: one rx_pcap= per queue; net_af_packet: qpairs=)");

    rte_eth_conf conf{};
    std::uint64_t rss_hf = 0;
    if (o.queues > 1 && pr.rss) rss_hf = rss_wanted & dev.flow_type_rss_offloads;
    conf.rxmode.mq_mode = rss_hf != 0 ? RTE_ETH_MQ_RX_RSS : RTE_ETH_MQ_RX_NONE;
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // the device's default key
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    conf.txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
    if (pr.mtu != 0) conf.rxmode.mtu = pr.mtu;
    // Checksum verdicts from the NIC where it offers them (per frame in rx_checksum_options).
    conf.rxmode.offloads =
        dev.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
    s.info.rx_ipv4_checksum_offload = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
    s.info.rx_udp_checksum_offload = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
    s.info.rss = rss_hf != 0;
    s.info.rss_hf = rss_hf;
    if (int e = rte_eth_dev_configure(pid, static_cast<std::uint16_t>(o.queues),
                                      static_cast<std::uint16_t>(o.queues), &conf);
        e != 0)
        return fail("rte_eth_dev_configure(" + s.info.name + ", " + std::to_string(o.queues) +
                    " queues): " + rte_error(e));
    std::uint16_t rxd = pr.rx_descriptors;
    std::uint16_t txd = pr.tx_descriptors;
    if (int e = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd); e != 0)
        return fail("port.rx_descriptors/tx_descriptors: " + rte_error(e));

    // Mempool on the port's NUMA node (pipelines are placed there; see topo::plan).
    const int sock = rte_eth_dev_socket_id(pid);
    s.info.socket = sock < 0 ? 0 : sock;
    const unsigned lcores = std::max(1u, rte_lcore_count()) + o.queues;
    std::uint64_t n = pr.mbufs;
    if (n == 0) {
        // examples/l3fwd: RX + TX descriptors + bursts in flight + per-lcore caches, >= 8192.
        n = std::uint64_t{o.queues} * (rxd + txd + pr.burst) + std::uint64_t{lcores} * pr.cache +
            1024;
        n = std::max<std::uint64_t>(n, 8192);
    }
    unsigned cache = std::min<unsigned>(pr.cache, RTE_MEMPOOL_CACHE_MAX_SIZE);
    cache = std::min<unsigned>(cache, static_cast<unsigned>(n * 2 / 3));
    s.info.mbufs = static_cast<std::uint32_t>(n);
    s.info.data_room = mbuf_data_room;
    s.info.headroom = RTE_PKTMBUF_HEADROOM;
    const std::string pool_name = "sluice_mb_s" + std::to_string(s.info.socket);
    s.pool = rte_pktmbuf_pool_create(pool_name.c_str(), static_cast<unsigned>(n), cache, 0,
                                     mbuf_data_room, sock < 0 ? SOCKET_ID_ANY : sock);
    if (s.pool == nullptr)
        return fail("mempool.mbufs: cannot create a pool of " + std::to_string(n) +
                    " mbufs of " + std::to_string(mbuf_data_room) + " bytes: " +
                    rte_error(rte_errno) + " (raise EAL -m or hugepages, or lower mempool.mbufs)");

    for (unsigned q = 0; q < o.queues; ++q) {
        if (int e = rte_eth_rx_queue_setup(pid, static_cast<std::uint16_t>(q), rxd, sock < 0 ? SOCKET_ID_ANY : sock,
                                           nullptr, s.pool);
            e != 0)
            return fail("rte_eth_rx_queue_setup(queue " + std::to_string(q) + ", " +
                        std::to_string(rxd) + " descriptors): " + rte_error(e));
        if (int e = rte_eth_tx_queue_setup(pid, static_cast<std::uint16_t>(q), txd, sock < 0 ? SOCKET_ID_ANY : sock,
                                           nullptr);
            e != 0)
            return fail("rte_eth_tx_queue_setup(queue " + std::to_string(q) + "): " + rte_error(e));
        auto qs = std::make_unique<queue_state>();
        reassembler_options ro;
        ro.slots = pr.reassembly_slots;
        ro.payload_tailroom = json_padding_bytes;
        ro.decode = s.decode;
        qs->reassembler = std::make_unique<ipv4_reassembler>(ro);
        s.queues.push_back(std::move(qs));
    }
    if (int e = rte_eth_dev_start(pid); e != 0)
        return fail("rte_eth_dev_start(" + s.info.name + "): " + rte_error(e));
    s.port_started = true;
    if (pr.promiscuous) (void)rte_eth_promiscuous_enable(pid);
    rte_eth_stats_reset(pid);
    if (s.info.driver.find("af_packet") != std::string::npos) {
        s.packet_sockets = find_packet_sockets();
        (void)take_packet_ring_drops(s.packet_sockets);  // from the start, like the ethdev stats
    }
    rte_ether_addr mac{};
    if (rte_eth_macaddr_get(pid, &mac) == 0)
        std::memcpy(s.info.mac.bytes.data(), mac.addr_bytes, 6);
    return port;
}

void dpdk_port::close() noexcept {
    impl& s = *_impl;
    if (s.closed) return;
    s.closed = true;
    s.stop.store(true, std::memory_order_release);
    SLUICE_ASSERT(s.running.load(std::memory_order_acquire) == 0,
                  "dpdk_port::close() while run_queue is running");
    if (s.port_started) {
        (void)rte_eth_dev_stop(s.info.port_id);
        (void)rte_eth_dev_close(s.info.port_id);
        s.port_started = false;
    }
    if (s.pool != nullptr) {
        rte_mempool_free(s.pool);
        s.pool = nullptr;
    }
    s.queues.clear();
    if (s.eal_ready) {
        rte_eal_cleanup();
        s.eal_ready = false;
    }
}

dpdk_queue_stats dpdk_port::queue_stats(unsigned q) const noexcept {
    dpdk_queue_stats r;
    if (q >= _impl->queues.size()) return r;
    const queue_counters& c = _impl->queues[q]->c;
    auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    r.frames = ld(c.frames);
    r.bytes = ld(c.bytes);
    r.bursts = ld(c.bursts);
    r.datagrams = ld(c.datagrams);
    r.reassembled = ld(c.reassembled);
    r.fragments = ld(c.fragments);
    r.arp_replies = ld(c.arp_replies);
    r.icmp_replies = ld(c.icmp_replies);
    r.tx_failed = ld(c.tx_failed);
    r.ignored = ld(c.ignored);
    r.multi_segment = ld(c.multi_segment);
    r.nic_missed = ld(c.nic_missed);
    r.tailroom_min = ld(c.tailroom_min);
    for (std::size_t i = 0; i < drop_reason_count; ++i) r.frame_drops[i] = ld(c.frame_drops[i]);
    return r;
}

dpdk_port::device_stats dpdk_port::device_counters() const noexcept {
    device_stats d;
    if (!_impl->port_started) return d;
    rte_eth_stats st{};
    if (rte_eth_stats_get(_impl->info.port_id, &st) != 0) return d;
    d.ipackets = st.ipackets;
    d.opackets = st.opackets;
    d.imissed = st.imissed;
    d.ierrors = st.ierrors;
    d.rx_nombuf = st.rx_nombuf;
    return d;
}

bool dpdk_port::run_queue(unsigned q, pipeline::pipeline& p,
                          std::int64_t drain_timeout_ns) noexcept {
    impl& s = *_impl;
    SLUICE_ASSERT(q < s.queues.size(), "queue out of range");
    SLUICE_ASSERT(s.port_started, "run_queue on a closed port");
    s.running.fetch_add(1, std::memory_order_acq_rel);  // pairs with close()'s acquire check
    bool registered = false;
    if (rte_lcore_id() == LCORE_ID_ANY) registered = rte_thread_register() == 0;

    queue_state& qs = *s.queues[q];
    queue_counters& c = qs.c;
    ipv4_reassembler& reasm = *qs.reassembler;
    const std::uint16_t pid = s.info.port_id;
    const auto qid = static_cast<std::uint16_t>(q);
    const std::uint16_t burst = s.options.profile.burst;
    const ip_address our_ip = s.options.address;
    const mac_address our_mac = s.info.mac;
    const decode_options dopt = s.decode;
    const bool prefetch = !rx_copies_on_core(s.info.driver);
    const std::int64_t stats_interval_ns =
        std::int64_t{s.options.profile.stats_interval_ms} * 1'000'000;
    std::uint64_t& nic_seen = qs.nic_seen;
    std::uint64_t ring_drops = 0;  // AF_PACKET ring drops taken so far (queue 0)

    rte_mbuf* pkts[dpdk_burst_max];
    datagram dgs[dpdk_burst_max];
    std::int64_t last_poll = 0, last_expire = mono_ns(), last_stats = mono_ns();
    std::uint64_t tail_min = ~std::uint64_t{0};
    decode_result d;  // reused for every frame (decode_frame writes what the status names)
    std::size_t k = 0;  // datagrams collected in dgs for the next process()

    auto fold_device_counters = [&] {
        rte_eth_stats st{};
        if (rte_eth_stats_get(pid, &st) != 0) return;
        ring_drops += take_packet_ring_drops(s.packet_sockets);
        const std::uint64_t now_total = st.imissed + st.rx_nombuf + st.ierrors + ring_drops;
        if (now_total > nic_seen) {
            const std::uint64_t delta = now_total - nic_seen;
            p.count_drops(0, pipeline::drop_reason::nic_missed, delta);
            bump(c.nic_missed, delta);
        }
        nic_seen = std::max(nic_seen, now_total);
    };
    auto count_frame_drop = [&](drop_reason r, bytes_view frame) {
        bump(c.frame_drops[static_cast<std::size_t>(r)]);
        std::uint16_t port = 0;
        if (r == drop_reason::bad_checksum || r == drop_reason::bad_udp_header ||
            r == drop_reason::truncated)
            port = peek_udp_dst_port(frame);
        p.count_drops(port, pipeline::drop_reason::bad_frame, 1);
    };
    // Fills the burst's next datagram in place: building one in a temporary and copying it
    // over (narrow stores, then wide loads of the same bytes) stalled store forwarding, ~10 ns
    // per frame.
    auto push_datagram = [&](const udp_datagram& u) {
        datagram& g = dgs[k++];
        // Pointer and size separately: decode_frame just stored them as two 8-byte values, and
        // copying the span whole (one 16-byte load) would stall on them.
        g.payload = bytes_view(u.payload.data(), u.payload.size());
        g.tailroom = u.tailroom;
        g.src = u.src;
        g.src_port = u.src_port;
        g.dst_port = u.dst_port;
        g.rx_wall_ms = 0;
        if (u.tailroom < tail_min) tail_min = u.tailroom;
    };
    auto reply = [&](bytes_view frame) {
        rte_mbuf* r = rte_pktmbuf_alloc(s.pool);
        if (r == nullptr) {
            bump(c.tx_failed);
            return;
        }
        auto* out = rte_pktmbuf_mtod(r, std::byte*);
        const mutable_bytes room(out, rte_pktmbuf_tailroom(r));
        bool arp = true;
        std::size_t len = build_arp_reply(frame, our_ip, our_mac, room);
        if (len == 0) {
            arp = false;
            len = build_icmp_echo_reply(frame, our_ip, our_mac, room);
        }
        if (len == 0) {
            rte_pktmbuf_free(r);
            bump(c.ignored);
            return;
        }
        r->data_len = static_cast<std::uint16_t>(len);
        r->pkt_len = static_cast<std::uint32_t>(len);
        if (rte_eth_tx_burst(pid, qid, &r, 1) != 1) {
            rte_pktmbuf_free(r);
            bump(c.tx_failed);
            return;
        }
        bump(arp ? c.arp_replies : c.icmp_replies);
    };

    while (!s.stop.load(std::memory_order_acquire)) {  // pairs with request_stop()'s release
        const std::uint16_t n = rte_eth_rx_burst(pid, qid, pkts, burst);
        const std::int64_t now = mono_ns();
        if (n != 0) {
            bump(c.bursts);
            bump(c.frames, n);
            k = 0;
            std::uint64_t bytes = 0, fragments = 0, reassembled = 0, datagrams = 0;
            for (std::uint16_t i = 0; i < n; ++i) {
                rte_mbuf* m = pkts[i];
                if (prefetch && i + 3 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
                bytes += m->pkt_len;
                const bytes_view frame(rte_pktmbuf_mtod(m, const std::byte*), m->data_len);
                if (m->nb_segs != 1) {  // larger than the data room: not parsed in pieces
                    bump(c.multi_segment);
                    count_frame_drop(drop_reason::truncated, frame);
                    continue;
                }
                const decode_options o = checksum_options(m->ol_flags, dopt);
                // The common untagged IPv4/UDP frame straight into the burst's next datagram;
                // everything else through decode_frame (which takes the same fast path first,
                // then its general decoder).
                if (const std::byte* ip = detail::udp4_fast(frame, o)) [[likely]] {
                    datagram& g = dgs[k++];
                    detail::fill_udp4(frame, ip, rte_pktmbuf_tailroom(m), g);
                    g.rx_wall_ms = 0;
                    if (g.tailroom < tail_min) tail_min = g.tailroom;
                    continue;
                }
                switch (decode_frame(frame, rte_pktmbuf_tailroom(m), o, d)) {
                    case decode_status::udp:
                        push_datagram(d.datagram);
                        break;
                    case decode_status::ipv4_fragment: {
                        ++fragments;
                        const decode_result r = reasm.add(d.fragment, now);
                        if (r.status == decode_status::udp) {
                            ++reassembled;
                            push_datagram(r.datagram);
                            // The payload lives in the reassembler until its next add():
                            // hand the burst over now.
                            datagrams += k;
                            p.process(std::span<const datagram>(dgs, k), now);
                            k = 0;
                        } else if (r.status == decode_status::dropped) {
                            count_frame_drop(r.reason, frame);
                        }
                        break;
                    }
                    case decode_status::not_for_us:
                        reply(frame);
                        break;
                    case decode_status::dropped:
                    case decode_status::pending:
                        count_frame_drop(d.reason, frame);
                        break;
                }
            }
            if (k != 0) {
                datagrams += k;
                p.process(std::span<const datagram>(dgs, k), now);
            }
            free_burst(pkts, n, s.pool);  // after process() returned: payloads were copied
            bump(c.bytes, bytes);
            if (fragments) bump(c.fragments, fragments);
            if (reassembled) bump(c.reassembled, reassembled);
            bump(c.datagrams, datagrams);
            if (tail_min != ~std::uint64_t{0}) c.tailroom_min.store(tail_min, std::memory_order_relaxed);
        }
        if (now - last_poll >= poll_interval_ns || n == 0) {
            p.poll(now);
            last_poll = now;
        }
        if (now - last_expire >= expire_interval_ns) {
            last_expire = now;
            if (reasm.in_use() != 0) {
                if (const std::size_t t = reasm.expire(now); t != 0) {
                    bump(c.frame_drops[static_cast<std::size_t>(drop_reason::reassembly_timeout)], t);
                    p.count_drops(0, pipeline::drop_reason::bad_frame, t);
                }
            }
        }
        if (q == 0 && now - last_stats >= stats_interval_ns) {
            last_stats = now;
            fold_device_counters();
        }
        if (n == 0) rte_pause();
    }

    // Shutdown: last device counters, flush every batch, wait (bounded) until durable.
    if (q == 0) fold_device_counters();
    p.flush();
    const std::int64_t until = mono_ns() + drain_timeout_ns;
    bool drained = false;
    for (;;) {
        p.poll(mono_ns());
        if (p.in_flight() == 0) {
            drained = true;
            break;
        }
        if (mono_ns() >= until) break;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (registered) rte_thread_unregister();
    s.running.fetch_sub(1, std::memory_order_acq_rel);
    return drained;
}

decode_options rx_checksum_options(std::uint64_t flags, const decode_options& base) noexcept {
    return checksum_options(flags, base);
}

std::uint16_t peek_udp_dst_port(bytes_view f) noexcept {
    auto u8 = [&](std::size_t i) { return std::to_integer<std::uint8_t>(f[i]); };
    auto be16 = [&](std::size_t i) {
        return static_cast<std::uint16_t>((std::uint16_t{u8(i)} << 8) | u8(i + 1));
    };
    std::size_t off = 12;
    if (f.size() < off + 2) return 0;
    std::uint16_t type = be16(off);
    for (std::size_t tags = 0; (type == ethertype_vlan || type == ethertype_qinq) && tags < max_vlan_tags;
         ++tags) {
        off += 4;
        if (f.size() < off + 2) return 0;
        type = be16(off);
    }
    off += 2;
    if (type == ethertype_ipv4) {
        if (f.size() < off + 20) return 0;
        const std::size_t ihl = std::size_t{u8(off) & 0x0fu} * 4;
        if (u8(off + 9) != 17 || ihl < 20) return 0;
        if ((be16(off + 6) & 0x1fff) != 0) return 0;  // not the first fragment: no UDP header
        off += ihl;
    } else if (type == ethertype_ipv6) {
        if (f.size() < off + 40 || u8(off + 6) != 17) return 0;
        off += 40;
    } else {
        return 0;
    }
    if (f.size() < off + 4) return 0;
    return be16(off + 2);
}

std::size_t dpdk_port::transmit(unsigned queue, std::span<const bytes_view> frames) noexcept {
    impl& s = *_impl;
    if (s.closed || queue >= s.queues.size()) return 0;
    std::size_t sent = 0;
    std::array<rte_mbuf*, 32> bufs{};
    while (sent < frames.size()) {
        const std::size_t n = std::min(bufs.size(), frames.size() - sent);
        if (rte_pktmbuf_alloc_bulk(s.pool, bufs.data(), static_cast<unsigned>(n)) != 0) break;
        std::size_t ok = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const bytes_view f = frames[sent + i];
            char* d = f.size() > 0xffff ? nullptr
                                        : rte_pktmbuf_append(bufs[i], static_cast<std::uint16_t>(f.size()));
            if (d == nullptr) break;  // larger than the data room
            std::memcpy(d, f.data(), f.size());
            ++ok;
        }
        const std::uint16_t took =
            ok == 0 ? 0 : rte_eth_tx_burst(s.info.port_id, static_cast<std::uint16_t>(queue), bufs.data(),
                                           static_cast<std::uint16_t>(ok));
        if (took < n) rte_pktmbuf_free_bulk(bufs.data() + took, static_cast<unsigned>(n - took));
        sent += took;
        if (took < ok || ok < n) break;
    }
    return sent;
}

std::optional<mac_address> dpdk_port::resolve(unsigned queue, const ip_address& ip,
                                              std::int64_t timeout_ns) noexcept {
    impl& s = *_impl;
    if (s.closed || queue >= s.queues.size() || ip.v6) return std::nullopt;
    std::array<std::byte, 64> req{};
    const std::size_t req_len = build_arp_request(s.info.mac, s.options.address, ip, mutable_bytes(req));
    if (req_len == 0) return std::nullopt;
    const std::int64_t until = mono_ns() + timeout_ns;
    std::int64_t next_request = 0;
    std::array<rte_mbuf*, 32> bufs{};
    while (mono_ns() < until) {
        if (mono_ns() >= next_request) {
            const bytes_view f(req.data(), req_len);
            (void)transmit(queue, std::span<const bytes_view>(&f, 1));
            next_request = mono_ns() + 200'000'000;
        }
        const std::uint16_t n = rte_eth_rx_burst(s.info.port_id, static_cast<std::uint16_t>(queue), bufs.data(),
                                                 static_cast<std::uint16_t>(bufs.size()));
        std::optional<mac_address> found;
        for (std::uint16_t i = 0; i < n; ++i) {
            if (!found && bufs[i]->nb_segs == 1)
                found = parse_arp_reply(bytes_view(rte_pktmbuf_mtod(bufs[i], const std::byte*),
                                                   rte_pktmbuf_data_len(bufs[i])),
                                        ip);
        }
        rte_pktmbuf_free_bulk(bufs.data(), n);
        if (found) return found;
        if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return std::nullopt;
}

}  // namespace sluice::net
