// The per-core pipeline: see include/sluice/pipeline/pipeline.h and README.md.

#include "pipeline_impl.h"

#include <sluice/base/assert.h>
#include <sluice/base/clock.h>
#include <sluice/config/config.h>
#include <sluice/log/partitioner.h>

#include <arpa/inet.h>
#if defined(__SSE4_1__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <thread>

namespace sluice::pipeline {

namespace {

constexpr std::size_t completions_per_poll = 64;
constexpr std::size_t completion_rounds_max = 64;  // bound on the completion loop per poll()
constexpr std::size_t source_text_max = 64;

// Token of a topic batch: the log hands it back on completion. Encodes route, record count and
// the batch's first receive time so no table is needed: bit 63 set (token != 0), bits 48..62
// route, bits 32..47 records, bits 0..31 first receive time in microseconds mod 2^32 (wraps
// every ~71 min; latencies are computed mod 2^32).
constexpr std::uint32_t token_records_max = 0xffff;
constexpr std::uint32_t token_routes_max = 0x7fff;
[[nodiscard]] constexpr std::uint64_t make_token(std::uint32_t route, std::uint32_t records,
                                                 std::int64_t first_ns) noexcept {
    const auto us = static_cast<std::uint32_t>(static_cast<std::uint64_t>(first_ns / 1000) & 0xffffffffu);
    return (std::uint64_t{1} << 63) | (std::uint64_t{route} << 48) | (std::uint64_t{records} << 32) | us;
}
[[nodiscard]] constexpr std::uint32_t token_route(std::uint64_t t) noexcept {
    return static_cast<std::uint32_t>((t >> 48) & 0x7fffu);
}
[[nodiscard]] constexpr std::uint32_t token_records(std::uint64_t t) noexcept {
    return static_cast<std::uint32_t>((t >> 32) & 0xffffu);
}
[[nodiscard]] constexpr std::uint32_t token_first_us(std::uint64_t t) noexcept {
    return static_cast<std::uint32_t>(t & 0xffffffffu);
}

// Single-writer bump: plain load + store (no locked RMW); readers use the sequence lock.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void drop(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    const std::uint64_t v = c.load(std::memory_order_relaxed);
    SLUICE_ASSERT(v >= n, "in_flight underflow");
    c.store(v - n, std::memory_order_relaxed);
}

// "a.b.c.d:port" or "[v6]:port" into out; returns the length.
std::size_t format_source(const net::ip_address& a, std::uint16_t port, char* out) noexcept {
    char* p = out;
    if (!a.v6) {
        for (int i = 0; i < 4; ++i) {
            unsigned v = a.bytes[static_cast<std::size_t>(i)];
            if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10) *p++ = static_cast<char>('0' + (v / 10) % 10);
            *p++ = static_cast<char>('0' + v % 10);
            if (i != 3) *p++ = '.';
        }
    } else {
        *p++ = '[';
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf) == nullptr) buf[0] = '\0';
        const std::size_t n = std::strlen(buf);
        std::memcpy(p, buf, n);
        p += n;
        *p++ = ']';
    }
    *p++ = ':';
    char digits[6];
    int nd = 0;
    unsigned v = port;
    do {
        digits[nd++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (nd > 0) *p++ = digits[--nd];
    return static_cast<std::size_t>(p - out);
}

// x % d for 32-bit x and d >= 1 without a division (Lemire, Kaser, Kurz, "Faster remainder by
// direct computation", 2019: exact for every 32-bit x and d with this 64-bit multiplier). The
// partition of every keyed event is one; a 32-bit idiv costs tens of cycles.
struct fast_mod {
    std::uint64_t magic = 0;
    std::uint32_t d = 1;
    constexpr explicit fast_mod(std::uint32_t divisor) noexcept
        : magic(~std::uint64_t{0} / divisor + 1), d(divisor) {}
    [[nodiscard]] constexpr std::uint32_t mod(std::uint32_t x) const noexcept {
        // High 64 bits of (magic * x mod 2^64) * d, from two 32x32-bit halves (no __int128).
        const std::uint64_t low = magic * x;
        const std::uint64_t lo_part = ((low & 0xffffffffu) * d) >> 32;
        return static_cast<std::uint32_t>(((low >> 32) * d + lo_part) >> 32);
    }
};
static_assert(fast_mod(1).mod(0x7fffffff) == 0 && fast_mod(7).mod(0x7fffffff) == 0x7fffffff % 7);
static_assert(fast_mod(12).mod(123456789) == 123456789 % 12);
static_assert(fast_mod(0x7fffffff).mod(0xfffffffe) == 0);
static_assert(fast_mod(3).mod(0xffffffff) == 0xffffffff % 3);

// Source addresses compared as one 16-byte vector (SSE4.1, in the x86-64-v3 baseline), else as
// two 64-bit words (the defaulted == calls memcmp).
[[nodiscard]] inline bool same_address(const net::ip_address& a, const net::ip_address& b) noexcept {
#if defined(__SSE4_1__)
    const __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bytes.data())),
                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.bytes.data())));
    return _mm_testz_si128(x, x) != 0 && a.v6 == b.v6;
