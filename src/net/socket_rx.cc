// Kernel-socket receive backend: io_uring multishot recvmsg with a provided-buffer ring, or
// recvmmsg. See include/sluice/net/socket_rx.h.

#include <sluice/net/socket_rx.h>

#include <sluice/base/assert.h>
#include <sluice/event/event.h>

#include <sluice_config.h>

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if SLUICE_HAVE_RECVMSG_MULTISHOT && SLUICE_HAVE_BUF_RING
#include <liburing.h>
#define SLUICE_SOCKET_RX_URING 1
#else
#define SLUICE_SOCKET_RX_URING 0
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace sluice::net {

namespace {

constexpr std::size_t padding = event::json_padding;
constexpr std::size_t cache_line = 64;

std::string errno_text(int e) { return std::strerror(e); }

// Source address and port from a sockaddr (v4-mapped IPv6 becomes IPv4).
void from_sockaddr(const void* sa_raw, std::size_t len, ip_address& a, std::uint16_t& port) noexcept {
    sockaddr_storage ss{};
    std::memcpy(&ss, sa_raw, std::min(len, sizeof ss));
    a = ip_address{};
    port = 0;
    if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
        std::memcpy(a.bytes.data(), &in->sin_addr, 4);
        port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(&in6->sin6_addr, mapped, 12) == 0) {
            std::memcpy(a.bytes.data(), reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr) + 12, 4);
        } else {
            std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
            a.v6 = true;
        }
        port = ntohs(in6->sin6_port);
    }
}

// Creates and binds one UDP socket. -1 + *error on failure.
int open_socket(const socket_rx_options& o, std::uint16_t port, int* rcvbuf, std::uint16_t* bound,
                std::string* error) {
    sockaddr_storage ss{};
    socklen_t sl = 0;
    int family = AF_INET;
    {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        if (inet_pton(AF_INET, o.address.c_str(), &in->sin_addr) == 1) {
            in->sin_family = AF_INET;
            in->sin_port = htons(port);
            sl = sizeof(sockaddr_in);
        } else if (inet_pton(AF_INET6, o.address.c_str(), &in6->sin6_addr) == 1) {
            family = AF_INET6;
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(port);
            sl = sizeof(sockaddr_in6);
        } else {
            *error = "ingest.address " + o.address + ": not an IPv4 or IPv6 literal";
            return -1;
        }
    }
    const std::string where = "ingest.address " + o.address + " port " + std::to_string(port);
    int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = where + ": socket: " + errno_text(errno);
        return -1;
    }
    int one = 1;
    if (o.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        *error = where + ": SO_REUSEPORT: " + errno_text(errno);
        ::close(fd);
        return -1;
    }
    // Kernel drop counter on every datagram that follows a drop (cmsg SO_RXQ_OVFL).
    (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    if (o.rcvbuf_bytes > 0) {
        int want = o.rcvbuf_bytes;
        // SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); else best effort.
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    }
    socklen_t il = sizeof(*rcvbuf);
    (void)getsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, &il);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
        *error = where + ": cannot bind: " + errno_text(errno);
        ::close(fd);
        return -1;
    }
    sockaddr_storage b{};
    socklen_t bl = sizeof b;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&b), &bl) == 0) {
        ip_address ignored;
        from_sockaddr(&b, bl, ignored, *bound);
    } else {
        *bound = port;
    }
    return fd;
}

