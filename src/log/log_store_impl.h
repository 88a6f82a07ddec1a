#pragma once
// Private state of log_store: partitions, segments, appenders. See src/log/README.md.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/log/log_store.h>
#include <sluice/log/storage.h>

#include "ring.h"

namespace sluice::log {

namespace detail {

inline constexpr std::uint64_t index_interval_bytes = 4096;
inline constexpr std::uint64_t allocate_step_bytes = 32ull << 20;

struct index_entry {
    std::int32_t rel_offset;   // batch base offset - segment base offset
    std::uint32_t position;    // byte position of the batch in the segment
};

struct time_index_entry {
    std::int64_t timestamp;    // largest timestamp up to and including this batch
    std::int32_t rel_offset;   // base offset of the batch that carried it, relative
    std::uint32_t position;    // its byte position (kept in memory only)
};

// One segment file. Fields below `mu` of the owning partition are guarded by it.
struct segment {
    std::shared_ptr<storage> st;
    std::string path_base;  // "<dir>/<20-digit base>"
    std::int64_t base_offset = 0;
    int read_fd = -1;

    // Guarded by partition::mu.
    std::uint64_t size_bytes = 0;     // logical size: bytes of whole batches appended
    std::int64_t next_offset = 0;     // offset after its last batch
    std::int64_t max_timestamp = -1;
    std::int64_t created_ms = 0;
    std::uint64_t last_index_pos = 0;
    std::vector<index_entry> index;
    std::vector<time_index_entry> time_index;

    ~segment() {
        if (read_fd >= 0 && st) st->close(read_fd);
    }
    [[nodiscard]] std::string log_path() const { return path_base + ".log"; }
};

struct pending_batch {
    std::uint64_t end_pos;       // segment byte position after this batch
    std::int64_t appended_ns;    // when the producer pushed it into its ring
    std::int64_t base_offset;
    std::int64_t next_offset;
    std::uint32_t appender;
    std::uint64_t token;
};

struct alignas(cache_line) partition {
    // Published to readers. hwm: release-stored by the writer after fdatasync completed; pairs
    // with acquire loads in high_watermark() and read().
    std::atomic<std::int64_t> hwm{0};
    std::atomic<std::int64_t> log_start{0};
    std::atomic<bool> live{false};
    std::atomic<bool> deleted{false};
    std::atomic<std::uint8_t> state{0};  // errc of the last storage failure (0 = ok)

    std::string topic;
    std::int32_t number = 0;
    std::string dir;
    std::string trash_dir;  // where a deletion moved dir (set before `deleted` is published)
    topic_spec spec;

    mutable std::mutex mu;  // guards segments and the segment fields marked above
    std::vector<std::shared_ptr<segment>> segments;

    // Writer-thread state for the active (last) segment. wbuf is circular: segment byte position
    // f lives at wbuf[f % wbuf_cap] (wbuf_cap is a multiple of the storage alignment), so writes
    // never need compaction and several can be in flight.
    std::shared_ptr<segment> active;
    int wfd = -1;
    std::uint64_t allocated = 0;
    std::byte* wbuf = nullptr;
    std::size_t wbuf_cap = 0;
    std::uint64_t seg_size = 0;        // logical bytes appended to the active segment
    std::uint64_t submitted_upto = 0;  // logical end of the data handed to writes
    std::uint64_t written_upto = 0;    // every byte below is written (writes completed)
    std::uint64_t seg_synced = 0;      // every byte below is durable (fdatasync completed)
    struct write_slot {
        std::uint64_t start = 0, end = 0;  // aligned file range
        std::uint64_t logical_end = 0;     // min(end, seg_size at submission)
        bool done = false;
        bool failed = false;
    };
    static constexpr std::size_t max_writes = 8;
    std::array<write_slot, max_writes> writes{};  // FIFO in file order: [write_head, +writes_n)
    std::size_t write_head = 0;
    std::size_t writes_n = 0;
    bool write_error = false;  // a write failed; redo from written_upto once all completed
    bool fsync_in_flight = false;
    std::uint64_t fsync_target = 0;
    std::int64_t fsync_started_ns = 0;
    std::int64_t next_offset = 0;
    std::int64_t first_unsynced_ns = 0;
    std::int64_t retry_at_ns = 0;
    bool rolling = false;
    std::deque<pending_batch> pending;

    std::atomic<std::uint64_t> batches_appended{0};
    std::atomic<std::uint64_t> records_appended{0};

    ~partition() { std::free(wbuf); }
};

}  // namespace detail

struct appender::impl {
    explicit impl(std::size_t ring_bytes, std::size_t completion_slots)
        : ring(ring_bytes), completions(completion_slots) {}

    detail::spsc_byte_ring ring;
    std::uint32_t id = 0;
    std::size_t max_batch_bytes = 0;