#else
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.bytes.data(), 8);
    std::memcpy(&a1, a.bytes.data() + 8, 8);
    std::memcpy(&b0, b.bytes.data(), 8);
    std::memcpy(&b1, b.bytes.data() + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0 && a.v6 == b.v6;
#endif
}

// Per-source token bucket, bounded open-addressed table (4-way probe, evicts the stalest).
struct rate_entry {
    std::uint64_t key_hi = 0;
    std::uint64_t key_lo = 0;
    std::int64_t last_ns = 0;
    double tokens = 0;
    bool used = false;
};

}  // namespace

// One batch under construction for one log partition (a topic partition or a DLQ). Two cache
// lines, the builder (all an append touches) in the first: an unaligned or odd-sized slot put
// the builder across two lines in most slots.
struct alignas(64) batch_slot {
    log::batch_builder builder;
    std::unique_ptr<std::byte[]> buffer;  // of builder.capacity_bytes()
    partition_index partition;
    std::uint32_t route = 0;
    bool dlq = false;
    bool listed = false;          // in core_state::dirty
    std::int64_t first_ns = 0;    // mono time of the first record
    std::array<std::uint32_t, event::reject_reason_count> reasons{};  // DLQ: records by reason
};
static_assert(sizeof(log::batch_builder) <= 64 && sizeof(batch_slot) == 128);

struct core_state {
    pipeline_set::impl* set = nullptr;
    core_block* block = nullptr;
    unsigned core = 0;
    log::appender app;
    event::event_parser parser;
    std::vector<event::event_result> results;
    // `results` as a span, made once: span(results) divided the vector's byte size by
    // sizeof(event_result) (56) for every datagram.
    std::span<event::event_result> results_span;
    std::vector<batch_slot> slots;            // per route: partitions slots, then the DLQ slot
    std::vector<std::uint32_t> first_slot;    // per route
    std::vector<std::uint32_t> round_robin;   // per route
    std::vector<fast_mod> partitions_mod;     // per route: % partitions
    std::vector<std::uint32_t> dirty;         // slot indexes with records (capacity = slots)
    std::vector<rate_entry> rate;
    std::uint64_t rate_mask = 0;
    // An allow-list or a rate limit is set (make_pipeline): one test per datagram when neither
    // is (allowed() and rate_ok() each loaded and tested their own setting).
    bool screened = false;
    double rate_per_ns = 0;
    double rate_burst = 0;
    std::int64_t now_ns = 0;
    std::uint64_t seq_local = 0;
    // The last datagram's source as "addr:port": datagrams mostly come from few senders, so it
    // is formatted again only when the source changes (~100 instructions per datagram saved).
    net::ip_address source_addr;
    // The port widened, 0x10000 until the first datagram: no port equals it, so the first one
    // formats without a separate "nothing formatted yet" test per datagram.
    std::uint32_t source_port = 0x10000;
    std::size_t source_len = 0;
    char source_text[source_text_max] = {};
    // The end of every topic record (HeadersCount and the "src" header), encoded when the source
    // changes; no_headers when source_header is off.
    log::record_tail source_tail;
    log::record_tail no_headers;
    // The core counts into these private copies and publishes them to `block` in a short
    // sequence-lock section at the end of each call, so snapshot readers are never starved by a
    // busy core (a write section as long as a whole burst left them almost no even window).
    std::unique_ptr<atomic_topic_counters[]> shadow_topics;
    std::size_t shadow_n = 0;   // routes + 1: the last is _unrouted
    bool unrouted_changed = false;  // _unrouted's shadow counters changed since the last end()
    atomic_core_counters shadow_core;

    core_state(log::appender a, const event::parser_options& po)
        : app(std::move(a)), parser(po) {}

    atomic_topic_counters& tc(std::uint32_t route) noexcept { return shadow_topics[route]; }

