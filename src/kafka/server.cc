// The Kafka listener on io_uring; see include/sluice/kafka/server.h and src/kafka/README.md.

#include <sluice/kafka/server.h>

#include <arpa/inet.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include <sluice/base/clock.h>
#include <sluice/log/log_store.h>

namespace sluice::kafka {

namespace {

constexpr std::uint64_t op_accept = 1;
constexpr std::uint64_t op_recv = 2;
constexpr std::uint64_t op_send = 3;
constexpr std::uint64_t op_wake = 4;
constexpr unsigned ring_entries = 1024;
constexpr std::size_t recv_buffer_initial = 64 << 10;
constexpr std::size_t recv_buffer_keep = 1 << 20;
// A sent answer's buffer is kept (up to this capacity) for the connection's next answer, so big
// Fetch responses are not built in freshly faulted-in memory each time.
constexpr std::size_t answer_buffer_keep = 16 << 20;
constexpr std::int64_t loop_wait_max_ms = 200;
constexpr std::int64_t log_wait_poll_ms = 2;

std::int64_t mono_ms() { return mono_ns() / 1'000'000; }

std::uint64_t ud(std::uint64_t id, std::uint64_t op) { return (id << 3) | op; }

struct slot {
    std::uint64_t seq = 0;
    bool ready = false;
    bool respond = true;
    std::vector<std::byte> bytes;
};

struct connection {
    std::uint64_t id = 0;
    int fd = -1;
    std::string peer;
    std::vector<std::byte> rbuf;
    std::size_t rlen = 0;
    std::deque<slot> slots;
    std::uint64_t next_seq = 0;
    std::vector<std::byte> wbuf;
    std::size_t woff = 0;
    std::vector<std::byte> spare;  // empty; capacity reused by the next answer
    bool recv_armed = false;
    bool send_armed = false;
    bool closing = false;          // shut down; freed once no operation is outstanding
    bool close_after_flush = false;
    bool touched = false;          // listed in server::impl::touched (deliver)
    std::int64_t last_active_ms = 0;
};

}  // namespace

bool parse_host_port(std::string_view s, std::string& host, std::uint16_t& port) {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return false;
    std::string_view h = s.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    std::string_view p = s.substr(colon + 1);
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v > 65535 || h.empty()) return false;
    host = std::string(h);
    port = static_cast<std::uint16_t>(v);
    return true;
}

struct server::impl {
    log::log_store& store;
    server_options opts;
    std::unique_ptr<broker> brk;
    int listen_fd = -1;
    int wake_fd = -1;
    std::uint16_t bound_port = 0;
    int listener_id = -1;
    io_uring ring{};
    bool ring_ok = false;
    std::thread thread;
    std::atomic<bool> stopping{false};
    bool accept_armed = false;
    bool wake_armed = false;
    std::uint64_t wake_buf = 0;
    sockaddr_storage accept_addr{};
    socklen_t accept_len = sizeof(sockaddr_storage);
    std::uint64_t next_conn = 1;
    std::unordered_map<std::uint64_t, connection> conns;
    std::vector<completed_response> completed;
    std::vector<std::uint64_t> touched;  // deliver(): connections with answers this turn
    bool recv_paused = false;            // some receive was not armed because of the backlog
    std::vector<std::uint64_t> resume_ids;  // resume_receives()

    std::atomic<std::uint64_t> bytes_in{0}, bytes_out{0}, accepted{0}, open{0}, closed{0}, too_large{0},
        idle{0};

    impl(log::log_store& s, server_options o) : store(s), opts(std::move(o)) {}
    ~impl() {
        if (ring_ok) io_uring_queue_exit(&ring);
        if (listen_fd >= 0) ::close(listen_fd);
        if (wake_fd >= 0) ::close(wake_fd);
    }

    io_uring_sqe* sqe() {
        io_uring_sqe* e = io_uring_get_sqe(&ring);
        if (!e) {
            io_uring_submit(&ring);
            e = io_uring_get_sqe(&ring);
        }
        return e;
    }

    void arm_accept() {
        if (accept_armed || stopping.load(std::memory_order_relaxed)) return;
        if (conns.size() >= opts.max_connections) return;
        auto* e = sqe();
        if (!e) return;
        accept_len = sizeof(accept_addr);
        io_uring_prep_accept(e, listen_fd, reinterpret_cast<sockaddr*>(&accept_addr), &accept_len,
                             SOCK_CLOEXEC);
        io_uring_sqe_set_data64(e, ud(0, op_accept));
        accept_armed = true;
    }

