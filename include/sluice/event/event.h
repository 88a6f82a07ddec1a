#pragma once
// Event framing, validation and field extraction for one pipeline core.
//
// A datagram payload holds either one JSON object (possibly pretty-printed over several lines)
// or NDJSON: one object per line, '\n' separated; "\r\n" is tolerated, empty or whitespace-only
// lines are skipped, a trailing newline is fine. Every event is fully validated by simdjson
// (every value of the object is visited, every string unescaped, every number checked against
// the JSON grammar, nothing may follow the object) and, when accepted, yields its raw bytes
// (exactly as received), its key bytes and its timestamp.
//
// Framing rule: a payload is parsed as ONE multi-line document iff it has more than one non-empty
// line and its first non-empty line, with surrounding whitespace removed, ends in '{', '[', ','
// or ':' (how pretty-printers open a document). Otherwise every non-empty line is one event.
//
// Threads: an event_parser belongs to one core; nothing in this header is thread-safe, nothing
// allocates after construction, nothing throws (simdjson error-code API, SIMDJSON_EXCEPTIONS=0).
//
// Usage:
//   start-up:  auto rules = sluice::event::compiled_rules::make(topic_rules{...});  // result<>
//              sluice::event::event_parser parser{parser_options{.max_datagram_bytes = 65536}};
//   hot path:  std::array<event_result, 64> out;
//              std::size_t n = parser.parse_datagram(payload, tailroom, *rules, wall_ms(), out);
//              // out[0..n): accepted or rejected (rejected ones go to the DLQ with
//              // to_string(r.reason)); parser.last_overflow() events did not fit into `out`
//              // and were neither parsed nor returned: count them (dropped, reason "overflow").

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::event {

// What a topic asks of its events (from the config's [[topic]] table). JSON pointers per
// RFC 6901, e.g. "/sensor_id" or "/meta/id"; "" = unused.
struct topic_rules {
    std::string key_pointer;                    // key bytes of the record; "" = keyless
    std::vector<std::string> require_pointers;  // must be present and non-null, else rejected
    std::string timestamp_pointer;              // event time; "" or absent/null = ingest time
    std::size_t max_event_bytes = 65536;        // longer events are rejected as too_large
};

// Bound on pointers per topic (key + timestamp + required).
inline constexpr std::size_t max_pointers = 32;
// Bound on nesting depth of an event (deeper is rejected as not_json).
inline constexpr std::size_t max_depth = 128;

// topic_rules with its pointers split into unescaped reference tokens, built once at start-up
// (allocates); read-only afterwards, so one instance may be shared by all cores.
class compiled_rules {
public:
    // errc::invalid_argument if a pointer is malformed (must be "" or start with '/', '~' only
    // as "~0"/"~1"), a required pointer is "" or there are more than max_pointers pointers.
    [[nodiscard]] static result<compiled_rules> make(const topic_rules& rules);

    [[nodiscard]] const topic_rules& rules() const noexcept { return _rules; }

    // Internal representation (used by event_parser; stable enough to read, not to build).
    struct pointer {
        std::vector<std::string> tokens;     // unescaped reference tokens
        std::vector<std::int64_t> indexes;   // per token: array index, or -1 if not one
    };
    static constexpr std::int32_t none = -1;
    [[nodiscard]] std::span<const pointer> pointers() const noexcept {
        return {_pointers.data(), _pointers_n};
    }
    [[nodiscard]] std::int32_t key_index() const noexcept { return _key; }
    [[nodiscard]] std::int32_t timestamp_index() const noexcept { return _timestamp; }
    [[nodiscard]] std::span<const std::int32_t> required_indexes() const noexcept {
        return _required;
    }
    // The required pointers as bits (bit i: pointer i), for one test per event.
    [[nodiscard]] std::uint32_t required_mask() const noexcept { return _required_mask; }
    [[nodiscard]] std::size_t max_event_bytes() const noexcept { return _rules.max_event_bytes; }

private:
    topic_rules _rules;
    std::vector<pointer> _pointers;  // deduplicated: key, timestamp, required may share one
    // _pointers.size(), kept: the parser takes pointers() per datagram, and the vector's size is
    // a division by sizeof(pointer).
    std::size_t _pointers_n = 0;
    std::int32_t _key = none;
    std::int32_t _timestamp = none;
    std::vector<std::int32_t> _required;
    std::uint32_t _required_mask = 0;
};

// Why an event was rejected. Names are stable (DLQ header values, metric labels).
enum class reject_reason : std::uint8_t {
    none = 0,       // accepted
    not_json,       // malformed JSON anywhere in the event (incl. bad UTF-8, too deep)
    not_object,     // valid JSON, but not an object
    too_large,      // event longer than max_event_bytes (or the parser's capacity)
    missing_field,  // a required pointer is absent or null
    bad_timestamp,  // timestamp field present and non-null but not a usable time
    empty,          // the datagram held no event at all (empty or only whitespace)
};

[[nodiscard]] constexpr std::string_view to_string(reject_reason r) noexcept {
    switch (r) {
        case reject_reason::none: return "none";
        case reject_reason::not_json: return "not_json";
        case reject_reason::not_object: return "not_object";
        case reject_reason::too_large: return "too_large";
        case reject_reason::missing_field: return "missing_field";
        case reject_reason::bad_timestamp: return "bad_timestamp";
        case reject_reason::empty: return "empty";
    }
    return "unknown";
}
inline constexpr std::size_t reject_reason_count = 7;

// The matching tier-2 error code, for code that speaks errc.
[[nodiscard]] constexpr errc to_errc(reject_reason r) noexcept {
    switch (r) {
        case reject_reason::none: return errc::ok;
        case reject_reason::not_json: return errc::not_json;
        case reject_reason::not_object: return errc::not_object;
        case reject_reason::too_large: return errc::too_large;
        case reject_reason::missing_field: return errc::missing_field;
        case reject_reason::bad_timestamp: return errc::bad_timestamp;
        case reject_reason::empty: return errc::bad_length;
    }
    return errc::invalid_argument;
}

// One event of a datagram. Spans stay valid until the next parse_datagram() call on the same
// parser and as long as the payload buffer lives.
struct event_result {
    reject_reason reason = reject_reason::none;
    // The event exactly as received (a span into the payload; a line without its "\n" and
    // trailing "\r"). Set for rejected events too (the DLQ stores it); for `empty` it is the
    // whole payload.
    bytes_view raw;
    // Key (accepted events only): a string's content between the quotes, as received unless it
    // contains escapes (then unescaped into the parser's key buffer); any other value's raw JSON
    // text ({"id":42} -> "42", {"id":{"a":1}} -> "{\"a\":1}"). Empty when !has_key.
    bytes_view key;
    bool has_key = false;             // key pointer set, field present and not null
    bool timestamp_from_event = false;  // false: timestamp_ms is the caller's ingest time
    std::int64_t timestamp_ms = 0;    // accepted events only

    [[nodiscard]] bool accepted() const noexcept { return reason == reject_reason::none; }
};

struct parser_options {
    // Largest payload parse_datagram() accepts whole; longer payloads are still framed, but any
    // event longer than this is too_large. Sizes the simdjson parser, scratch and key buffers.
    std::size_t max_datagram_bytes = 65536;
    // Accept the common event shape from simdjson's structural index alone (no DOM tape);
    // anything it cannot decide goes the exact way. Same results either way: tests turn it off
    // to compare.
    bool structural_fast_path = true;
    // Burst gathering (see event_parser::gather): payloads up to this size are gathered, into a
    // buffer of gather_bytes, at most gather_payloads_max of them per burst. A payload that
    // already holds several events gains little (its own stage-1 pass is amortised over them).
    std::size_t gather_payload_bytes_max = 512;
    std::size_t gather_bytes = 32768;
    std::size_t gather_payloads_max = 64;
};

// Monotonic counters of one parser (single writer: its core; read them from the same core or
// accept torn-free but stale 64-bit reads on x86-64).
struct parser_stats {
    std::uint64_t datagrams = 0;
    std::uint64_t events_accepted = 0;
    std::uint64_t events_rejected = 0;
    std::uint64_t scratch_copies = 0;     // events copied to the padded scratch buffer
    std::uint64_t overflow_events = 0;    // events that did not fit into `out`
    std::uint64_t gathered = 0;           // datagrams parsed from a burst-level index
    std::uint64_t rejected_by_reason[reject_reason_count] = {};
};

class event_parser_impl;

// One per core. Owns simdjson DOM + on-demand parsers sized at construction, a padded scratch
// buffer and a key buffer. Not copyable; movable.
class event_parser {
public:
    explicit event_parser(const parser_options& options = {});
    ~event_parser();
    event_parser(event_parser&&) noexcept;
    event_parser& operator=(event_parser&&) noexcept;
    event_parser(const event_parser&) = delete;
    event_parser& operator=(const event_parser&) = delete;

    // Splits `payload` into events, validates each and fills out[0..n), in payload order.
    // `tailroom`: readable bytes after payload.end() (caller's buffer); when the bytes after an
    // event (rest of payload + tailroom) are at least SIMDJSON_PADDING (64), simdjson parses in
    // place, otherwise the event is copied to the scratch buffer (stats().scratch_copies).
    // `ingest_ms`: timestamp for events without one. Returns n <= out.size(); events beyond
    // out.size() are counted in last_overflow() and stats().overflow_events, not parsed.
    // A payload with no non-empty line yields exactly one `empty` result (if out is not empty).
    [[nodiscard]] std::size_t parse_datagram(bytes_view payload, std::size_t tailroom,
                                             const compiled_rules& rules, std::int64_t ingest_ms,
                                             std::span<event_result> out) noexcept;

    // Burst-level stage 1 (structural fast path). simdjson's stage 1 costs about as much per
    // call as it does to scan a 100-byte event, so a burst of one-event datagrams paid it once
    // per event. Instead, the small payloads of one receive burst are copied into one padded
    // buffer, a '\n' after each, and indexed by ONE stage-1 pass; parse_datagram() of a gathered
    // payload (same pointer and size, called in gather order; payloads not gathered may come in
    // between) then takes its structurals from that index. Results are the same either way and
    // their spans still point into the payload. Per burst:
    //   parser.begin_burst();
    //   for (auto p : payloads) parser.gather(p);   // or gather_each(items, &item::payload)
    //   parser.index_burst();
    //   for (auto p : payloads) n = parser.parse_datagram(p, ...);
    // gather() skips (silently; the payload goes the per-datagram way) a payload with a
    // backslash, one longer than gather_payload_bytes_max, or one that would overflow the buffer
    // (gather_bytes) or the entry table (gather_payloads_max). When stage 1 rejects the burst
    // (bad UTF-8, an unclosed string, a raw control character in a string, nothing but
    // whitespace) every payload goes the per-datagram way. Without the structural fast path
    // these calls do nothing.
    void begin_burst() noexcept;
    void gather(bytes_view payload) noexcept;
    // gather() of every item's payload field, in order, in one call: a call per datagram (and
    // the gather table's bounds loaded again by each) cost ~15 instructions per datagram.
    template <typename Item>
    void gather_each(std::span<const Item> items, bytes_view Item::*payload) noexcept {
        if (!items.empty()) gather_strided(&(items[0].*payload), sizeof(Item), items.size());
    }
    void index_burst() noexcept;

    // Events of the last parse_datagram() call that did not fit into `out`.
    [[nodiscard]] std::size_t last_overflow() const noexcept { return _last_overflow; }
    [[nodiscard]] const parser_stats& stats() const noexcept { return _stats; }
    [[nodiscard]] std::size_t capacity() const noexcept { return _capacity; }

private:
    // gather() of n payloads, the first at `first`, each next one stride_bytes further.
    void gather_strided(const bytes_view* first, std::size_t stride_bytes, std::size_t n) noexcept;

    std::unique_ptr<event_parser_impl> _impl;
    parser_stats _stats;
    std::size_t _capacity = 0;
    std::size_t _last_overflow = 0;
};

// Padding simdjson needs after a buffer to parse in place (== SIMDJSON_PADDING), without pulling
// simdjson.h into every includer.
inline constexpr std::size_t json_padding = 64;

// Timestamp helpers (exposed for tests and for other components).
// Number of epoch seconds / ms / µs / ns, unit chosen by magnitude: |v| < 1e11 s, < 1e14 ms,
// < 1e17 µs, else ns. Result in ms (truncated toward negative infinity for fractions).
[[nodiscard]] result<std::int64_t> epoch_number_to_ms(double v) noexcept;
[[nodiscard]] result<std::int64_t> epoch_integer_to_ms(std::int64_t v) noexcept;
// RFC 3339 date-time: "2021-03-01T12:00:00Z", "2021-03-01T12:00:00.123+02:00" ('t', ' ' and
// 'z' accepted too). Fractions beyond ms are truncated. errc::bad_timestamp if malformed.
[[nodiscard]] result<std::int64_t> rfc3339_to_ms(std::string_view s) noexcept;

}  // namespace sluice::event