    void begin() noexcept {}
    void end() noexcept {
        // Odd: snapshot readers retry. Release fence orders this store before the data stores
        // below (pairs with the reader's acquire fence before its second seq load).
        block->seq.store(++seq_local, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        auto copy = [](const std::atomic<std::uint64_t>& from, std::atomic<std::uint64_t>& to) {
            to.store(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
        };
        // The last topic, _unrouted, changes only in count_pre_parse_drop (flagged there): its
        // ~30 counters are not copied again by every call while nothing arrives unrouted.
        const std::size_t publish_n = unrouted_changed ? shadow_n : shadow_n - 1;
        unrouted_changed = false;
        for (std::size_t t = 0; t < publish_n; ++t) {
            const auto& a = shadow_topics[t];
            auto& b = block->topics[t];
            copy(a.received, b.received);
            copy(a.stored, b.stored);
            copy(a.in_flight, b.in_flight);
            for (std::size_t i = 0; i < a.rejected.size(); ++i) copy(a.rejected[i], b.rejected[i]);
            for (std::size_t i = 0; i < a.dropped.size(); ++i) copy(a.dropped[i], b.dropped[i]);
        }
        copy(shadow_core.datagrams, block->core.datagrams);
        copy(shadow_core.bytes, block->core.bytes);
        copy(shadow_core.scratch_copies, block->core.scratch_copies);
        copy(shadow_core.batches_appended, block->core.batches_appended);
        copy(shadow_core.batches_full, block->core.batches_full);
        copy(shadow_core.completions, block->core.completions);
        copy(shadow_core.polls, block->core.polls);
        // Even: publishes the data stores (pairs with the reader's acquire load of seq).
        block->seq.store(++seq_local, std::memory_order_release);
    }

    bool allowed(const datagram& d) const noexcept {
        const config::allow_list* al = set->opts.allow;
        if (al == nullptr) return true;
        if (!d.src.v6) {
            if (al->allows_all_v4()) return true;
            std::uint32_t be;
            std::memcpy(&be, d.src.bytes.data(), 4);
            return al->allowed_v4(be);
        }
        if (al->allows_all_v6()) return true;
        return al->allowed_v6(d.src.bytes.data());
    }

    bool rate_ok(const datagram& d) noexcept {
        if (rate.empty()) return true;
        std::uint64_t hi, lo;
        std::memcpy(&hi, d.src.bytes.data(), 8);
        std::memcpy(&lo, d.src.bytes.data() + 8, 8);
        lo ^= d.src.v6 ? 1 : 0;
        std::uint64_t h = (hi * 0x9e3779b97f4a7c15ull) ^ (lo * 0xc2b2ae3d27d4eb4full);
        h ^= h >> 29;
        rate_entry* victim = nullptr;
        for (std::uint64_t i = 0; i < 4; ++i) {
            rate_entry& e = rate[(h + i) & rate_mask];
            if (e.used && e.key_hi == hi && e.key_lo == lo) {
                const double refill = static_cast<double>(now_ns - e.last_ns) * rate_per_ns;
                e.tokens = std::min(rate_burst, e.tokens + (refill > 0 ? refill : 0));
                e.last_ns = now_ns;
                if (e.tokens >= 1.0) {
                    e.tokens -= 1.0;
                    return true;
                }
                return false;
            }
            if (!e.used) {
                if (victim == nullptr || victim->used) victim = &e;
            } else if (victim == nullptr || (victim->used && e.last_ns < victim->last_ns)) {
                victim = &e;
            }
        }
        victim->used = true;
        victim->key_hi = hi;
        victim->key_lo = lo;
        victim->last_ns = now_ns;
        victim->tokens = rate_burst - 1.0;
        return true;
    }

    // After an append: a batch's first record starts its linger time and lists its slot. A slot
    // with more records was listed at its first (linger() unlists only empty builders).
    void list(std::uint32_t slot_index, batch_slot& s) noexcept {
        if (s.builder.records() != 1) return;
        s.first_ns = now_ns;
        if (!s.listed) {
            s.listed = true;
            dirty.push_back(slot_index);  // capacity reserved = slots.size(): no allocation
        }
    }

    void flush_slot(batch_slot& s) noexcept {
        if (s.builder.empty()) return;
        const auto n = static_cast<std::uint32_t>(s.builder.records());
        atomic_topic_counters& c = tc(s.route);
        // A batch the appender would refuse (ring full: most batches when the disk is the
        // bottleneck) is not finished: finish() computes the CRC over the whole batch, read back
        // from L2/L3 by then. check_room counts the refusal as try_append would.
        const std::uint64_t token = s.dlq ? 0 : make_token(s.route, n, s.first_ns);
        const auto appended = [&]() noexcept {
            const errc room = app.check_room(s.builder.size_bytes(), token);
            if (room != errc::ok) return room;
            return app.try_append(s.partition, s.builder.finish(), token);
        };
        if (set->opts.simulate_storage) [[unlikely]] {
            (void)s.builder.finish();  // as if appended (its cost included)
            drop(c.in_flight, n);
            if (s.dlq) {
                for (std::size_t r = 0; r < s.reasons.size(); ++r) bump(c.rejected[r], s.reasons[r]);
                s.reasons = {};
            } else {
                bump(c.stored, n);
            }
            bump(shadow_core.batches_appended, 1);
        } else if (s.dlq) {
            const errc e = appended();
            drop(c.in_flight, n);
            if (e == errc::ok) {
                for (std::size_t r = 0; r < s.reasons.size(); ++r) bump(c.rejected[r], s.reasons[r]);
                bump(shadow_core.batches_appended, 1);
            } else if (e == errc::full) {
                bump(c.dropped[static_cast<std::size_t>(drop_reason::backpressure)], n);
                bump(shadow_core.batches_full, 1);
            } else {
                bump(c.dropped[static_cast<std::size_t>(drop_reason::append_error)], n);
            }
            s.reasons = {};
        } else {
            const errc e = appended();
            if (e == errc::ok) {
                bump(shadow_core.batches_appended, 1);  // in_flight until its completion
            } else {
                drop(c.in_flight, n);
                const drop_reason why =
                    e == errc::full ? drop_reason::backpressure : drop_reason::append_error;
                if (e == errc::full) bump(shadow_core.batches_full, 1);
                bump(c.dropped[static_cast<std::size_t>(why)], n);
            }
        }
        s.builder.reset(mutable_bytes{s.buffer.get(), s.builder.capacity_bytes()});
    }

    // Appends one record to slot `si` (`record`: batch_builder::append's arguments), flushing
    // first if it does not fit; returns the slot. nullptr: the record is larger than an empty
    // batch (cannot happen with the sizing in make_pipeline; counted).
    template <typename... Record>
    batch_slot* append(std::uint32_t si, const Record&... record) noexcept {
        batch_slot& s = slots[si];
        if (!s.builder.append(record...)) {
            flush_slot(s);
            if (!s.builder.append(record...)) return nullptr;
        }
        list(si, s);
        // The completion token carries at most token_records_max records.
        if (static_cast<std::uint32_t>(s.builder.records()) >= token_records_max) flush_slot(s);
        return &s;
    }

    void complete(const log::append_completion& c) noexcept {
        const std::uint32_t route = token_route(c.token);
        const std::uint32_t n = token_records(c.token);
        if (route >= set->routes.size()) return;  // not ours (cannot happen: only we append)
        atomic_topic_counters& t = tc(route);
        drop(t.in_flight, n);
        if (c.error == errc::ok) {
            bump(t.stored, n);
            // Receive (first record of the batch) -> durable, log2 buckets of microseconds; each
            // of the batch's n events counts with the first one's latency (their upper bound).
            const auto now_us = static_cast<std::uint32_t>(static_cast<std::uint64_t>(now_ns / 1000) & 0xffffffffu);
            const std::uint32_t lat_us = now_us - token_first_us(c.token);
            const std::size_t b = lat_us <= 1 ? 0 : std::min<std::size_t>(std::bit_width(lat_us - 1), latency_buckets - 1);
            bump(block->core.durable_latency_log2[b], n);
            bump(block->core.durable_latency_sum_us, std::uint64_t{lat_us} * n);
        } else {
            bump(t.dropped[static_cast<std::size_t>(drop_reason::storage_error)], n);
        }
        bump(shadow_core.completions, 1);
    }

    void reap() noexcept {
        std::array<log::append_completion, completions_per_poll> done;
        for (std::size_t round = 0; round < completion_rounds_max; ++round) {
            const std::size_t n = app.poll_completions(done);
            for (std::size_t i = 0; i < n; ++i) complete(done[i]);
            if (n < done.size()) break;
        }
    }

    void count_pre_parse_drop(std::uint32_t route, drop_reason why, std::uint64_t n) noexcept {
        unrouted_changed |= route + 1 == shadow_n;
        atomic_topic_counters& c = tc(route);
        bump(c.received, n);
        bump(c.dropped[static_cast<std::size_t>(why)], n);
    }

    // A destination port's route and what handle() takes from it, looked up again only when
    // the port differs from the previous datagram's (a burst mostly goes to one topic): one
    // compare instead of a chain of dependent loads per datagram. Local to one burst.
    struct route_cache {
        std::uint32_t port = 0x10000;  // no port equals it: the first datagram looks up
        std::uint16_t port_entry = 0;  // set->port_table[port]
        // Valid when port_entry != 0 (route = port_entry - 1):
        const event::compiled_rules* rules = nullptr;
        atomic_topic_counters* counters = nullptr;
        const fast_mod* pm = nullptr;
        batch_slot* route_slots = nullptr;
        std::uint32_t base = 0;  // first_slot[route]
    };

    // Inlined into the burst loop (process_burst, its only caller): as a call per datagram its
    // entry and exit (six saved registers, the burst's values reloaded) cost ~18 instructions
    // per datagram under callgrind.
    [[gnu::always_inline]] void handle(const datagram& d, std::int64_t ingest_ms,
                                       route_cache& rc) noexcept {
        if (d.dst_port != rc.port) [[unlikely]] {
            rc.port = d.dst_port;
            rc.port_entry = set->port_table[d.dst_port];
            if (rc.port_entry != 0) {
                const std::uint32_t route = rc.port_entry - 1u;
                rc.rules = &*set->routes[route].rules;
                rc.counters = &tc(route);
                rc.pm = &partitions_mod[route];
                rc.base = first_slot[route];
                rc.route_slots = slots.data() + rc.base;
            }
        }
        // set->route_of(d.dst_port), with the "_unrouted" index (routes.size(), a division by
        // sizeof(route_info)) computed only on the paths that count under it.
        const std::uint16_t port_entry = rc.port_entry;
        const auto route_or_unrouted = [&]() noexcept {
            return port_entry != 0 ? static_cast<std::uint32_t>(port_entry - 1)
                                   : static_cast<std::uint32_t>(set->routes.size());
        };
        if (screened) [[unlikely]] {
            if (!allowed(d))
                return count_pre_parse_drop(route_or_unrouted(), drop_reason::allow_list, 1);
            if (!rate_ok(d))
                return count_pre_parse_drop(route_or_unrouted(), drop_reason::rate_limit, 1);
        }
        if (port_entry == 0) return count_pre_parse_drop(route_or_unrouted(), drop_reason::no_route, 1);
        const std::uint32_t route = port_entry - 1u;

        const std::int64_t ts_default = d.rx_wall_ms != 0 ? d.rx_wall_ms : ingest_ms;
        const std::size_t n = parser.parse_datagram(d.payload, d.tailroom, *rc.rules, ts_default,
                                                    results_span);
        const std::size_t overflow = parser.last_overflow();
        atomic_topic_counters& c = *rc.counters;
        bump(c.received, n + overflow);
        if (overflow != 0) bump(c.dropped[static_cast<std::size_t>(drop_reason::overflow)], overflow);

        if (d.src_port != source_port || !same_address(d.src, source_addr)) [[unlikely]] {
            source_len = format_source(d.src, d.src_port, source_text);
            source_addr = d.src;
            source_port = d.src_port;
            const log::record_header src_header{
                "src", bytes_view{reinterpret_cast<const std::byte*>(source_text), source_len}};
            // HeadersCount, key length, "src", value length (two bytes), value.
            static_assert(1 + 1 + 3 + 2 + source_text_max <= log::record_tail::bytes_max);
            const bool fits = source_tail.assign(std::span(&src_header, 1));
            SLUICE_ASSERT(fits, "source header longer than a record tail");
        }
        const bytes_view source_bytes{reinterpret_cast<const std::byte*>(source_text), source_len};

        const std::uint32_t base = rc.base;
        // The same for every event of the datagram (pointers kept in registers: after the
        // appends, which are calls, the vectors' data pointers would be loaded again).
        const fast_mod& pm = *rc.pm;
        batch_slot* const route_slots = rc.route_slots;
        const event::event_result* const res = results.data();
        const std::size_t batch_bytes = set->opts.batch_bytes;
        // Every event below ends in a builder (in_flight) or, if its append fails, dropped: one
        // bump for all of them here, given back per failure, instead of one per event. A flush
        // on the way only ever drops records already in a builder, so in_flight never
        // underflows; readers see the counters only after end().
        bump(c.in_flight, n);
        for (std::size_t i = 0; i < n; ++i) {
            const event::event_result& e = res[i];
            if (e.accepted()) [[likely]] {
                // Key and value go to batch_builder::append in registers (record_field,
                // bytes_view), not through memory as std::optional: copying optionals into the
                // call right after they were stored stalled store forwarding before.
                const log::record_field key =
                    e.has_key ? log::record_field::of(e.key) : log::record_field::null();
                // log::partition_for_key's (murmur2 & 0x7fffffff) % partitions, and the same
                // modulo for keyless round robin, by multiplication.
                const std::uint32_t p =
                    e.has_key
                        ? pm.mod(static_cast<std::uint32_t>(log::murmur2(e.key)) & 0x7fffffffu)
                        : pm.mod(round_robin[route]++);
                batch_slot& s = route_slots[p];
                // The builder's bound tail (make_pipeline): source_tail or no_headers.
                if (!s.builder.append(e.timestamp_ms, key, e.raw)) [[unlikely]] {
                    // Full batch: the general path flushes and appends again.
                    if (batch_slot* t = append(base + p, e.timestamp_ms, key, e.raw)) {
                        if (t->builder.size_bytes() >= batch_bytes) flush_slot(*t);
                    } else {
                        drop(c.in_flight, 1);
                        bump(c.dropped[static_cast<std::size_t>(drop_reason::append_error)], 1);
                    }
                    continue;
                }
                // What append() and the batch_bytes check do after an append, behind one test
                // of the common case (a record neither first nor at the token's record limit,
                // the batch under batch_bytes): records is >= 1 here, and records - 2 wraps for 1.
                const auto records = static_cast<std::uint32_t>(s.builder.records());
                if (records - 2 >= token_records_max - 2 || s.builder.size_bytes() >= batch_bytes)
                    [[unlikely]] {
                    list(base + p, s);
                    if (records >= token_records_max) flush_slot(s);
                    if (s.builder.size_bytes() >= batch_bytes) flush_slot(s);
                }
            } else {
                const route_info& r = set->routes[route];
                const std::uint32_t dlq_slot = base + static_cast<std::uint32_t>(r.partitions);
                bytes_view raw = e.raw;
                if (raw.size() > set->opts.dlq_value_bytes_max)
                    raw = raw.first(set->opts.dlq_value_bytes_max);
                const std::string_view reason = event::to_string(e.reason);
                const log::record_header headers[2] = {
                    {"reason", as_bytes(reason)},
                    {"source", source_bytes},
                };
                if (batch_slot* s = append(dlq_slot, ts_default, std::nullopt, raw, headers)) {
                    ++s->reasons[static_cast<std::size_t>(e.reason)];
                    if (s->builder.size_bytes() >= set->opts.batch_bytes) flush_slot(*s);
                } else {
                    drop(c.in_flight, 1);
                    bump(c.dropped[static_cast<std::size_t>(drop_reason::append_error)], 1);
                }
            }
        }
    }

    void linger(bool all) noexcept {
        std::size_t keep = 0;
        for (std::size_t i = 0; i < dirty.size(); ++i) {
            batch_slot& s = slots[dirty[i]];
            if (!s.builder.empty() && (all || now_ns - s.first_ns >= set->opts.linger_ns)) {
                flush_slot(s);
            }
            if (s.builder.empty()) {
                s.listed = false;
            } else {
                dirty[keep++] = dirty[i];
            }
        }
        dirty.resize(keep);  // shrinking: no allocation
    }
};

// ---------------------------------------------------------------------------------------------
// topic_counters / snapshot

std::uint64_t topic_counters::rejected_total() const noexcept {
    std::uint64_t s = 0;
    for (auto v : rejected) s += v;
    return s;
}
std::uint64_t topic_counters::dropped_total() const noexcept {
    std::uint64_t s = 0;
    for (auto v : dropped) s += v;
    return s;
}
bool topic_counters::balanced() const noexcept {
    return received == stored + rejected_total() + dropped_total() + in_flight;
}
topic_counters& topic_counters::operator+=(const topic_counters& o) noexcept {
    received += o.received;
    stored += o.stored;
    in_flight += o.in_flight;
    for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += o.rejected[i];
    for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    return *this;
}
std::uint64_t counters_snapshot::durable_latency_us(double q) const noexcept {
    std::array<std::uint64_t, latency_buckets> sum{};
    std::uint64_t n = 0;
    for (const auto& c : cores)
        for (std::size_t i = 0; i < sum.size(); ++i) {
            sum[i] += c.durable_latency_log2[i];
            n += c.durable_latency_log2[i];
        }
    if (n == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < sum.size(); ++i) {
        seen += sum[i];
        if (seen >= rank) return std::uint64_t{1} << i;
    }
    return std::uint64_t{1} << (sum.size() - 1);
}

topic_counters counters_snapshot::total() const noexcept {
    topic_counters t;
    for (const auto& c : topics) t += c;
    return t;
}

// ---------------------------------------------------------------------------------------------
// pipeline

pipeline::pipeline(std::unique_ptr<core_state> s) noexcept : _s(std::move(s)) {}
pipeline::~pipeline() = default;

namespace {

// Both process() overloads, inlined into each: one calling the other would nest two functions
// that profilers' `--toggle-collect='sluice::pipeline::pipeline::process*'` matches (the inner
// one would switch collection off), and a call would add its cost to every burst.
[[gnu::always_inline]] inline std::size_t process_burst(core_state& s,
                                                        std::span<const datagram> burst,
                                                        std::int64_t now_ns) noexcept {
    s.now_ns = now_ns;
    s.begin();
    // One stage-1 pass over the burst's small payloads (event_parser::gather); the same loop
    // sees whether a datagram lacks a receive time (then the burst's ingest time is read once).
    // The core counters datagrams, bytes and scratch_copies are summed here, once per burst
    // (handle() bumped them per datagram, each a load and a store through memory); readers see
    // them only after end(), so they are exact where they can be read.
    bool need_clock = false;
    std::uint64_t bytes = 0;
    for (const datagram& d : burst) {
        need_clock |= d.rx_wall_ms == 0;
        bytes += d.payload.size();
    }
    s.parser.begin_burst();
    s.parser.gather_each(burst, &datagram::payload);
    s.parser.index_burst();
    const std::int64_t ingest_ms = need_clock ? wall_ms() : 0;
    const std::uint64_t copies_before = s.parser.stats().scratch_copies;
    core_state::route_cache rc;
    for (const datagram& d : burst) s.handle(d, ingest_ms, rc);
    bump(s.shadow_core.datagrams, burst.size());
    bump(s.shadow_core.bytes, bytes);
    bump(s.shadow_core.scratch_copies, s.parser.stats().scratch_copies - copies_before);
    s.end();
    return burst.size();
}

}  // namespace

std::size_t pipeline::process(std::span<const datagram> burst) noexcept {
    return process_burst(*_s, burst, mono_ns());
}

std::size_t pipeline::process(std::span<const datagram> burst, std::int64_t now_ns) noexcept {
    return process_burst(*_s, burst, now_ns);
}

void pipeline::poll(std::int64_t now_ns) noexcept {
    core_state& s = *_s;
    s.now_ns = now_ns;
    s.begin();
    bump(s.shadow_core.polls, 1);
    s.reap();
    s.linger(false);
    s.end();
}

void pipeline::count_drops(std::uint16_t dst_port, drop_reason reason, std::uint64_t events) noexcept {
    if (events == 0) return;
    core_state& s = *_s;
    const std::uint32_t route = dst_port == 0 ? static_cast<std::uint32_t>(s.set->routes.size())
                                              : s.set->route_of(dst_port);
    s.begin();
    s.count_pre_parse_drop(route, reason, events);
    s.end();
}

void pipeline::flush() noexcept {
    core_state& s = *_s;
    s.now_ns = mono_ns();
    s.begin();
    s.linger(true);
    s.reap();
    s.end();
}

std::uint64_t pipeline::in_flight() const noexcept {
    const core_state& s = *_s;
    std::uint64_t n = 0;
    for (std::size_t r = 0; r <= s.set->routes.size(); ++r)
        n += s.shadow_topics[r].in_flight.load(std::memory_order_relaxed);
    return n;
}

unsigned pipeline::core() const noexcept { return _s->core; }

// ---------------------------------------------------------------------------------------------
// pipeline_set

pipeline_set::pipeline_set(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}
pipeline_set::~pipeline_set() = default;

std::unique_ptr<pipeline_set> pipeline_set::make(log::log_store& store, pipeline_options options,
                                                 std::string* error) {
    auto fail = [&](std::string msg) -> std::unique_ptr<pipeline_set> {
        if (error != nullptr) *error = std::move(msg);
        return nullptr;
    };
    if (options.cores == 0) return fail("pipeline: cores must be >= 1");
    if (options.topics.empty()) return fail("pipeline: no topics");
    if (options.topics.size() >= token_routes_max) return fail("pipeline: too many topics");
    if (options.events_per_datagram_max == 0) return fail("pipeline: events_per_datagram_max must be >= 1");
    if (options.batch_bytes < 1024) return fail("pipeline: batch_bytes must be >= 1024");
    if (options.linger_ns < 0) return fail("pipeline: linger must be >= 0");
    auto m = std::make_unique<impl>();
    m->store = &store;
    m->port_table.assign(65536, 0);
    for (std::size_t i = 0; i < options.topics.size(); ++i) {
        topic_route& t = options.topics[i];
        if (t.dlq_name.empty()) t.dlq_name = t.name + ".dlq";
        if (t.port == 0) return fail("pipeline: topic " + t.name + ": port 0");
        if (m->port_table[t.port] != 0)
            return fail("pipeline: topic " + t.name + ": port " + std::to_string(t.port) +
                        " already routed");
        auto info = store.find_topic(t.name);
        if (!info) return fail("pipeline: topic " + t.name + " does not exist in the log");
        auto dlq = store.find_topic(t.dlq_name);
        if (!dlq) return fail("pipeline: DLQ topic " + t.dlq_name + " does not exist in the log");
        auto rules = event::compiled_rules::make(t.rules);
        if (!rules) return fail("pipeline: topic " + t.name + ": invalid JSON pointer in key/require/timestamp");
        route_info r;
        r.spec = t;
        r.rules.emplace(std::move(rules.value()));
        r.partitions = info->partitions;
        r.first = info->first;
        r.dlq = dlq->first;
        r.dlq_name = t.dlq_name;
        m->port_table[t.port] = static_cast<std::uint16_t>(i + 1);
        m->routes.push_back(std::move(r));
        m->route_specs.push_back(t);
    }
    // Largest record: key and value are both inside one event (<= max_datagram_bytes each),
    // headers a few dozen bytes; varints at most 5 bytes each.
    const std::size_t record_max = 2 * options.max_datagram_bytes + 256;
    m->batch_capacity_bytes = std::max(options.batch_bytes, record_max) + log::batch_header_bytes;
    if (m->batch_capacity_bytes > store.options().max_batch_bytes) {
        m->batch_capacity_bytes = store.options().max_batch_bytes;
        if (m->batch_capacity_bytes < record_max + log::batch_header_bytes)
            return fail("pipeline: log max_batch_bytes is smaller than one maximal record");
        if (options.batch_bytes > m->batch_capacity_bytes) options.batch_bytes = m->batch_capacity_bytes;
    }
    for (unsigned c = 0; c < options.cores; ++c) {
        auto b = std::make_unique<core_block>();
        b->topics = std::make_unique<atomic_topic_counters[]>(m->routes.size() + 1);
        m->cores.push_back(std::move(b));
    }
    m->opts = std::move(options);
    return std::unique_ptr<pipeline_set>(new pipeline_set(std::move(m)));
}

std::unique_ptr<pipeline> pipeline_set::make_pipeline(unsigned core, std::string* error) {
    auto fail = [&](std::string msg) -> std::unique_ptr<pipeline> {
        if (error != nullptr) *error = std::move(msg);
        return nullptr;
    };
    impl& m = *_impl;
    if (core >= m.cores.size()) return fail("pipeline: core " + std::to_string(core) + " out of range");
    if (m.cores[core]->made) return fail("pipeline: core " + std::to_string(core) + " already made");
    auto app = m.store->make_appender();
    if (!app) return fail("pipeline: no appender left in the log store (max_appenders)");
    event::parser_options po;
    po.max_datagram_bytes = m.opts.max_datagram_bytes;
    if (!m.opts.gather_bursts) po.gather_bytes = 0;
    auto s = std::make_unique<core_state>(std::move(*app), po);
    s->set = &m;
    s->block = m.cores[core].get();
    s->shadow_n = m.routes.size() + 1;
    s->shadow_topics = std::make_unique<atomic_topic_counters[]>(s->shadow_n);
    s->core = core;
    s->results.resize(m.opts.events_per_datagram_max);
    s->results_span = std::span(s->results);
    std::size_t n_slots = 0;
    for (const auto& r : m.routes) n_slots += static_cast<std::size_t>(r.partitions) + 1;
    s->slots.resize(n_slots);
    s->dirty.reserve(n_slots);
    std::uint32_t si = 0;
    for (std::uint32_t ri = 0; ri < m.routes.size(); ++ri) {
        const route_info& r = m.routes[ri];
        s->first_slot.push_back(si);
        s->round_robin.push_back(core);  // cores start on different partitions
        SLUICE_ASSERT(r.partitions >= 1, "route without partitions");
        s->partitions_mod.emplace_back(static_cast<std::uint32_t>(r.partitions));
        for (std::int32_t p = 0; p <= r.partitions; ++p, ++si) {
            batch_slot& b = s->slots[si];
            b.dlq = p == r.partitions;
            b.route = ri;
            b.partition = b.dlq ? r.dlq : partition_index{r.first.value() + static_cast<std::uint32_t>(p)};
            // DLQ batches need room for one truncated raw event plus headers.
            const std::size_t capacity = m.batch_capacity_bytes;
            b.buffer = std::make_unique<std::byte[]>(capacity);
            // Touch the buffer now so first-use page faults do not land on the hot path.
            std::memset(b.buffer.get(), 0, capacity);
            b.builder.reset(mutable_bytes{b.buffer.get(), capacity});
            // Topic records end in the core's source tail (handle() keeps it current).
            b.builder.bind_tail(m.opts.source_header ? s->source_tail : s->no_headers);
        }
    }
    if (m.opts.rate_limit_per_source > 0) {
        const std::size_t entries = std::bit_ceil(std::max<std::size_t>(m.opts.rate_table_entries, 4));
        s->rate.resize(entries);
        s->rate_mask = entries - 1;
        s->rate_per_ns = static_cast<double>(m.opts.rate_limit_per_source) / 1e9;
        const std::uint64_t burst = m.opts.rate_limit_burst != 0 ? m.opts.rate_limit_burst
                                                                 : m.opts.rate_limit_per_source;
        s->rate_burst = static_cast<double>(std::max<std::uint64_t>(burst, 1));
    }
    s->screened = m.opts.allow != nullptr || !s->rate.empty();
    m.cores[core]->made = true;
    return std::unique_ptr<pipeline>(new pipeline(std::move(s)));
}

const pipeline_options& pipeline_set::options() const noexcept { return _impl->opts; }
std::span<const topic_route> pipeline_set::topics() const noexcept { return _impl->route_specs; }
unsigned pipeline_set::cores() const noexcept { return static_cast<unsigned>(_impl->cores.size()); }

namespace {

void read_topic(const atomic_topic_counters& a, topic_counters& t) noexcept {
    t.received = a.received.load(std::memory_order_relaxed);
    t.stored = a.stored.load(std::memory_order_relaxed);
    t.in_flight = a.in_flight.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < t.rejected.size(); ++i)
        t.rejected[i] = a.rejected[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < t.dropped.size(); ++i)
        t.dropped[i] = a.dropped[i].load(std::memory_order_relaxed);
}

void read_core(const atomic_core_counters& a, core_counters& c) noexcept {
    c.datagrams = a.datagrams.load(std::memory_order_relaxed);
    c.bytes = a.bytes.load(std::memory_order_relaxed);
    c.scratch_copies = a.scratch_copies.load(std::memory_order_relaxed);
    c.batches_appended = a.batches_appended.load(std::memory_order_relaxed);
    c.batches_full = a.batches_full.load(std::memory_order_relaxed);
    c.completions = a.completions.load(std::memory_order_relaxed);
    c.polls = a.polls.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < c.durable_latency_log2.size(); ++i)
        c.durable_latency_log2[i] = a.durable_latency_log2[i].load(std::memory_order_relaxed);
    c.durable_latency_sum_us = a.durable_latency_sum_us.load(std::memory_order_relaxed);
}

}  // namespace

