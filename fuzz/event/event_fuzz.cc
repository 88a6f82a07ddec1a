// libFuzzer target: event framing + validation + extraction over arbitrary payloads.
// Byte 0 picks tailroom (none / padded) and the size of `out`; the rest is the payload.
// Differential checks: every event we accept must also be accepted by simdjson's DOM parser
// (full validation), except for numbers DOM cannot represent (we accept any magnitude); and a
// parser without the structural fast path must return exactly the same results.

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
    return 0;
}