    // Producer-local.
    std::uint64_t appended_local = 0;
    std::uint64_t tokens_issued = 0;
    std::uint64_t tokens_polled = 0;
    std::uint64_t full_local = 0;

    // Room for a batch of `batch_bytes` with `token` (a completion slot when token != 0, ring
    // space); without, the refusal is counted in `full`. try_append and check_room both ask.
    [[nodiscard]] bool room_for(std::size_t batch_bytes, std::uint64_t token) noexcept {
        if ((token != 0 && tokens_issued - tokens_polled >= completions.size()) ||
            !ring.has_room(batch_bytes)) {
            full.store(++full_local, std::memory_order_relaxed);
            return false;
        }
        return true;
    }

    // appended: relaxed-stored by the producer (its own counter); durable: release-stored by the
    // writer; in_flight() reads both.
    alignas(detail::cache_line) std::atomic<std::uint64_t> appended{0};
    std::atomic<std::uint64_t> full{0};
    alignas(detail::cache_line) std::atomic<std::uint64_t> durable{0};
    std::atomic<bool> closed{false};

    // Completion ring: writer produces, producer consumes.
    std::vector<append_completion> completions;
    alignas(detail::cache_line) std::atomic<std::uint64_t> comp_tail{0};
    std::uint64_t comp_tail_local = 0;  // writer-local
    alignas(detail::cache_line) std::atomic<std::uint64_t> comp_head{0};
};

struct log_store::impl {
    store_options opts;
    std::shared_ptr<storage> st;
    std::size_t align = 4096;

    // Partitions: fixed-capacity slots so indexes stay valid and lookups are lock-free.
    std::vector<std::unique_ptr<detail::partition>> parts;
    std::atomic<std::uint32_t> part_count{0};  // release on create; acquire by writer/readers

    mutable std::shared_mutex registry_mu;  // topics and name lookups
    std::vector<topic_info> topic_list;

    std::mutex appenders_mu;
    std::vector<std::shared_ptr<appender::impl>> appenders;  // fixed capacity max_appenders
    std::atomic<std::uint32_t> appender_count{0};

    std::mutex listeners_mu;
    std::vector<std::pair<int, std::function<void()>>> listeners;
    int next_listener = 1;

    std::thread writer;
    std::atomic<bool> running{false};
    std::atomic<bool> stop_requested{false};
    bool clean_start = false;

    // Stats (writer writes, relaxed).
    std::atomic<std::uint64_t> flushes{0};
    std::atomic<std::uint64_t> bytes_written{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> io_errors{0};
    std::atomic<std::uint64_t> no_space_errors{0};
    static constexpr int fsync_buckets = 40;
    std::atomic<std::uint64_t> fsync_hist[fsync_buckets] = {};
    std::atomic<std::uint64_t> fsync_ns_sum{0};
    std::int64_t fsync_ewma_ns = 0;  // writer only: recent fdatasync latency (1/8 EWMA)

    // Writer-thread helpers (log_store.cc).
    void writer_main();
    std::size_t drain_rings(std::int64_t now_ns);
    bool append_one(detail::partition& p, const detail::spsc_byte_ring::entry& e,
                    std::uint32_t appender_id, std::int64_t now_ns, bool& stall);
    bool service(detail::partition& p, std::uint32_t index, std::int64_t now_ns, bool stopping,
                 bool any_due);
    void on_completion(const io_completion& c, std::int64_t now_ns, bool& advanced);
    bool submit_range(detail::partition& p, std::uint32_t index, std::uint64_t start,
                      std::uint64_t end);
    void publish(detail::partition& p, std::int64_t now_ns);
    void fail_partition(detail::partition& p, errc e);
    void complete(std::uint32_t appender, std::uint64_t token, std::int64_t base, errc e);
    void mark_durable(std::uint32_t appender);
    bool finish_roll(detail::partition& p);
    bool all_drained();
    [[nodiscard]] std::int64_t flush_lead_ns() const noexcept;
    [[nodiscard]] std::int64_t flush_deadline_ns(const detail::partition& p) const noexcept;
    [[nodiscard]] bool flush_deadline_passed(const detail::partition& p, std::int64_t now_ns) const noexcept;
    [[nodiscard]] std::int64_t idle_wait(std::int64_t now_ns, bool stopping) const noexcept;
    void finalize_partition(detail::partition& p);
    void retention(std::int64_t now_ms);
    void notify_listeners();

    // Control-plane helpers.
    errc open_partition(detail::partition& p, bool clean, std::string* error);
    errc create_segment(detail::partition& p, std::int64_t base, std::string* error);
    errc activate_last_segment(detail::partition& p, std::string* error);
    errc save_registry();
    void write_indexes(const detail::segment& s);
};

}  // namespace sluice::log
