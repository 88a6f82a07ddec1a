#pragma once
// Private to the log: the single-producer/single-consumer rings between an appender (producer
// thread) and the writer thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <sluice/base/assert.h>
#include <sluice/base/bytes.h>
#include <sluice/log/log_store.h>

namespace sluice::log::detail {

inline constexpr std::size_t cache_line = 64;

// Byte ring of variable-size entries. Each entry: 32-byte header {u32 bytes (header + payload,
// padded to 32, so a wrap marker always fits before the end), u32 partition, u32 payload bytes,
// u32 unused, u64 token, i64 enqueue time (mono ns)} then the payload. An entry never wraps: when it does
// not fit before the end, the producer writes a wrap marker and continues at the start.
class spsc_byte_ring {
public:
    static constexpr std::size_t header_bytes = 32;
    static constexpr std::uint32_t wrap_marker = 0xffffffffu;

    struct entry {
        std::uint32_t partition;
        std::uint64_t token;
        std::int64_t enqueued_ns;  // the producer's clock when it pushed the entry
        bytes_view payload;
    };

    explicit spsc_byte_ring(std::size_t capacity_bytes) {
        std::size_t cap = 4096;
        while (cap < capacity_bytes) cap <<= 1;
        _cap = cap;
        _mask = cap - 1;
        _buf = static_cast<std::byte*>(std::aligned_alloc(cache_line, cap));
        SLUICE_ASSERT(_buf != nullptr, "ring allocation failed");
    }
    ~spsc_byte_ring() { std::free(_buf); }
    spsc_byte_ring(const spsc_byte_ring&) = delete;
    spsc_byte_ring& operator=(const spsc_byte_ring&) = delete;

    [[nodiscard]] std::size_t capacity() const noexcept { return _cap; }
    // Largest payload that can ever be pushed.
    [[nodiscard]] std::size_t max_payload() const noexcept { return _cap / 2 - header_bytes; }

    // Producer side.
    // Whether push() of a payload of this size finds room now. Only the consumer changes head,
    // and only forward, so a true stays true until this producer pushes.
    [[nodiscard]] bool has_room(std::size_t payload_bytes) noexcept {
        const std::size_t need = entry_bytes(payload_bytes);
        const std::uint64_t tail = _prod.tail;
        const std::size_t contiguous = _cap - (tail & _mask);
        const std::size_t total = need <= contiguous ? need : contiguous + need;
        if (tail + total - _prod.cached_head > _cap) {
            // Pairs with the consumer's release store of head in pop().
            _prod.cached_head = _head.load(std::memory_order_acquire);
            if (tail + total - _prod.cached_head > _cap) return false;
        }
        return true;
    }

    // Appends an entry. Only after has_room(payload.size()) returned true (and nothing was
    // pushed since).
    void push(std::uint32_t partition, std::uint64_t token, bytes_view payload,
              std::int64_t enqueued_ns) noexcept {
        const std::size_t need = entry_bytes(payload.size());
        std::uint64_t tail = _prod.tail;
        const std::size_t idx = tail & _mask;
        const std::size_t contiguous = _cap - idx;
        if (need > contiguous) {
            write_header(idx, static_cast<std::uint32_t>(contiguous), wrap_marker, 0, 0, 0);
            tail += contiguous;
        }
        const std::size_t at = tail & _mask;
        write_header(at, static_cast<std::uint32_t>(need), partition,
                     static_cast<std::uint32_t>(payload.size()), token, enqueued_ns);
        copy_payload(_buf + at + header_bytes, payload.data(), payload.size());
        tail += need;
        _prod.tail = tail;
        // Publishes the entry; pairs with the consumer's acquire load of tail in peek().
        // copy_payload's streaming stores were fenced (sfence) before this store.
        _tail.store(tail, std::memory_order_release);
    }