// Reads the SO_RXQ_OVFL value from a control message, if present.
bool rxq_ovfl(const cmsghdr* c, std::uint32_t* v) noexcept {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
        c->cmsg_len >= CMSG_LEN(sizeof(std::uint32_t))) {
        std::memcpy(v, CMSG_DATA(c), sizeof *v);
        return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// recvmmsg

class mmsg_rx final : public socket_rx {
public:
    bool init(const socket_rx_options& o, std::string* error) {
        _burst = std::max<std::size_t>(1, o.burst);
        _payload_max = o.datagram_bytes_max;
        _stride = (_payload_max + padding + cache_line - 1) / cache_line * cache_line;
        const std::size_t bytes = _burst * _stride;
        void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED) {
            *error = "socket_rx: mmap of " + std::to_string(bytes) + " bytes: " + errno_text(errno);
            return false;
        }
        _mem = static_cast<std::byte*>(m);
        _mem_bytes = bytes;
        _msgs.resize(_burst);
        _iov.resize(_burst);
        _names.resize(_burst);
        _ctl.resize(_burst);
        _pfd.resize(_fds.size());
        for (std::size_t i = 0; i < _fds.size(); ++i) _pfd[i] = {_fds[i], POLLIN, 0};
        return true;
    }
    ~mmsg_rx() override {
        if (_mem != nullptr) ::munmap(_mem, _mem_bytes);
    }

    std::size_t receive(std::span<datagram> out, std::int64_t wait_ns) noexcept override {
        const std::size_t want = std::min(out.size(), _burst);
        if (want == 0) return 0;
        std::size_t got = fill(out.first(want));
        if (got == 0 && wait_ns > 0) {
            timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
            ++_stats.wakeups;
            const int r = ::ppoll(_pfd.data(), _pfd.size(), &ts, nullptr);
            if (r > 0) got = fill(out.first(want));
        }
        return got;
    }

private:
    std::size_t fill(std::span<datagram> out) noexcept {
        std::size_t got = 0;
        for (std::size_t k = 0; k < _fds.size() && got < out.size(); ++k) {
            const std::size_t si = (_next + k) % _fds.size();
            const std::size_t n = out.size() - got;
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t slot = got + i;
                _iov[slot] = {_mem + slot * _stride, _payload_max};
                msghdr& h = _msgs[slot].msg_hdr;
                h = msghdr{};
                h.msg_name = &_names[slot];
                h.msg_namelen = sizeof(sockaddr_storage);
                h.msg_iov = &_iov[slot];
                h.msg_iovlen = 1;
                h.msg_control = _ctl[slot].data();
                h.msg_controllen = _ctl[slot].size();
                _msgs[slot].msg_len = 0;
            }
            const int r = ::recvmmsg(_fds[si], _msgs.data() + got, static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
            if (r < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++_stats.errors;
                continue;
            }
            for (int i = 0; i < r; ++i) {
                const std::size_t slot = got + static_cast<std::size_t>(i);
                msghdr& h = _msgs[slot].msg_hdr;
                for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
                    std::uint32_t v;
                    if (rxq_ovfl(c, &v)) note_overflow(si, v);
                }
                if ((h.msg_flags & MSG_TRUNC) != 0) {
                    ++_drops[si].truncated;
                    continue;
                }
            }
            // Second pass: compact (truncated datagrams are skipped) into out[got..).
            std::size_t kept = 0;
            for (int i = 0; i < r; ++i) {
                const std::size_t slot = got + static_cast<std::size_t>(i);
                msghdr& h = _msgs[slot].msg_hdr;
                if ((h.msg_flags & MSG_TRUNC) != 0) continue;
                datagram& d = out[got + kept];
                const std::size_t len = _msgs[slot].msg_len;
                d.payload = bytes_view(_mem + slot * _stride, len);
                d.tailroom = _stride - len;
                from_sockaddr(&_names[slot], h.msg_namelen, d.src, d.src_port);
                d.dst_port = _ports[si];
                d.rx_wall_ms = 0;
                _stats.bytes += len;
                ++kept;
            }
            // Buffers of kept datagrams must not be reused by the next socket's call in this
            // round: slots [got, got + r) are consumed (kept ones referenced by out).
            _stats.datagrams += kept;
            // Truncated slots are wasted for this round only; later sockets start after them.
            got += kept;
            if (kept != static_cast<std::size_t>(r)) {
                // Out entries past got + kept point nowhere; the next socket's slots must not
                // overlap kept payloads, so stop this round (rare path).
                break;
            }
        }
        _next = (_next + 1) % std::max<std::size_t>(1, _fds.size());
        return got;
    }

    std::size_t _burst = 32;
    std::size_t _payload_max = 65536;
    std::size_t _stride = 0;
    std::byte* _mem = nullptr;
    std::size_t _mem_bytes = 0;
    std::size_t _next = 0;
    std::vector<mmsghdr> _msgs;
    std::vector<iovec> _iov;
    std::vector<sockaddr_storage> _names;
    std::vector<std::array<std::byte, 64>> _ctl;
    std::vector<pollfd> _pfd;
};

// ---------------------------------------------------------------------------------------------
// io_uring multishot recvmsg + provided-buffer ring