    void arm_wake() {
        if (wake_armed) return;
        auto* e = sqe();
        if (!e) return;
        io_uring_prep_read(e, wake_fd, &wake_buf, sizeof(wake_buf), 0);
        io_uring_sqe_set_data64(e, ud(0, op_wake));
        wake_armed = true;
    }

    void arm_recv(connection& c) {
        if (c.recv_armed || c.closing || c.close_after_flush) return;
        if (c.slots.size() >= opts.max_in_flight_per_connection) return;
        if (c.rlen == c.rbuf.size()) return;  // processing will grow it
        if (brk->backlogged()) {  // the log is behind: read nothing until poll() drained it
            recv_paused = true;
            return;
        }
        auto* e = sqe();
        if (!e) return;
        io_uring_prep_recv(e, c.fd, c.rbuf.data() + c.rlen, c.rbuf.size() - c.rlen, 0);
        io_uring_sqe_set_data64(e, ud(c.id, op_recv));
        c.recv_armed = true;
    }

    void begin_close(connection& c) {
        if (c.closing) return;
        c.closing = true;
        ::shutdown(c.fd, SHUT_RDWR);
        brk->connection_closed(c.id);
    }

    // Frees the connection if no operation is outstanding; returns true if freed.
    bool maybe_free(std::uint64_t id) {
        auto it = conns.find(id);
        if (it == conns.end()) return true;
        connection& c = it->second;
        if (!c.closing || c.recv_armed || c.send_armed) return false;
        ::close(c.fd);
        conns.erase(it);
        open.fetch_sub(1, std::memory_order_relaxed);
        closed.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    void process_frames(connection& c, std::int64_t now) {
        std::size_t off = 0;
        while (!c.closing && !c.close_after_flush && c.slots.size() < opts.max_in_flight_per_connection &&
               c.rlen - off >= 4) {
            auto size = load_be<std::int32_t>(c.rbuf.data() + off);
            if (size < 0 || static_cast<std::size_t>(size) > opts.max_request_bytes) {
                too_large.fetch_add(1, std::memory_order_relaxed);
                begin_close(c);
                return;
            }
            std::size_t need = 4 + static_cast<std::size_t>(size);
            if (c.rlen - off < need) break;
            request_context ctx{c.id, c.next_seq++, c.peer, now};
            slot s;
            s.seq = ctx.seq;
            s.bytes.swap(c.spare);
            s.bytes.clear();
            outcome o = brk->handle(bytes_view(c.rbuf.data() + off + 4, static_cast<std::size_t>(size)), ctx,
                                    s.bytes);
            off += need;
            switch (o) {
                case outcome::respond:
                    s.ready = true;
                    c.slots.push_back(std::move(s));
                    break;
                case outcome::deferred:
                    s.bytes.clear();
                    c.slots.push_back(std::move(s));
                    break;
                case outcome::no_response: break;
                case outcome::close: c.close_after_flush = true; break;
            }
        }
        if (c.closing) return;
        if (off > 0) {
            std::memmove(c.rbuf.data(), c.rbuf.data() + off, c.rlen - off);
            c.rlen -= off;
        }
        // Room for the next frame (grow to the announced size, bounded above).
        std::size_t want = recv_buffer_initial;
        if (c.rlen >= 4) {
            auto size = load_be<std::int32_t>(c.rbuf.data());
            if (size >= 0) want = std::max(want, 4 + static_cast<std::size_t>(size));
        }
        if (c.rbuf.size() < want) {
            c.rbuf.resize(want);
        } else if (c.rbuf.size() > recv_buffer_keep && c.rlen <= recv_buffer_initial && want <= recv_buffer_initial) {
            c.rbuf.resize(recv_buffer_initial);
            c.rbuf.shrink_to_fit();
        }
    }

    void flush(connection& c) {
        if (c.closing || c.send_armed) return;
        if (c.woff >= c.wbuf.size()) {
            c.wbuf.clear();
            c.woff = 0;
            while (!c.slots.empty() && c.slots.front().ready) {
                slot& s = c.slots.front();
                if (s.respond) {
                    if (c.wbuf.empty()) c.wbuf.swap(s.bytes);  // send it in place, no copy
                    else c.wbuf.insert(c.wbuf.end(), s.bytes.begin(), s.bytes.end());
                }
                if (s.bytes.capacity() > c.spare.capacity() && s.bytes.capacity() <= answer_buffer_keep) {
                    s.bytes.clear();
                    c.spare.swap(s.bytes);
                }
                c.slots.pop_front();
            }
        }
        if (c.wbuf.size() > c.woff) {
            auto* e = sqe();
            if (!e) return;
            io_uring_prep_send(e, c.fd, c.wbuf.data() + c.woff, c.wbuf.size() - c.woff, MSG_NOSIGNAL);
            io_uring_sqe_set_data64(e, ud(c.id, op_send));
            c.send_armed = true;
            return;
        }
        if (c.close_after_flush && c.slots.empty()) begin_close(c);
    }

    [[nodiscard]] bool has_complete_frame(const connection& c) const noexcept {
        if (c.rlen < 4) return false;
        auto size = load_be<std::int32_t>(c.rbuf.data());
        return size < 0 || c.rlen - 4 >= static_cast<std::size_t>(size);  // negative: let processing close
    }

    // Handles buffered requests (when no receive is armed over the buffer), sends ready answers
    // and re-arms the receive once nothing complete is left buffered. Call after every event.
    void pump(connection& c) {
        for (int round = 0; round < 1024 && !c.closing; ++round) {
            std::uint64_t before = c.next_seq;
            if (!c.recv_armed) process_frames(c, mono_ms());
            if (c.closing) return;
            flush(c);
            if (c.closing) return;
            if (c.next_seq == before || !has_complete_frame(c) ||
                c.slots.size() >= opts.max_in_flight_per_connection) {
                break;
            }
        }
        if (!has_complete_frame(c)) arm_recv(c);
    }

    void on_accept(int res, std::int64_t now) {
        accept_armed = false;
        if (res < 0) {
            if (res != -EINTR && res != -ECANCELED && res != -EAGAIN) {
                spdlog::warn("kafka: accept failed: {}", std::strerror(-res));
            }
            return;
        }
        int one = 1;
        ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        connection c;
        c.id = next_conn++;
        c.fd = res;
        char host[INET6_ADDRSTRLEN] = "";
        if (accept_addr.ss_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&accept_addr)->sin_addr, host, sizeof(host));
        } else if (accept_addr.ss_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&accept_addr)->sin6_addr, host, sizeof(host));
        }
        c.peer = std::string("/") + host;
        c.rbuf.resize(recv_buffer_initial);
        c.last_active_ms = now;
        accepted.fetch_add(1, std::memory_order_relaxed);
        open.fetch_add(1, std::memory_order_relaxed);
        auto [it, ok] = conns.emplace(c.id, std::move(c));
        arm_recv(it->second);
    }

    void on_recv(std::uint64_t id, int res, std::int64_t now) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        connection& c = it->second;
        c.recv_armed = false;
        if (c.closing) {
            maybe_free(id);
            return;
        }
        if (res <= 0) {
            if (res == -EINTR || res == -EAGAIN) {
                arm_recv(c);
                return;
            }
            begin_close(c);
            maybe_free(id);
            return;
        }
        bytes_in.fetch_add(static_cast<std::uint64_t>(res), std::memory_order_relaxed);
        c.last_active_ms = now;
        c.rlen += static_cast<std::size_t>(res);
        pump(c);
        if (c.closing) maybe_free(id);
    }

    void on_send(std::uint64_t id, int res, std::int64_t now) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        connection& c = it->second;
        c.send_armed = false;
        if (c.closing) {
            maybe_free(id);
            return;
        }
        if (res < 0) {
            if (res == -EINTR || res == -EAGAIN) {
                pump(c);
                return;
            }
            begin_close(c);
            maybe_free(id);
            return;
        }
        bytes_out.fetch_add(static_cast<std::uint64_t>(res), std::memory_order_relaxed);
        c.last_active_ms = now;
        c.woff += static_cast<std::size_t>(res);
        pump(c);
        if (c.closing) maybe_free(id);
    }

    // Fills the slots of every answer completed in this turn first and then pumps each connection
    // once, so the acks one group commit completes leave in one send per connection (before: the
    // first went alone and the others waited for its send to complete).
    void deliver(std::vector<completed_response>& done) {
        touched.clear();
        for (auto& r : done) {
            auto it = conns.find(r.conn_id);
            if (it == conns.end() || it->second.closing) continue;
            for (auto& s : it->second.slots) {
                if (s.seq == r.seq) {
                    s.ready = true;
                    s.respond = r.respond;
                    s.bytes = std::move(r.bytes);
                    break;
                }
            }
            if (!it->second.touched) {
                it->second.touched = true;
                touched.push_back(r.conn_id);
            }
        }
        done.clear();
        for (std::uint64_t id : touched) {
            auto it = conns.find(id);
            if (it == conns.end()) continue;
            it->second.touched = false;
            if (it->second.closing) continue;
            pump(it->second);
            if (it->second.closing) maybe_free(id);
        }
    }

    // The Produce backlog drained below its bound: handle what is buffered and arm the
    // receives that arm_recv() skipped.
    void resume_receives() {
        recv_paused = false;
        resume_ids.clear();
        for (auto& [id, c] : conns) {
            if (!c.closing && !c.recv_armed) resume_ids.push_back(id);
        }
        for (std::uint64_t id : resume_ids) {
            auto it = conns.find(id);
            if (it == conns.end() || it->second.closing) continue;
            pump(it->second);
            if (it->second.closing) maybe_free(id);
            if (recv_paused) break;  // over the bound again: the next drain resumes the rest
        }
        resume_ids.clear();
    }

    void run() {
        std::int64_t last_idle_check = mono_ms();
        arm_accept();
        arm_wake();
        while (!stopping.load(std::memory_order_acquire)) {
            std::int64_t now = mono_ms();
            std::int64_t deadline = brk->next_deadline_ms();
            std::int64_t wait = loop_wait_max_ms;
            if (deadline != std::numeric_limits<std::int64_t>::max()) wait = std::min(wait, deadline - now);
            if (brk->waiting_for_log()) wait = std::min(wait, log_wait_poll_ms);
            wait = std::max<std::int64_t>(wait, 1);
            __kernel_timespec ts{wait / 1000, (wait % 1000) * 1'000'000};
            io_uring_cqe* cqe = nullptr;
            int rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
            if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
                spdlog::error("kafka: io_uring wait failed: {}", std::strerror(-rc));
            }
            now = mono_ms();
            unsigned head;
            unsigned seen = 0;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                std::uint64_t data = io_uring_cqe_get_data64(cqe);
                std::uint64_t op = data & 7;
                std::uint64_t id = data >> 3;
                int res = cqe->res;
                switch (op) {
                    case op_accept: on_accept(res, now); break;
                    case op_recv: on_recv(id, res, now); break;
                    case op_send: on_send(id, res, now); break;
                    case op_wake: wake_armed = false; break;
                    default: break;
                }
            }
            io_uring_cq_advance(&ring, seen);
            brk->poll(now, completed);
            deliver(completed);
            if (recv_paused && !brk->backlogged()) resume_receives();
            if (now - last_idle_check >= 1000) {
                last_idle_check = now;
                for (auto& [id, c] : conns) {
                    if (!c.closing && opts.idle_timeout_ms > 0 && now - c.last_active_ms > opts.idle_timeout_ms &&
                        c.slots.empty()) {
                        idle.fetch_add(1, std::memory_order_relaxed);
                        begin_close(c);
                    }
                }
                std::vector<std::uint64_t> ids;
                for (auto& [id, c] : conns) {
                    if (c.closing) ids.push_back(id);
                }
                for (auto id : ids) maybe_free(id);
            }
            arm_accept();
            arm_wake();
        }
        // Shut down: close every connection, wait (bounded) for their operations to finish.
        for (auto& [id, c] : conns) begin_close(c);
        if (accept_armed) {
            auto* e = sqe();
            if (e) {
                io_uring_prep_cancel64(e, ud(0, op_accept), 0);
                io_uring_sqe_set_data64(e, 0);
            }
        }
        std::int64_t until = mono_ms() + 2000;
        while ((!conns.empty() || accept_armed) && mono_ms() < until) {
            __kernel_timespec ts{0, 50'000'000};
            io_uring_cqe* cqe = nullptr;
            (void)io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
            unsigned head;
            unsigned seen = 0;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                std::uint64_t data = io_uring_cqe_get_data64(cqe);
                std::uint64_t id = data >> 3;
                switch (data & 7) {
                    case op_accept:
                        accept_armed = false;
                        if (cqe->res >= 0) ::close(cqe->res);
                        break;
                    case op_recv:
                        if (auto it = conns.find(id); it != conns.end()) it->second.recv_armed = false;
                        maybe_free(id);
                        break;
                    case op_send:
                        if (auto it = conns.find(id); it != conns.end()) it->second.send_armed = false;
                        maybe_free(id);
                        break;
                    case op_wake: wake_armed = false; break;
                    default: break;
                }
            }
            io_uring_cq_advance(&ring, seen);
        }
        for (auto& [id, c] : conns) ::close(c.fd);
        conns.clear();
    }
};