    // Consumer side.
    [[nodiscard]] bool peek(entry& out) noexcept {
        for (;;) {
            std::uint64_t head = _cons.head;
            if (head == _cons.cached_tail) {
                // Pairs with the producer's release store of tail in push().
                _cons.cached_tail = _tail.load(std::memory_order_acquire);
                if (head == _cons.cached_tail) return false;
            }
            const std::size_t idx = head & _mask;
            std::uint32_t bytes, partition, payload_bytes;
            std::uint64_t token;
            std::int64_t enqueued_ns;
            std::memcpy(&bytes, _buf + idx, 4);
            std::memcpy(&partition, _buf + idx + 4, 4);
            std::memcpy(&payload_bytes, _buf + idx + 8, 4);
            std::memcpy(&token, _buf + idx + 16, 8);
            std::memcpy(&enqueued_ns, _buf + idx + 24, 8);
            if (partition == wrap_marker) {
                _cons.head = head + bytes;
                _head.store(_cons.head, std::memory_order_release);
                continue;
            }
            _cons.current = bytes;
            out.partition = partition;
            out.token = token;
            out.enqueued_ns = enqueued_ns;
            out.payload = bytes_view(_buf + idx + header_bytes, payload_bytes);
            return true;
        }
    }
    void pop() noexcept {
        _cons.head += _cons.current;
        // Frees the space; pairs with the producer's acquire load of head in has_room().
        _head.store(_cons.head, std::memory_order_release);
    }
    [[nodiscard]] bool empty_for_consumer() noexcept {
        return _cons.head == _tail.load(std::memory_order_acquire);
    }

    // Payloads from this size on are copied with streaming (non-temporal) stores.
    static constexpr std::size_t stream_bytes_min = 2048;

private:
    // An entry's bytes: header and payload, rounded up to 32.
    static constexpr std::size_t entry_bytes(std::size_t payload_bytes) noexcept {
        return (header_bytes + payload_bytes + 31) & ~std::size_t{31};
    }

    // The ring is far larger than the producer's caches and only the writer (another core)
    // reads an entry again: plain stores first read every line in (read-for-ownership) and
    // push the producer's working set out. Streaming stores write around the cache: a 64 KiB
    // batch into a 32 MiB ring read by another core took 6.3-7.2 us instead of 12.7-13.3 us
    // here. `dst` is 32-byte aligned (entries start on 32 bytes, the header is 32 bytes).
    static void copy_payload(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
#if defined(__SSE2__)
        if (n >= stream_bytes_min) {
            std::size_t i = 0;
            for (; i + 64 <= n; i += 64) {
                const auto* s = reinterpret_cast<const __m128i*>(src + i);
                auto* d = reinterpret_cast<__m128i*>(dst + i);
                const __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
                const __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
                _mm_stream_si128(d, a);
                _mm_stream_si128(d + 1, b);
                _mm_stream_si128(d + 2, c);
                _mm_stream_si128(d + 3, e);
            }
            if (i < n) std::memcpy(dst + i, src + i, n - i);
            // Streaming stores are weakly ordered: make them visible before tail is published.
            _mm_sfence();
            return;
        }
#endif
        std::memcpy(dst, src, n);
    }

    void write_header(std::size_t idx, std::uint32_t bytes, std::uint32_t partition,
                      std::uint32_t payload_bytes, std::uint64_t token,
                      std::int64_t enqueued_ns) noexcept {
        const std::uint32_t unused = 0;
        std::memcpy(_buf + idx, &bytes, 4);
        std::memcpy(_buf + idx + 4, &partition, 4);
        std::memcpy(_buf + idx + 8, &payload_bytes, 4);
        std::memcpy(_buf + idx + 12, &unused, 4);
        std::memcpy(_buf + idx + 16, &token, 8);
        std::memcpy(_buf + idx + 24, &enqueued_ns, 8);
    }

    std::byte* _buf = nullptr;
    std::size_t _cap = 0;
    std::size_t _mask = 0;

    alignas(cache_line) std::atomic<std::uint64_t> _tail{0};
    alignas(cache_line) std::atomic<std::uint64_t> _head{0};
    struct alignas(cache_line) {
        std::uint64_t tail = 0;
        std::uint64_t cached_head = 0;
    } _prod;
    struct alignas(cache_line) {
        std::uint64_t head = 0;
        std::uint64_t cached_tail = 0;
        std::uint32_t current = 0;
    } _cons;
};

}  // namespace sluice::log::detail
