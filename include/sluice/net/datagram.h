#pragma once
// One received UDP datagram as handed from a packet I/O backend (kernel socket, DPDK) to a
// pipeline core. Backend-independent: plain spans, no DPDK or socket types.

#include <sluice/base/bytes.h>
#include <sluice/net/frame.h>

#include <cstddef>
#include <cstdint>

namespace sluice::net {

struct datagram {
    // UDP payload. Must stay valid and unchanged until the pipeline call that receives it returns
    // (the pipeline copies what it keeps into its batch buffers before returning).
    bytes_view payload;
    // Readable bytes after payload.end() (buffer room the backend owns). With >= 64
    // (SIMDJSON_PADDING) the JSON parser runs in place, otherwise it copies to scratch.
    std::size_t tailroom = 0;
    ip_address src;              // source address (v4 in bytes[0..4), v6 = true for IPv6)
    std::uint16_t src_port = 0;  // host byte order
    std::uint16_t dst_port = 0;  // host byte order: selects the topic
    // Receive time, wall clock ms since the epoch (the ingest timestamp of events that carry
    // none). 0 = the pipeline reads the clock once per burst.
    std::int64_t rx_wall_ms = 0;
};

}  // namespace sluice::net
