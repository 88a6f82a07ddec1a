// Kernel-socket receive loop of one pipeline core (see socket_worker.h).

#include <sluice/pipeline/socket_worker.h>

#include <sluice/base/clock.h>

#include <array>
#include <thread>

namespace sluice::pipeline {

namespace {
constexpr std::size_t burst_max = 256;

void fold_drops(pipeline& p, net::socket_rx& rx) noexcept {
    std::array<net::port_drops, 16> d;
    for (int round = 0; round < 64; ++round) {
        const std::size_t n = rx.take_drops(d);
        for (std::size_t i = 0; i < n; ++i) {
            p.count_drops(d[i].port, drop_reason::kernel_overflow, d[i].kernel_overflow);
            p.count_drops(d[i].port, drop_reason::truncated, d[i].truncated);
        }
        if (n < d.size()) break;
    }
}
}  // namespace

bool run_socket_loop(pipeline& p, net::socket_rx& rx, const std::atomic<bool>& stop,
                     const socket_loop_options& options) noexcept {
    std::array<datagram, burst_max> burst;
    const std::size_t want = std::min(burst_max, std::max<std::size_t>(1, options.burst));
    std::int64_t last_poll = mono_ns();
    std::int64_t last_refresh = last_poll;
    while (!stop.load(std::memory_order_acquire)) {
        const std::size_t n = rx.receive(std::span(burst.data(), want), options.idle_wait_ns);
        if (n > 0) (void)p.process(std::span<const datagram>(burst.data(), n));
        fold_drops(p, rx);
        // poll() reaps completions and flushes lingering batches; every burst is cheap enough
        // (one acquire load when nothing completed), but bound it to ~20 us under load.
        const std::int64_t now = mono_ns();
        if (now - last_refresh >= 100'000'000) {
            rx.refresh_drops();
            last_refresh = now;
        }
        if (n < want || now - last_poll >= 20'000) {
            p.poll(now);
            last_poll = now;
        }
    }
    // Stop receiving; hand everything to the log and wait until it is durable.
    rx.refresh_drops();
    fold_drops(p, rx);
    p.flush();
    const std::int64_t deadline = mono_ns() + options.drain_timeout_ns;
    while (p.in_flight() != 0 && mono_ns() < deadline) {
        p.poll(mono_ns());
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    p.poll(mono_ns());
    return p.in_flight() == 0;
}

}  // namespace sluice::pipeline