#if SLUICE_SOCKET_RX_URING

constexpr unsigned short buffer_group = 0;

class uring_rx final : public socket_rx {
public:
    bool init(const socket_rx_options& o, std::string* error) {
        _entries = std::bit_ceil(std::clamp<std::size_t>(o.buffers, 4, 32768));
        _payload_max = o.datagram_bytes_max;
        _wait_batch = static_cast<unsigned>(std::clamp<std::size_t>(o.wait_batch, 1, 256));
        _ctl_len = CMSG_SPACE(sizeof(std::uint32_t)) * 2;
        _name_len = sizeof(sockaddr_storage);
        // Kernel-visible part: header + name + control + payload; then our padding.
        _buf_len = sizeof(io_uring_recvmsg_out) + _name_len + _ctl_len + _payload_max;
        _stride = (_buf_len + padding + cache_line - 1) / cache_line * cache_line;

        _batch_sleep_ns = std::max<std::int64_t>(0, o.batch_sleep_ns);
        io_uring_params p{};
        // Deferred task running: completions are produced only when this thread asks (enter
        // with GETEVENTS), never by waking it per datagram. SINGLE_ISSUER binds the ring to one
        // task, so it starts disabled and the first receive() (the polling thread) enables it.
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                  IORING_SETUP_R_DISABLED;
        p.cq_entries = 4096;
        int r = io_uring_queue_init_params(64, &_ring, &p);
        if (r >= 0) {
            _deferred = true;
            _enabled = false;
        } else {
            p = io_uring_params{};
            p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
            p.cq_entries = 4096;
            r = io_uring_queue_init_params(64, &_ring, &p);
        }
        if (r < 0) {
            p = io_uring_params{};
            p.flags = IORING_SETUP_CQSIZE;
            p.cq_entries = 4096;
            r = io_uring_queue_init_params(64, &_ring, &p);
        }
        if (r < 0) {
            *error = "socket_rx: io_uring_queue_init: " + errno_text(-r);
            return false;
        }
        _ring_ok = true;

        const std::size_t br_bytes = (_entries * sizeof(io_uring_buf) + 4095) / 4096 * 4096;
        void* brm = ::mmap(nullptr, br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (brm == MAP_FAILED) {
            *error = "socket_rx: mmap buffer ring: " + errno_text(errno);
            return false;
        }
        _br = static_cast<io_uring_buf_ring*>(brm);
        _br_bytes = br_bytes;
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<unsigned long>(_br);
        reg.ring_entries = static_cast<unsigned>(_entries);
        reg.bgid = buffer_group;
        r = io_uring_register_buf_ring(&_ring, &reg, 0);
        if (r < 0) {
            *error = "socket_rx: io_uring_register_buf_ring: " + errno_text(-r);
            return false;
        }
        _br_registered = true;
        io_uring_buf_ring_init(_br);

        _mem_bytes = _entries * _stride;
        void* m = ::mmap(nullptr, _mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            *error = "socket_rx: mmap of " + std::to_string(_mem_bytes) + " bytes: " + errno_text(errno);
            return false;
        }
        _mem = static_cast<std::byte*>(m);
        const int mask = io_uring_buf_ring_mask(static_cast<__u32>(_entries));
        for (std::size_t b = 0; b < _entries; ++b)
            io_uring_buf_ring_add(_br, _mem + b * _stride, static_cast<unsigned>(_buf_len),
                                  static_cast<unsigned short>(b), mask, static_cast<int>(b));
        io_uring_buf_ring_advance(_br, static_cast<int>(_entries));
        _held.reserve(_entries);

        _msg.resize(_fds.size());
        _armed.assign(_fds.size(), false);
        for (std::size_t i = 0; i < _fds.size(); ++i) {
            _msg[i] = msghdr{};
            _msg[i].msg_namelen = static_cast<socklen_t>(_name_len);
            _msg[i].msg_controllen = _ctl_len;
        }
        if (!_enabled) return true;  // armed by the first receive(), on the polling thread
        arm_all();
        r = io_uring_submit(&_ring);
        if (r < 0) {
            *error = "socket_rx: io_uring_submit: " + errno_text(-r);
            return false;
        }
        return true;
    }

    ~uring_rx() override {
        if (_ring_ok) {
            if (_br_registered) (void)io_uring_unregister_buf_ring(&_ring, buffer_group);
            io_uring_queue_exit(&_ring);
        }
        if (_br != nullptr) ::munmap(_br, _br_bytes);
        if (_mem != nullptr) ::munmap(_mem, _mem_bytes);
    }

    std::size_t receive(std::span<datagram> out, std::int64_t wait_ns) noexcept override {
        if (!_enabled) {
            // First call, on the polling thread: it becomes the ring's single issuer.
            // (liburing 2.3 declares io_uring_enable_rings but does not export it.)
            if (::syscall(__NR_io_uring_register, _ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) {
                ++_stats.errors;
                return 0;
            }
            _enabled = true;
        }
        give_back();
        arm_all();
        if (out.empty()) {
            (void)io_uring_submit(&_ring);
            return 0;
        }
        std::size_t got = reap(out);
        if (got == 0) {
            // reap() may just have consumed the CQE that ended a multishot (-ENOBUFS: the buffer
            // ring ran dry while the CQ still held its datagrams). Nothing is handed out now, so
            // return every buffer and re-arm before waiting: waiting unarmed sleeps the whole
            // wait_ns while the socket fills (and overflows) under load.
            give_back();
            arm_all();
            if (_deferred) {
                // Collect what arrived since the last call (runs the deferred receives; never
                // blocks). The kernel bounds the work per call, so while this finds datagrams
                // the next call collects again right away: no sleep under load.
                (void)io_uring_submit_and_get_events(&_ring);
                got = reap(out);
                if (got == 0 && _active && _batch_sleep_ns > 0 && wait_ns > 0) {
                    // Traffic is flowing but nothing is queued now: let a batch build up in the
                    // socket (no wakeups meanwhile), then collect it in one system call.
                    const std::int64_t ns = std::min(_batch_sleep_ns, wait_ns);
                    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
                    ++_stats.batch_sleeps;
                    (void)::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
                    (void)io_uring_submit_and_get_events(&_ring);
                    got = reap(out);
                }
            }
            if (got == 0) {
                io_uring_cqe* cqe = nullptr;
                if (wait_ns > 0) {
                    __kernel_timespec ts{wait_ns / 1'000'000'000, wait_ns % 1'000'000'000};
                    ++_stats.wakeups;
                    // Deferred ring: wake on the first datagram (a waiter is woken per arrival
                    // anyway); batching comes from the sleep above once traffic flows.
                    const unsigned wait_nr =
                        _deferred ? 1u : std::min<unsigned>(_wait_batch, static_cast<unsigned>(out.size()));
                    (void)io_uring_submit_and_wait_timeout(&_ring, &cqe, wait_nr, &ts, nullptr);
                } else {
                    (void)io_uring_submit(&_ring);
                }
                got = reap(out);
            }
        } else if (io_uring_sq_ready(&_ring) > 0) {
            (void)io_uring_submit(&_ring);
        }
        _active = got > 0;
        return got;
    }

private:
    void arm_all() noexcept {
        for (std::size_t i = 0; i < _fds.size(); ++i) {
            if (_armed[i]) continue;
            io_uring_sqe* sqe = io_uring_get_sqe(&_ring);
            if (sqe == nullptr) {
                (void)io_uring_submit(&_ring);
                sqe = io_uring_get_sqe(&_ring);
                if (sqe == nullptr) return;  // retried on the next receive()
            }
            io_uring_prep_recvmsg_multishot(sqe, _fds[i], &_msg[i], 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = buffer_group;
            io_uring_sqe_set_data64(sqe, i);
            _armed[i] = true;
        }
    }

    // Returns the buffers handed out by the previous receive() to the kernel.
    void give_back() noexcept {
        if (_held.empty()) return;
        const int mask = io_uring_buf_ring_mask(static_cast<__u32>(_entries));
        for (std::size_t i = 0; i < _held.size(); ++i)
            io_uring_buf_ring_add(_br, _mem + std::size_t{_held[i]} * _stride,
                                  static_cast<unsigned>(_buf_len), _held[i], mask, static_cast<int>(i));
        io_uring_buf_ring_advance(_br, static_cast<int>(_held.size()));
        _held.clear();
    }

    void recycle(unsigned short bid) noexcept {
        // Not handed out: returned with the next give_back().
        _held.push_back(bid);
    }

    std::size_t reap(std::span<datagram> out) noexcept {
        std::size_t got = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        // Bounded by out.size() datagrams and by the CQ ring size.
        while (got < out.size() && seen < 8192 && io_uring_peek_cqe(&_ring, &cqe) == 0 && cqe != nullptr) {
            ++seen;
            const std::size_t si = static_cast<std::size_t>(io_uring_cqe_get_data64(cqe));
            const int res = cqe->res;
            const unsigned flags = cqe->flags;
            io_uring_cqe_seen(&_ring, cqe);
            if (si >= _fds.size()) continue;
            if ((flags & IORING_CQE_F_MORE) == 0) {
                _armed[si] = false;  // multishot ended: re-armed on the next receive()
                ++_stats.rearms;
            }
            if (res < 0) {
                if (res == -ENOBUFS) ++_stats.enobufs;
                else if (res != -ECANCELED) ++_stats.errors;
                continue;
            }
            if ((flags & IORING_CQE_F_BUFFER) == 0) continue;
            const auto bid = static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT);
            if (bid >= _entries) continue;
            std::byte* buf = _mem + std::size_t{bid} * _stride;
            io_uring_recvmsg_out* o = io_uring_recvmsg_validate(buf, res, &_msg[si]);
            if (o == nullptr) {
                ++_stats.errors;
                recycle(bid);
                continue;
            }
            if (o->controllen > 0) {
                for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(o, &_msg[si]); c != nullptr;
                     c = io_uring_recvmsg_cmsg_nexthdr(o, &_msg[si], c)) {
                    std::uint32_t v;
                    if (rxq_ovfl(c, &v)) note_overflow(si, v);
                }
            }
            if ((o->flags & MSG_TRUNC) != 0) {
                ++_drops[si].truncated;
                recycle(bid);
                continue;
            }
            auto* payload = static_cast<std::byte*>(io_uring_recvmsg_payload(o, &_msg[si]));
            const std::size_t len = io_uring_recvmsg_payload_length(o, res, &_msg[si]);
            datagram& d = out[got++];
            d.payload = bytes_view(payload, len);
            d.tailroom = static_cast<std::size_t>((buf + _stride) - (payload + len));
            from_sockaddr(io_uring_recvmsg_name(o), std::min<std::size_t>(o->namelen, _name_len), d.src, d.src_port);
            d.dst_port = _ports[si];
            d.rx_wall_ms = 0;
            _stats.bytes += len;
            ++_stats.datagrams;
            _held.push_back(bid);
        }
        return got;
    }

    io_uring _ring{};
    unsigned _wait_batch = 1;
    bool _deferred = false;  // IORING_SETUP_DEFER_TASKRUN (+ SINGLE_ISSUER, enabled on first receive)
    bool _enabled = true;
    std::int64_t _batch_sleep_ns = 0;
    bool _active = false;  // the last receive() returned datagrams (traffic is flowing)
    bool _ring_ok = false;
    bool _br_registered = false;
    io_uring_buf_ring* _br = nullptr;
    std::size_t _br_bytes = 0;
    std::size_t _entries = 0;
    std::size_t _payload_max = 0;
    std::size_t _ctl_len = 0;
    std::size_t _name_len = 0;
    std::size_t _buf_len = 0;
    std::size_t _stride = 0;
    std::byte* _mem = nullptr;
    std::size_t _mem_bytes = 0;
    std::vector<unsigned short> _held;  // buffers handed out (or to recycle) since last receive
    std::vector<msghdr> _msg;
    std::vector<bool> _armed;
};

#endif  // SLUICE_SOCKET_RX_URING

}  // namespace

