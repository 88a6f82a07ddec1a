#pragma once
// The receive loop of one pipeline core on the kernel-socket backend:
//   receive a burst (io_uring multishot / recvmmsg) -> pipeline::process -> kernel drops
//   -> pipeline::poll, until `stop` is set; then flush and drain (bounded).

#include <sluice/net/socket_rx.h>
#include <sluice/pipeline/pipeline.h>

#include <atomic>
#include <cstdint>

namespace sluice::pipeline {

struct socket_loop_options {
    std::size_t burst = 32;                      // datagrams per receive
    std::int64_t idle_wait_ns = 500'000;         // kernel wait when idle (bounds poll latency)
    std::int64_t drain_timeout_ns = 10'000'000'000;  // after stop: wait this long for in_flight 0
};

// Runs on the calling thread (the pipeline's core) until stop is true (acquire; pairs with the
// controller's release store). Returns true when everything in flight became durable (or was
// counted as dropped) before drain_timeout_ns.
bool run_socket_loop(pipeline& p, net::socket_rx& rx, const std::atomic<bool>& stop,
                     const socket_loop_options& options = {}) noexcept;

}  // namespace sluice::pipeline
