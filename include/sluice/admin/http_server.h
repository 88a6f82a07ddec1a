#pragma once
// The admin HTTP endpoint (cpp-httplib), served from its own thread:
//   GET /metrics     Prometheus text 0.0.4 from the registry
//   GET /v1/status   JSON from the status callback the app provides
//   GET /            a small HTML page
//   extra routes added with add_route() before start()
//   anything else    404
// Control plane only; never used from pinned cores.

#include <sluice/admin/metrics.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::admin {

class http_server {
public:
    // `reg` must outlive the server. `status_json` is called on the server thread for each
    // GET /v1/status and must be thread-safe; empty = "{}".
    http_server(registry& reg, std::function<std::string()> status_json);
    ~http_server();  // stops
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // GET `path` answers with `content_type` and the callback's body. Before start() only.
    void add_route(std::string path, std::string content_type, std::function<std::string()> body);

    // Binds host:port (port 0 = ephemeral) and starts serving on a new thread. Returns false and
    // sets *error ("admin.listen 127.0.0.1:9644: cannot bind: ...") on failure.
    bool start(const std::string& host, std::uint16_t port, std::string* error);
    // The bound port (after a successful start()).
    [[nodiscard]] std::uint16_t port() const noexcept;
    // Stops serving and joins the thread. Idempotent.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace sluice::admin