// ---------------------------------------------------------------------------------------------

socket_rx::~socket_rx() {
    for (int fd : _fds)
        if (fd >= 0) ::close(fd);
}

void socket_rx::note_overflow(std::size_t socket, std::uint32_t cumulative) noexcept {
    // Both sources report the socket's cumulative sk_drops (wraps at 2^32). A cmsg carries the
    // value at enqueue time, so it may lag what SO_MEMINFO already showed: only count progress.
    const auto delta = static_cast<std::int32_t>(cumulative - _ovfl_seen[socket]);
    if (delta <= 0) return;
    _ovfl_seen[socket] = cumulative;
    _drops[socket].kernel_overflow += static_cast<std::uint32_t>(delta);
}

void socket_rx::refresh_drops() noexcept {
    for (std::size_t i = 0; i < _fds.size(); ++i) {
        std::uint32_t mem[SK_MEMINFO_VARS] = {};
        socklen_t len = sizeof mem;
        if (getsockopt(_fds[i], SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
            len > SK_MEMINFO_DROPS * sizeof(std::uint32_t))
            note_overflow(i, mem[SK_MEMINFO_DROPS]);
    }
}

std::size_t socket_rx::take_drops(std::span<port_drops> out) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < _drops.size() && n < out.size(); ++i) {
        port_drops& d = _drops[i];
        if (d.kernel_overflow == 0 && d.truncated == 0) continue;
        out[n++] = d;
        d.kernel_overflow = 0;
        d.truncated = 0;
    }
    return n;
}