server::server(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}

server::~server() { stop(); }

std::unique_ptr<server> server::create(log::log_store& store, server_options options, std::string* error) {
    auto p = std::make_unique<impl>(store, std::move(options));
    auto& o = p->opts;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port_s = std::to_string(o.listen_port);
    int gai = ::getaddrinfo(o.listen_host.empty() ? nullptr : o.listen_host.c_str(), port_s.c_str(), &hints, &res);
    if (gai != 0 || !res) {
        if (error) *error = "kafka.listen: cannot resolve " + o.listen_host + ": " + ::gai_strerror(gai);
        return nullptr;
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 512) != 0) {
        if (error) {
            *error = "kafka.listen: cannot listen on " + o.listen_host + ":" + port_s + ": " + std::strerror(errno);
        }
        if (fd >= 0) ::close(fd);
        ::freeaddrinfo(res);
        return nullptr;
    }
    ::freeaddrinfo(res);
    p->listen_fd = fd;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    p->bound_port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    o.broker.advertised_host = o.advertised_host.empty() ? o.listen_host : o.advertised_host;
    if (o.broker.advertised_host.empty() || o.broker.advertised_host == "0.0.0.0") {
        o.broker.advertised_host = "127.0.0.1";
    }
    o.broker.advertised_port = o.advertised_port > 0 ? o.advertised_port : p->bound_port;
    p->brk = broker::create(store, o.broker, error);
    if (!p->brk) return nullptr;
    p->wake_fd = ::eventfd(0, EFD_CLOEXEC);  // blocking: io_uring waits on the armed read
    if (p->wake_fd < 0) {
        if (error) *error = std::string("kafka: eventfd: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<server>(new server(std::move(p)));
}

bool server::start(std::string* error) {
    auto& p = *_impl;
    if (p.thread.joinable()) return true;
    int rc = io_uring_queue_init(ring_entries, &p.ring, 0);
    if (rc < 0) {
        if (error) *error = std::string("kafka: io_uring_queue_init: ") + std::strerror(-rc);
        return false;
    }
    p.ring_ok = true;
    int wfd = p.wake_fd;
    p.listener_id = p.store.add_watermark_listener([wfd] {
        std::uint64_t one = 1;
        (void)::write(wfd, &one, sizeof(one));  // wakes the loop's armed read
    });
    p.stopping.store(false, std::memory_order_release);
    p.thread = std::thread([&p] {
        (void)::pthread_setname_np(::pthread_self(), "sluice-kafka");  // for top, perf and bench-kafka
        p.run();
    });
    return true;
}

void server::stop() {
    auto& p = *_impl;
    if (!p.thread.joinable()) return;
    p.stopping.store(true, std::memory_order_release);  // pairs with the loop's acquire load
    std::uint64_t one = 1;
    (void)::write(p.wake_fd, &one, sizeof(one));
    p.thread.join();
    if (p.listener_id >= 0) p.store.remove_listener(p.listener_id);
    p.listener_id = -1;
}

std::uint16_t server::port() const noexcept { return _impl->bound_port; }

server_stats server::stats() const {
    server_stats s;
    s.broker = _impl->brk->stats();
    s.bytes_in = _impl->bytes_in.load(std::memory_order_relaxed);
    s.bytes_out = _impl->bytes_out.load(std::memory_order_relaxed);
    s.connections_accepted = _impl->accepted.load(std::memory_order_relaxed);
    s.connections_open = _impl->open.load(std::memory_order_relaxed);
    s.connections_closed = _impl->closed.load(std::memory_order_relaxed);
    s.requests_too_large = _impl->too_large.load(std::memory_order_relaxed);
    s.idle_timeouts = _impl->idle.load(std::memory_order_relaxed);
    return s;
}

std::vector<committed_offset_entry> server::committed_offsets() const { return _impl->brk->committed_offsets(); }

}  // namespace sluice::kafka
