#include <sluice/admin/http_server.h>

#include <sluice/admin/dashboard_page.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include <httplib.h>

namespace sluice::admin {

struct http_server::impl {
    registry& reg;
    std::function<std::string()> status_json;
    struct route {
        std::string path;
        std::string content_type;
        std::function<std::string()> body;
    };
    std::vector<route> routes;
    httplib::Server svr;
    std::thread thread;
    std::uint16_t port = 0;
    bool started = false;

    impl(registry& r, std::function<std::string()> s) : reg(r), status_json(std::move(s)) {}
};

http_server::http_server(registry& reg, std::function<std::string()> status_json)
    : _impl(std::make_unique<impl>(reg, std::move(status_json))) {}

http_server::~http_server() { stop(); }

void http_server::add_route(std::string path, std::string content_type,
                            std::function<std::string()> body) {
    _impl->routes.push_back({std::move(path), std::move(content_type), std::move(body)});
}

bool http_server::start(const std::string& host, std::uint16_t port, std::string* error) {
    impl& m = *_impl;
    if (m.started) {
        if (error) *error = "admin http server already started";
        return false;
    }
    // Two workers are plenty for scrapes and status; this runs on control cores.
    m.svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // httplib's default also sets SO_REUSEPORT, which would let a second sluice silently share
    // the port; keep only SO_REUSEADDR so a busy port is a clear start-up error.
    m.svr.set_socket_options([](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    m.svr.Get("/metrics", [&m](const httplib::Request&, httplib::Response& res) {
        res.set_content(m.reg.exposition(), std::string(registry::content_type).c_str());
    });
    m.svr.Get("/v1/status", [&m](const httplib::Request&, httplib::Response& res) {
        res.set_content(m.status_json ? m.status_json() : std::string("{}"), "application/json");
    });
    m.svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
        const std::string_view page = dashboard_page();  // status page (dashboard_page.cc)
        res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
    });
    for (const auto& r : m.routes) {
        const auto* rp = &r;
        m.svr.Get(r.path, [rp](const httplib::Request&, httplib::Response& res) {
            res.set_content(rp->body(), rp->content_type.c_str());
        });
    }
    m.svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404) res.set_content("not found\n", "text/plain");
    });

    const std::string what = "admin.listen " +
                             (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                             ":" + std::to_string(port);
    int bound = -1;
    errno = 0;
    if (port == 0) {
        bound = m.svr.bind_to_any_port(host);
    } else {
        bound = m.svr.bind_to_port(host, port) ? port : -1;
    }
    if (bound <= 0) {
        const int e = errno;
        if (error) {
            *error = what + ": cannot bind" + (e ? std::string(": ") + std::strerror(e) : "");
        }
        return false;
    }
    m.port = static_cast<std::uint16_t>(bound);
    m.thread = std::thread([&m] { m.svr.listen_after_bind(); });
    m.started = true;
    // stop() only works once the accept loop runs: wait for it (bounded).
    for (int i = 0; i < 5000 && !m.svr.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::uint16_t http_server::port() const noexcept { return _impl->port; }

void http_server::stop() {
    impl& m = *_impl;
    if (!m.started) return;
    for (int i = 0; i < 5000 && !m.svr.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    m.svr.stop();
    if (m.thread.joinable()) m.thread.join();
    m.started = false;
}

}  // namespace sluice::admin
