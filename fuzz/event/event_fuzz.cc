// libFuzzer target: event framing + validation + extraction over arbitrary payloads.
// Byte 0 picks tailroom (none / padded) and the size of `out`; the rest is the payload.
// Differential checks: every event we accept must also be accepted by simdjson's DOM parser
// (full validation), except for numbers DOM cannot represent (we accept any magnitude); and a
// parser without the structural fast path must return exactly the same results, as must one
// that gathers the payload's 0x1e-separated pieces as one burst (event_parser::gather).

#include <sluice/event/event.h>

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace sluice;
using namespace sluice::event;

namespace {

void check(bool cond) {
    if (!cond) __builtin_trap();
}

const compiled_rules& rules(std::size_t i) {
    static const std::array<compiled_rules, 3> r = {
        compiled_rules::make({.key_pointer = "/k", .require_pointers = {"/r"},
                              .timestamp_pointer = "/t", .max_event_bytes = 4096})
            .value(),
        compiled_rules::make({.key_pointer = "/a/0/b", .require_pointers = {"/a", "/x~1y"},
                              .timestamp_pointer = "/m/t"})
            .value(),
        compiled_rules::make({.key_pointer = "/sensor_id", .require_pointers = {"/sensor_id"},
                              .timestamp_pointer = "/time_epoch"})
            .value(),
    };
    return r[i % r.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static event_parser parser(parser_options{.max_datagram_bytes = 65536});
    static event_parser exact(
        parser_options{.max_datagram_bytes = 65536, .structural_fast_path = false});
    static simdjson::dom::parser dom;
    const std::uint8_t mode = data[0];
    const std::size_t tailroom = (mode & 1) ? json_padding : 0;
    const std::size_t out_size = 1 + ((mode >> 1) & 7);
    const compiled_rules& r = rules(mode >> 4);
    const std::size_t n = size - 1;

    // Exact-size heap copy so ASan sees any read past payload + tailroom.
    std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[n + tailroom + 1]);
    std::memcpy(buf.get(), data + 1, n);
    std::memset(buf.get() + n, 'x', tailroom);
    const bytes_view payload(reinterpret_cast<const std::byte*>(buf.get()), n);

    std::array<event_result, 8> out;
    const std::size_t got = parser.parse_datagram(payload, tailroom, r, 1234,
                                                  std::span(out.data(), out_size));
    check(got <= out_size);
    std::array<event_result, 8> out_exact;
    const std::size_t got_exact = exact.parse_datagram(payload, tailroom, r, 1234,
                                                       std::span(out_exact.data(), out_size));
    check(got_exact == got && exact.last_overflow() == parser.last_overflow());
    for (std::size_t i = 0; i < got; ++i) {
        const event_result& a = out[i];
        const event_result& b = out_exact[i];
        check(a.reason == b.reason && a.has_key == b.has_key &&
              a.timestamp_from_event == b.timestamp_from_event &&
              a.timestamp_ms == b.timestamp_ms);
        check(a.raw.data() == b.raw.data() && a.raw.size() == b.raw.size());
        check(a.key.size() == b.key.size() &&
              (a.key.empty() || std::memcmp(a.key.data(), b.key.data(), a.key.size()) == 0));
    }
    check(got > 0 || parser.last_overflow() > 0 || out_size == 0);
    for (std::size_t i = 0; i < got; ++i) {
        const event_result& e = out[i];
        check(e.raw.data() >= payload.data());
        check(e.raw.data() + e.raw.size() <= payload.data() + payload.size());
        if (!e.accepted()) continue;
        check(e.has_key || e.key.empty());
        // Touch every key byte (ASan checks the span).
        volatile std::uint8_t sink = 0;
        for (std::byte b : e.key) sink = sink ^ static_cast<std::uint8_t>(b);
        (void)sink;
        simdjson::padded_string copy(reinterpret_cast<const char*>(e.raw.data()), e.raw.size());
        simdjson::dom::element el;
        const auto err = dom.parse(copy).get(el);
        if (err == simdjson::NUMBER_ERROR ||
            err == simdjson::NUMBER_OUT_OF_RANGE) {
            continue;
        }
        check(err == simdjson::SUCCESS);
        check(el.is_object());
    }

    // Burst gathering: the payload split at 0x1e bytes is a burst of datagrams lying back to
    // back in the buffer; gathered and parsed one by one they must give what the exact parser
    // gives each alone, spans into that datagram.
    static event_parser burst(parser_options{.max_datagram_bytes = 65536});
    std::array<bytes_view, 16> parts;
    std::size_t nparts = 0;
    for (std::size_t b = 0; nparts < parts.size();) {
        const void* sep = std::memchr(buf.get() + b, 0x1e, n - b);
        const std::size_t e = sep != nullptr ? static_cast<std::size_t>(
                                                   static_cast<const std::uint8_t*>(sep) - buf.get())
                                             : n;
        parts[nparts++] = bytes_view(reinterpret_cast<const std::byte*>(buf.get()) + b, e - b);
        if (sep == nullptr) break;
        b = e + 1;
    }
    burst.begin_burst();
    for (std::size_t k = 0; k < nparts; ++k) burst.gather(parts[k]);
    burst.index_burst();
    for (std::size_t k = 0; k < nparts; ++k) {
        const bytes_view d = parts[k];
        const std::size_t after = n + tailroom - static_cast<std::size_t>(
                                                     reinterpret_cast<const std::uint8_t*>(d.data()) +
                                                     d.size() - buf.get());
        std::array<event_result, 8> bx, ex;
        const std::size_t nb = burst.parse_datagram(d, after, r, 1234, std::span(bx.data(), out_size));
        const std::size_t ne = exact.parse_datagram(d, after, r, 1234, std::span(ex.data(), out_size));
        check(nb == ne && burst.last_overflow() == exact.last_overflow());
        for (std::size_t i = 0; i < nb; ++i) {
            check(bx[i].reason == ex[i].reason && bx[i].has_key == ex[i].has_key &&
                  bx[i].timestamp_from_event == ex[i].timestamp_from_event &&
                  bx[i].timestamp_ms == ex[i].timestamp_ms);
            check(bx[i].raw.data() == ex[i].raw.data() && bx[i].raw.size() == ex[i].raw.size());
            check(bx[i].key.size() == ex[i].key.size() &&
                  (bx[i].key.empty() ||
                   std::memcmp(bx[i].key.data(), ex[i].key.data(), bx[i].key.size()) == 0));
        }
    }
    return 0;
}
