#pragma once
// The Kafka listener: one thread, one io_uring (accept, recv, send), many connections, pipelined
// requests answered in order. Requests are handled by kafka::broker (broker.h).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/base/errc.h>
#include <sluice/kafka/broker.h>
#include <sluice/kafka/offset_store.h>

namespace sluice::log {
class log_store;
}

namespace sluice::kafka {

struct server_options {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 9092;          // 0 = ephemeral (see server::port())
    std::string advertised_host;               // empty = listen_host
    std::int32_t advertised_port = 0;          // 0 = the bound listen port
    std::size_t max_request_bytes = 100 << 20; // larger frames close the connection
    std::uint32_t max_in_flight_per_connection = 64;
    std::int64_t idle_timeout_ms = 600'000;    // connections silent this long are closed
    std::uint32_t max_connections = 4096;
    broker_options broker;                     // advertised_* filled in from the fields above
};

// Parses "host:port" (IPv4 or name; "[v6]:port" accepted). False if malformed.
[[nodiscard]] bool parse_host_port(std::string_view s, std::string& host, std::uint16_t& port);

struct server_stats {
    broker_stats broker;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_open = 0;
    std::uint64_t connections_closed = 0;
    std::uint64_t requests_too_large = 0;
    std::uint64_t idle_timeouts = 0;
};

class server {
public:
    // Binds and listens (so port() is known), opens the broker. Null with `error` on failure.
    [[nodiscard]] static std::unique_ptr<server> create(log::log_store& store, server_options options,
                                                        std::string* error);
    ~server();  // stop()
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Starts the I/O thread. Returns false (and `error`) if io_uring cannot be set up.
    [[nodiscard]] bool start(std::string* error = nullptr);
    // Stops the thread and closes every connection. Idempotent.
    void stop();

    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] server_stats stats() const;
    // Every committed consumer-group offset; any thread (a copy taken under the offset store's
    // lock, see offset_store::snapshot()).
    [[nodiscard]] std::vector<committed_offset_entry> committed_offsets() const;

    struct impl;

private:
    explicit server(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

}  // namespace sluice::kafka