bool io_uring_multishot_available(std::string* why) {
#if SLUICE_SOCKET_RX_URING
    utsname u{};
    int major = 0, minor = 0;
    if (uname(&u) == 0) std::sscanf(u.release, "%d.%d", &major, &minor);
    if (major < 6) {
        if (why) *why = std::string("kernel ") + u.release + " < 6.0 (multishot recvmsg)";
        return false;
    }
    io_uring ring{};
    int r = io_uring_queue_init(4, &ring, 0);
    if (r < 0) {
        if (why) *why = "io_uring_queue_init: " + errno_text(-r);
        return false;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    bool ok = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_RECVMSG);
    if (probe != nullptr) io_uring_free_probe(probe);
    io_uring_queue_exit(&ring);
    if (!ok && why) *why = "IORING_OP_RECVMSG not supported";
    return ok;
#else
    if (why) *why = "liburing lacks io_uring_prep_recvmsg_multishot / buffer rings";
    return false;
#endif
}

std::unique_ptr<socket_rx> socket_rx::open(const socket_rx_options& options, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    if (options.ports.empty()) {
        err = "socket_rx: no ports";
        return nullptr;
    }
    if (options.datagram_bytes_max == 0 || options.datagram_bytes_max > 65536) {
        err = "socket_rx: datagram_bytes_max must be 1..65536";
        return nullptr;
    }
    bool use_uring = false;
    std::string why;
    if (options.mode != socket_rx_mode::recvmmsg) {
        use_uring = io_uring_multishot_available(&why);
        if (!use_uring && options.mode == socket_rx_mode::io_uring) {
            err = "socket_rx: io_uring multishot recvmsg unavailable: " + why;
            return nullptr;
        }
    }
    std::unique_ptr<socket_rx> rx;
#if SLUICE_SOCKET_RX_URING
    uring_rx* u = nullptr;
    if (use_uring) {
        u = new uring_rx();
        rx.reset(u);
    }
#endif
    mmsg_rx* m = nullptr;
    if (!rx) {
        m = new mmsg_rx();
        rx.reset(m);
    }
    for (std::uint16_t port : options.ports) {
        int rcvbuf = 0;
        std::uint16_t bound = 0;
        const int fd = open_socket(options, port, &rcvbuf, &bound, &err);
        if (fd < 0) return nullptr;
        rx->_fds.push_back(fd);
        rx->_ports.push_back(bound);
        rx->_ovfl_seen.push_back(0);
        port_drops d;
        d.port = bound;
        rx->_drops.push_back(d);
        rx->_rcvbuf = rcvbuf;
    }
#if SLUICE_SOCKET_RX_URING
    if (u != nullptr) {
        if (!u->init(options, &err)) {
            if (options.mode == socket_rx_mode::io_uring) return nullptr;
            // Fall back: keep the sockets, switch to recvmmsg.
            auto fallback = std::make_unique<mmsg_rx>();
            fallback->_fds = std::move(rx->_fds);
            rx->_fds.clear();
            fallback->_ports = rx->_ports;
            fallback->_ovfl_seen = rx->_ovfl_seen;
            fallback->_drops = rx->_drops;
            fallback->_rcvbuf = rx->_rcvbuf;
            rx = std::move(fallback);
            m = static_cast<mmsg_rx*>(rx.get());
        } else {
            u->_io_uring = true;
            return rx;
        }
    }
#endif
    if (!m->init(options, &err)) return nullptr;
    return rx;
}

}  // namespace sluice::net
