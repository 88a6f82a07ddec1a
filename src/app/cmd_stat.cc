// `sluice stat [--admin HOST:PORT] [--once] [--format text|json]`: polls the admin endpoint
// (GET /v1/status + GET /metrics) every second and shows per-core, per-topic/partition, writer
// and consumer-group figures with rates from successive samples (model: admin/stat_view.h).
// Live view: plain ANSI on the alternate screen, redrawn each second; q or Ctrl-C quits.
// --once: two samples one second apart, one screen (text) or one JSON object, then exit.
// Unreachable endpoint at start: message and exit 1.

#include "commands.h"

#include <sluice/admin/stat_view.h>

#include <httplib.h>

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

namespace sluice::app {

namespace {

volatile sig_atomic_t g_quit = 0;
void on_signal(int) { g_quit = 1; }

bool split_host_port(const std::string& s, std::string& host, int& port) {
    std::string p;
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
        host = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string::npos || colon == 0) return false;
        host = s.substr(0, colon);
        p = s.substr(colon + 1);
    }
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    port = std::stoi(p);
    return port > 0 && port < 65536;
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class poller {
public:
    poller(const std::string& host, int port) : _cli(host, port) {
        _cli.set_connection_timeout(1, 0);
        _cli.set_read_timeout(2, 0);
        _cli.set_keep_alive(true);
    }
    // One sample; nullopt + *error ("GET /v1/status: Connection refused ...") on failure.
    std::optional<admin::stat_sample> sample(std::string* error) {
        const double t = now_s();
        auto st = _cli.Get("/v1/status");
        if (!st) {
            const httplib::Error e = st.error();
            *error = "GET /v1/status: " + (e == httplib::Error::Connection
                                               ? std::string("cannot connect (refused or timed out)")
                                               : httplib::to_string(e));
            return std::nullopt;
        }
        if (st->status != 200) {
            *error = "GET /v1/status: HTTP " + std::to_string(st->status);
            return std::nullopt;
        }
        std::string metrics;
        if (auto m = _cli.Get("/metrics"); m && m->status == 200) metrics = std::move(m->body);
        admin::stat_sample s;
        if (!admin::parse_stat_sample(st->body, metrics, t, &s, error)) return std::nullopt;
        return s;
    }

private:
    httplib::Client _cli;
};

void terminal_size(int& cols, int& rows) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
}

// Raw-ish keyboard input and the alternate screen; restored by the destructor.
class tty_session {
public:
    tty_session() {
        _in_tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &_saved) == 0;
        if (_in_tty) {
            termios raw = _saved;
            raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, hide cursor
        std::fflush(stdout);
    }
    ~tty_session() {
        std::fputs("\x1b[?25h\x1b[?1049l", stdout);
        std::fflush(stdout);
        if (_in_tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &_saved);
    }
    tty_session(const tty_session&) = delete;
    tty_session& operator=(const tty_session&) = delete;

    // Waits up to `ms` for a key; true if q/Q was pressed.
    bool wait_quit_key(int ms) {
        if (!_in_tty) {
            if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return false;
        }
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (::poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) {
            char buf[64];
            const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            for (ssize_t i = 0; i < n; ++i)
                if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 3) return true;
        }
        return false;
    }

private:
    bool _in_tty = false;
    termios _saved{};
};

}  // namespace

int cmd_stat(const stat_args& a) {
    std::string host;
    int port = 0;
    if (!split_host_port(a.admin, host, port)) {
        std::fprintf(stderr, "sluice stat: --admin %s: expected HOST:PORT\n", a.admin.c_str());
        return 2;
    }
    poller poll_admin(host, port);
    std::string err;
    auto first = poll_admin.sample(&err);
    if (!first) {
        std::fprintf(stderr, "sluice stat: admin endpoint %s unreachable (%s); is `sluice run` running "
                             "with admin.listen = \"%s\"?\n",
                     a.admin.c_str(), err.c_str(), a.admin.c_str());
        return 1;
    }

    if (a.once) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto second = poll_admin.sample(&err);
        if (!second) {
            std::fprintf(stderr, "sluice stat: admin endpoint %s: %s\n", a.admin.c_str(), err.c_str());
            return 1;
        }
        const admin::stat_view v = admin::compute_stat_view(&*first, *second, a.admin);
        if (a.format == "json") {
            std::fputs(admin::render_stat_json(v).c_str(), stdout);
        } else {
            int cols = 160, rows = 1000;
            if (::isatty(STDOUT_FILENO)) terminal_size(cols, rows);
            std::fputs(admin::render_stat_text(v, cols, rows, false).c_str(), stdout);
        }
        return 0;
    }

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    const bool json = a.format == "json";
    const bool tty = !json && ::isatty(STDOUT_FILENO);
    std::optional<tty_session> session;
    if (tty) session.emplace();
    admin::stat_sample prev = *first;
    bool have_prev = false;
    admin::stat_sample cur = *first;
    std::string last_error;
    double next_tick = now_s();
    while (!g_quit) {
        int cols = 160, rows = 50;
        if (tty) terminal_size(cols, rows);
        const admin::stat_view v = admin::compute_stat_view(have_prev ? &prev : nullptr, cur, a.admin);
        if (json) {
            std::fputs(admin::render_stat_json(v).c_str(), stdout);
        } else if (tty) {
            std::string frame = "\x1b[H" + admin::render_stat_text(v, cols, rows - 1, true);
            if (!last_error.empty()) frame += "\x1b[7m admin endpoint: " + last_error + " (retrying) \x1b[0m\x1b[K";
            frame += "\x1b[J";
            std::fputs(frame.c_str(), stdout);
        } else {
            std::fputs(admin::render_stat_text(v, cols, 1000, false).c_str(), stdout);
            std::fputs("--\n", stdout);
        }
        std::fflush(stdout);

        next_tick += 1.0;
        bool quit = false;
        for (;;) {  // bounded: ends at the next tick
            const double wait = next_tick - now_s();
            if (wait <= 0 || g_quit) break;
            if (session ? session->wait_quit_key(static_cast<int>(wait * 1000) + 1)
                        : (std::this_thread::sleep_for(std::chrono::duration<double>(wait)), false)) {
                quit = true;
                break;
            }
        }
        if (quit) break;
        if (now_s() - next_tick > 5) next_tick = now_s();  // suspended: do not try to catch up
        auto s = poll_admin.sample(&err);
        if (s) {
            prev = std::move(cur);
            cur = std::move(*s);
            have_prev = true;
            last_error.clear();
        } else {
            last_error = err;
        }
    }
    return 0;
}

}  // namespace sluice::app
