#pragma once
// Kernel-socket receive backend for one pipeline thread: one SO_REUSEPORT UDP socket per topic
// port, all bound to the ingest address, read through io_uring multishot recvmsg with a
// provided-buffer ring (liburing 2.3 API: io_uring_register_buf_ring + io_uring_buf_ring_*),
// or recvmmsg when io_uring (or multishot recvmsg, kernel >= 6.0) is unavailable.
//
// Buffers are sized for the largest datagram plus json_padding, so the event parser runs in
// place (datagram::tailroom >= 64). Kernel drops are read from SO_RXQ_OVFL and reported per
// port; datagrams larger than the buffer (MSG_TRUNC) are reported as truncated, never delivered.
//
// Threads: a socket_rx belongs to one thread (open it on the thread that polls it, or hand it
// over before the first receive()): in io_uring mode the first receive() binds the ring to the
// calling thread (IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN when the kernel has them, >= 6.1).
// No allocation, no exceptions after open().

#include <sluice/base/bytes.h>
#include <sluice/net/datagram.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice::net {

enum class socket_rx_mode : std::uint8_t {
    automatic = 0,  // io_uring multishot if the probe succeeds, else recvmmsg
    io_uring,       // fail open() if io_uring multishot recvmsg is unavailable
    recvmmsg,
};

struct socket_rx_options {
    std::string address = "127.0.0.1";    // IPv4 or IPv6 literal to bind
    std::vector<std::uint16_t> ports;     // one socket per port (port 0: ephemeral, see port())
    socket_rx_mode mode = socket_rx_mode::automatic;
    std::size_t datagram_bytes_max = 65536;  // larger datagrams are dropped as truncated
    std::size_t buffers = 256;               // io_uring provided buffers (power of two <= 32768)
    std::size_t burst = 32;                  // recvmmsg buffers per call
    int rcvbuf_bytes = 32 << 20;             // SO_RCVBUFFORCE (root) or SO_RCVBUF
    bool reuse_port = true;                  // SO_REUSEPORT: one socket per thread per port
    // io_uring: when receive() has to wait, it waits for this many datagrams (or wait_ns):
    // fewer kernel round trips per datagram at moderate rates, at most wait_ns extra latency.
    std::size_t wait_batch = 16;
    // io_uring with deferred task running (kernel >= 6.1): datagrams that arrive while the
    // thread is not waiting in io_uring wake nobody. After a receive() that found datagrams, an
    // empty completion queue sleeps this long and then collects everything that arrived in one
    // system call (one wakeup per batch instead of one per few datagrams: most of the receive
    // cost at moderate rates). Skipped while collections come back large (heavy load: no sleep,
    // so throughput is not capped). Adds at most this much latency. 0 = off. 1 ms: ~100
    // datagrams per collection at 100 k/s (200 us woke the thread 3-8x as often for the same
    // work); 256 provided buffers and the 32 MiB socket buffer hold a millisecond at any rate.
    std::int64_t batch_sleep_ns = 1'000'000;
};

// Drops the backend saw on one port since the last take_drops().
struct port_drops {
    std::uint16_t port = 0;
    std::uint64_t kernel_overflow = 0;  // SO_RXQ_OVFL delta (datagrams the kernel dropped)
    std::uint64_t truncated = 0;        // datagrams larger than datagram_bytes_max
};

struct socket_rx_stats {
    std::uint64_t datagrams = 0;
    std::uint64_t bytes = 0;
    std::uint64_t wakeups = 0;     // receive() calls that waited in the kernel
    std::uint64_t batch_sleeps = 0;  // batch_sleep_ns sleeps before collecting (deferred ring)
    std::uint64_t rearms = 0;      // multishot recvmsg re-armed (CQE without IORING_CQE_F_MORE)
    std::uint64_t enobufs = 0;     // -ENOBUFS completions (provided-buffer ring empty)
    std::uint64_t errors = 0;      // other failed completions / recvmmsg errors
};

class socket_rx {
public:
    // Creates the sockets and (io_uring mode) the ring and its buffer ring. nullptr + *error on
    // failure (the message names the address/port or the missing kernel feature).
    [[nodiscard]] static std::unique_ptr<socket_rx> open(const socket_rx_options& options,
                                                         std::string* error);
    virtual ~socket_rx();

    // Fills up to out.size() datagrams, waiting up to wait_ns for the first one (0 = do not
    // wait). Returned payloads stay valid until the next receive() call on this object.
    [[nodiscard]] virtual std::size_t receive(std::span<datagram> out, std::int64_t wait_ns) noexcept = 0;

    // Reads every socket's kernel drop counter now (getsockopt SO_MEMINFO; one syscall per
    // socket). SO_RXQ_OVFL only reports drops on the next datagram that arrives; call this when
    // idle and every ~100 ms so drops show up even when traffic stops.
    void refresh_drops() noexcept;

    // Moves per-port drop deltas with any non-zero count into out; returns how many.
    [[nodiscard]] std::size_t take_drops(std::span<port_drops> out) noexcept;

    [[nodiscard]] bool uses_io_uring() const noexcept { return _io_uring; }
    [[nodiscard]] std::size_t sockets() const noexcept { return _ports.size(); }
    // Bound port of socket i (the ephemeral port when 0 was requested).
    [[nodiscard]] std::uint16_t port(std::size_t i) const noexcept { return _ports[i]; }
    [[nodiscard]] const socket_rx_stats& stats() const noexcept { return _stats; }
    // The receive buffer size the kernel granted (SO_RCVBUF read back).
    [[nodiscard]] int rcvbuf_bytes() const noexcept { return _rcvbuf; }

protected:
    socket_rx() = default;
    // Folds a socket's cumulative SO_RXQ_OVFL counter into its drop delta.
    void note_overflow(std::size_t socket, std::uint32_t cumulative) noexcept;

    std::vector<int> _fds;
    std::vector<std::uint16_t> _ports;
    std::vector<std::uint32_t> _ovfl_seen;  // last cumulative SO_RXQ_OVFL per socket
    std::vector<port_drops> _drops;         // pending deltas per socket
    socket_rx_stats _stats;
    int _rcvbuf = 0;
    bool _io_uring = false;
};

// Whether this kernel and liburing support io_uring multishot recvmsg with a provided-buffer
// ring; on false, *why (if given) says what is missing.
[[nodiscard]] bool io_uring_multishot_available(std::string* why);

}  // namespace sluice::net