counters_snapshot pipeline_set::counters() const {
    const impl& m = *_impl;
    const std::size_t nt = m.routes.size() + 1;
    counters_snapshot snap;
    for (const auto& r : m.routes) snap.topic_names.push_back(r.spec.name);
    snap.topic_names.emplace_back(unrouted_topic);
    snap.topics.assign(nt, {});
    snap.per_core.assign(m.cores.size(), std::vector<topic_counters>(nt));
    snap.cores.assign(m.cores.size(), {});
    for (std::size_t c = 0; c < m.cores.size(); ++c) {
        const core_block& b = *m.cores[c];
        // Bounded: a core holds its write section for one burst (microseconds). After the bound
        // (~1 s, a stalled core) the last read is used as is.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        for (std::uint64_t attempt = 0;; ++attempt) {
            const std::uint64_t s1 = b.seq.load(std::memory_order_acquire);  // pairs with end()
            if ((s1 & 1) == 0) {
                for (std::size_t t = 0; t < nt; ++t) read_topic(b.topics[t], snap.per_core[c][t]);
                read_core(b.core, snap.cores[c]);
                std::atomic_thread_fence(std::memory_order_acquire);  // pairs with begin()'s fence
                if (b.seq.load(std::memory_order_relaxed) == s1) break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                for (std::size_t t = 0; t < nt; ++t) read_topic(b.topics[t], snap.per_core[c][t]);
                read_core(b.core, snap.cores[c]);
                break;
            }
            if (attempt > 64) std::this_thread::yield();
        }
        for (std::size_t t = 0; t < nt; ++t) snap.topics[t] += snap.per_core[c][t];
    }
    return snap;
}

}  // namespace sluice::pipeline
