// The durable partitioned log. See src/log/README.md for the design and its invariants.

#include <sluice/log/log_store.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

#include <sluice/base/assert.h>
#include <sluice/base/clock.h>
#include <sluice/log/record_batch.h>
#include <sluice/log/segment_scan.h>

#include "log_store_impl.h"

namespace sluice::log {

using detail::partition;
using detail::segment;

namespace {

constexpr std::uint64_t fsync_slot = 0xff;  // user_data low byte: write slot, or this
// The writer sleeps until the next flush deadline or an I/O completion, at most this long, when
// it finds nothing to move: producers never wake it (no syscall on their path), so this bounds
// how long a batch can sit in a ring before it is copied and written eagerly. The flush deadline
// itself runs from the producer's push (ring entry time), so the sleep does not delay durability.
constexpr std::int64_t idle_wait_max_ns = 1'000'000;
constexpr std::int64_t retry_interval_ns = 100'000'000;
constexpr std::int64_t stop_timeout_ns = 10'000'000'000;
constexpr std::size_t drain_per_appender = 256;
constexpr const char* registry_file = "topics";
constexpr const char* clean_marker = ".clean_shutdown";
constexpr const char* recovery_point_file = "recovery-point";
constexpr std::string_view delete_suffix = "-delete";

std::uint64_t align_down(std::uint64_t v, std::uint64_t a) { return v / a * a; }
std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }


bool parse_i64(std::string_view s, std::int64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::uint64_t user_data(std::uint32_t partition, std::uint64_t slot) {
    return (std::uint64_t{partition} << 8) | slot;
}

bool valid_topic_name(std::string_view n) {
    if (n.empty() || n.size() > 249 || n == "." || n == "..") return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// appender

appender::appender(appender&& o) noexcept : _impl(o._impl) { o._impl = nullptr; }
appender& appender::operator=(appender&& o) noexcept {
    if (this != &o) {
        if (_impl) _impl->closed.store(true, std::memory_order_release);
        _impl = o._impl;
        o._impl = nullptr;
    }
    return *this;
}
appender::~appender() {
    // The impl is owned by the store (shared) and stays valid for the writer.
    if (_impl) _impl->closed.store(true, std::memory_order_release);
}

errc appender::check_room(std::size_t batch_bytes, std::uint64_t token) noexcept {
    impl& a = *_impl;
    // Too large: try_append says so (and counts nothing as full).
    if (batch_bytes > a.max_batch_bytes || batch_bytes > a.ring.max_payload()) return errc::ok;
    return a.room_for(batch_bytes, token) ? errc::ok : errc::full;
}

errc appender::try_append(partition_index partition, bytes_view batch, std::uint64_t token) noexcept {
    impl& a = *_impl;
    if (batch.size() > a.max_batch_bytes || batch.size() > a.ring.max_payload()) return errc::too_large;
    auto h = decode_batch_header(batch);
    if (!h) return h.error();
    if (h->total_bytes() != batch.size()) return errc::bad_length;
    if (!a.room_for(batch.size(), token)) return errc::full;
    // The clock is read only for a batch that goes in (a refused one would waste the read).
    a.ring.push(partition.value(), token, batch, mono_ns());
    if (token != 0) ++a.tokens_issued;
    // Only this thread writes `appended`; relaxed is enough for a statistic, and in_flight()
    // tolerates a momentarily stale value.
    a.appended.store(++a.appended_local, std::memory_order_relaxed);
    return errc::ok;
}

std::size_t appender::poll_completions(std::span<append_completion> out) noexcept {
    impl& a = *_impl;
    // Pairs with the writer's release store of comp_tail in log_store::impl::complete().
    std::uint64_t tail = a.comp_tail.load(std::memory_order_acquire);
    std::uint64_t head = a.comp_head.load(std::memory_order_relaxed);
    std::size_t n = 0;
    while (head != tail && n < out.size()) {
        out[n++] = a.completions[head % a.completions.size()];
        ++head;
    }
    // Frees the slots; pairs with the writer's acquire load of comp_head.
    a.comp_head.store(head, std::memory_order_release);
    a.tokens_polled += n;
    return n;
}

std::uint64_t appender::in_flight() const noexcept {
    // durable pairs with the writer's release store in mark_durable().
    std::uint64_t d = _impl->durable.load(std::memory_order_acquire);
    std::uint64_t a = _impl->appended_local;
    return a > d ? a - d : 0;
}

// ---------------------------------------------------------------------------------------------
// open, registry, recovery

log_store::log_store(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}
log_store::~log_store() { stop(); }

const store_options& log_store::options() const noexcept { return _impl->opts; }

std::unique_ptr<log_store> log_store::open(const store_options& options, std::string* error) {
    auto m = std::make_unique<impl>();
    m->opts = options;
    m->st = options.backend;
    if (!m->st) {
        m->st = make_file_storage(error);
        if (!m->st) return nullptr;
    }
    m->align = m->st->alignment();
    m->parts.resize(options.max_partitions);
    m->appenders.resize(options.max_appenders);
    auto fail = [&](std::string msg) -> std::unique_ptr<log_store> {
        if (error) *error = std::move(msg);
        return nullptr;
    };
    const std::string& dir = options.data_dir;
    if (m->st->make_dirs(dir) != errc::ok) return fail(fmt::format("data_dir {}: cannot create", dir));
    m->clean_start = m->st->exists(dir + "/" + clean_marker);
    // Partition trees renamed by a deletion that had not finished when the process stopped.
    if (auto names = m->st->list(dir)) {
        for (auto& n : *names)
            if (n.size() > delete_suffix.size() && n.ends_with(delete_suffix))
                (void)m->st->remove_all(dir + "/" + n);
    }

    // Registry: one line per topic: name partitions retention_bytes retention_ms segment_bytes
    // segment_ms.
    std::vector<topic_spec> specs;
    if (auto text = m->st->read_all(dir + "/" + registry_file)) {
        std::istringstream in(*text);
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            ++lineno;
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ls(line);
            topic_spec s;
            if (!(ls >> s.name >> s.partitions >> s.retention_bytes >> s.retention_ms >>
                  s.segment_bytes >> s.segment_ms) ||
                !valid_topic_name(s.name) || s.partitions < 1) {
                return fail(fmt::format("{}/{}: line {} is malformed: '{}'", dir, registry_file,
                                        lineno, line));
            }
            specs.push_back(s);
        }
    }
    std::uint32_t count = 0;
    for (auto& s : specs) {
        if (count + static_cast<std::uint32_t>(s.partitions) > options.max_partitions)
            return fail("more partitions on disk than max_partitions");
        m->topic_list.push_back({s.name, s.partitions, partition_index{count}, s});
        for (std::int32_t i = 0; i < s.partitions; ++i) {
            auto p = std::make_unique<partition>();
            p->topic = s.name;
            p->number = i;
            p->spec = s;
            p->dir = fmt::format("{}/{}-{}", dir, s.name, i);
            m->parts[count++] = std::move(p);
        }
    }

    // Recover partitions in parallel on a TBB arena confined to the recovery threads.
    std::vector<std::string> errors(count);
    std::vector<errc> results(count, errc::ok);
    int threads = options.recovery_threads ? static_cast<int>(options.recovery_threads)
                                           : tbb::task_arena::automatic;
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_for(std::uint32_t{0}, count, [&](std::uint32_t i) {
            results[i] = m->open_partition(*m->parts[i], m->clean_start, &errors[i]);
        });
    });
    for (std::uint32_t i = 0; i < count; ++i) {
        if (results[i] != errc::ok) return fail(errors[i]);
        m->parts[i]->live.store(true, std::memory_order_release);
    }
    m->part_count.store(count, std::memory_order_release);
    if (m->clean_start) (void)m->st->remove(dir + "/" + clean_marker);
    return std::unique_ptr<log_store>(new log_store(std::move(m)));
}

errc log_store::impl::save_registry() {
    std::string text = "# sluice topic registry: name partitions retention_bytes retention_ms "
                       "segment_bytes segment_ms\n";
    for (auto& t : topic_list) {
        text += fmt::format("{} {} {} {} {} {}\n", t.name, t.partitions, t.spec.retention_bytes,
                            t.spec.retention_ms, t.spec.segment_bytes, t.spec.segment_ms);
    }
    return st->write_atomic(opts.data_dir + "/" + registry_file, as_bytes(text));
}

errc log_store::impl::open_partition(partition& p, bool clean, std::string* error) {
    if (st->make_dirs(p.dir) != errc::ok) {
        *error = fmt::format("{}: cannot create directory", p.dir);
        return errc::io_error;
    }
    auto names = st->list(p.dir);
    if (!names) {
        *error = fmt::format("{}: cannot list", p.dir);
        return names.error();
    }
    std::vector<std::int64_t> bases;
    for (auto& n : *names) {
        if (auto b = parse_segment_log_name(n)) {
            bases.push_back(*b);
        } else if (n.ends_with(".index") || n.ends_with(".timeindex")) {
            (void)st->remove(p.dir + "/" + n);  // rebuilt, never trusted
        }
    }
    std::sort(bases.begin(), bases.end());
    std::int64_t recovery_point = 0;
    if (auto rp = st->read_all(p.dir + "/" + recovery_point_file)) {
        std::string s = *rp;
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        if (!parse_i64(s, recovery_point)) recovery_point = 0;
    }
    bool torn = false;
    std::int64_t expected = -1;
    for (std::size_t i = 0; i < bases.size(); ++i) {
        std::string base_path = fmt::format("{}/{}", p.dir, segment_base_name(bases[i]));
        if (torn || (expected >= 0 && bases[i] != expected)) {
            // Everything after a torn or discontinuous segment goes (as Kafka's LogLoader does).
            spdlog::warn("recovery: {}: removing segment {} after torn data", p.dir, bases[i]);
            (void)st->remove(base_path + ".log");
            torn = true;
            continue;
        }
        auto fd = st->open(base_path + ".log", open_mode::read_only);
        if (!fd) {
            *error = fmt::format("{}.log: cannot open", base_path);
            return fd.error();
        }
        auto s = std::make_shared<segment>();
        s->st = st;
        s->path_base = base_path;
        s->base_offset = bases[i];
        s->read_fd = *fd;
        s->created_ms = wall_ms();
        scan_options so;
        so.expected_base = bases[i];
        so.verify_crc = !clean || bases[i] >= recovery_point;
        // A clean shutdown left exact sizes; still, never trust more than the CRC proves for the
        // last segment.
        if (i + 1 == bases.size()) so.verify_crc = true;
        segment* sp = s.get();
        auto r = scan_segment(*st, *fd, so, [&](const batch_header& h, std::uint64_t pos) {
            if (sp->index.empty() || pos - sp->last_index_pos >= detail::index_interval_bytes) {
                sp->index.push_back({static_cast<std::int32_t>(h.base_offset - sp->base_offset),
                                     static_cast<std::uint32_t>(pos)});
                sp->last_index_pos = pos;
            }
            if (h.max_timestamp > sp->max_timestamp) {
                sp->max_timestamp = h.max_timestamp;
                sp->time_index.push_back({h.max_timestamp,
                                          static_cast<std::int32_t>(h.base_offset - sp->base_offset),
                                          static_cast<std::uint32_t>(pos)});
            }
        });
        if (r.stop == errc::io_error) {
            *error = fmt::format("{}.log: read error during recovery", base_path);
            return errc::io_error;
        }
        s->size_bytes = r.valid_bytes;
        s->next_offset = r.batches ? r.next_offset : bases[i];
        if (r.valid_bytes < r.file_bytes) {
            if (r.stop != errc::ok) {
                spdlog::warn("recovery: {}.log: {} at byte {}, truncating {} bytes", base_path,
                             to_string(r.stop), r.valid_bytes, r.file_bytes - r.valid_bytes);
                torn = true;
            }
            // Truncate the torn or preallocated tail (a writable fd is needed).
            auto wfd = st->open(base_path + ".log", open_mode::buffered_rw);
            if (!wfd || st->truncate(*wfd, r.valid_bytes) != errc::ok || st->sync(*wfd) != errc::ok) {
                if (wfd) st->close(*wfd);
                *error = fmt::format("{}.log: cannot truncate to {}", base_path, r.valid_bytes);
                return errc::io_error;
            }
            st->close(*wfd);
        }
        expected = s->next_offset;
        p.segments.push_back(std::move(s));
    }
    if (p.segments.empty()) {
        errc e = create_segment(p, 0, error);
        if (e != errc::ok) return e;
    } else {
        errc e = activate_last_segment(p, error);
        if (e != errc::ok) return e;
    }
    p.log_start.store(p.segments.front()->base_offset, std::memory_order_relaxed);
    p.next_offset = p.segments.back()->next_offset;
    p.hwm.store(p.next_offset, std::memory_order_release);
    (void)st->write_atomic(p.dir + "/" + recovery_point_file,
                           as_bytes(fmt::format("{}\n", p.segments.back()->base_offset)));
    return errc::ok;
}

errc log_store::impl::activate_last_segment(partition& p, std::string* error) {
    auto& s = p.segments.back();
    auto wfd = st->open(s->log_path(), open_mode::direct_rw);
    if (!wfd) {
        *error = fmt::format("{}: cannot open for writing", s->log_path());
        return wfd.error();
    }
    p.active = s;
    p.wfd = *wfd;
    p.wbuf_cap = align_up(std::max<std::size_t>(opts.write_buffer_bytes,
                                                2 * opts.max_batch_bytes + 2 * align), align);
    if (!p.wbuf) {
        p.wbuf = static_cast<std::byte*>(std::aligned_alloc(align, p.wbuf_cap));
        SLUICE_ASSERT(p.wbuf != nullptr);
    }
    std::memset(p.wbuf, 0, p.wbuf_cap);
    p.seg_size = p.submitted_upto = p.written_upto = p.seg_synced = s->size_bytes;
    p.write_head = p.writes_n = 0;
    p.allocated = s->size_bytes;
    const std::uint64_t block = align_down(s->size_bytes, align);
    if (p.seg_size > block) {
        // Keep the partial last block: the next aligned write rewrites it.
        auto got = st->read(s->read_fd, block,
                            mutable_bytes(p.wbuf + block % p.wbuf_cap,
                                          static_cast<std::size_t>(p.seg_size - block)));
        if (!got || *got != p.seg_size - block) {
            *error = fmt::format("{}: cannot read tail block", s->log_path());
            return errc::io_error;
        }
    }
    return errc::ok;
}

errc log_store::impl::create_segment(partition& p, std::int64_t base, std::string* error) {
    auto s = std::make_shared<segment>();
    s->st = st;
    s->base_offset = base;
    s->next_offset = base;
    s->path_base = fmt::format("{}/{}", p.dir, segment_base_name(base));
    s->created_ms = wall_ms();
    auto wfd = st->open(s->log_path(), open_mode::direct_rw);
    if (!wfd) {
        if (error) *error = fmt::format("{}: cannot create", s->log_path());
        return wfd.error();
    }
    auto rfd = st->open(s->log_path(), open_mode::read_only);
    if (!rfd) {
        st->close(*wfd);
        if (error) *error = fmt::format("{}: cannot open", s->log_path());
        return rfd.error();
    }
    (void)st->truncate(*wfd, 0);
    s->read_fd = *rfd;
    st->close(*wfd);
    {
        std::lock_guard lk(p.mu);
        p.segments.push_back(s);
    }
    return activate_last_segment(p, error);
}

errc log_store::create_topic(const topic_spec& spec, std::string* error) {
    auto& m = *_impl;
    auto fail = [&](errc e, std::string msg) {
        if (error) *error = std::move(msg);
        return e;
    };
    if (!valid_topic_name(spec.name))
        return fail(errc::invalid_argument, fmt::format("invalid topic name '{}'", spec.name));
    if (spec.partitions < 1 || spec.partitions > 100000)
        return fail(errc::invalid_argument, "partitions must be in 1..100000");
    if (spec.segment_bytes < 4096)
        return fail(errc::invalid_argument, "segment_bytes must be at least 4096");
    std::unique_lock lk(m.registry_mu);
    for (auto& t : m.topic_list)
        if (t.name == spec.name) return fail(errc::invalid_argument, "topic already exists");
    std::uint32_t first = m.part_count.load(std::memory_order_relaxed);
    if (first + static_cast<std::uint32_t>(spec.partitions) > m.opts.max_partitions)
        return fail(errc::too_large, "max_partitions reached");
    for (std::int32_t i = 0; i < spec.partitions; ++i) {
        auto p = std::make_unique<partition>();
        p->topic = spec.name;
        p->number = i;
        p->spec = spec;
        p->dir = fmt::format("{}/{}-{}", m.opts.data_dir, spec.name, i);
        std::string err;
        // A directory left by an earlier deletion that did not finish is reused as found.
        errc e = m.open_partition(*p, false, &err);
        if (e != errc::ok) return fail(e, err);
        p->live.store(true, std::memory_order_relaxed);
        m.parts[first + static_cast<std::uint32_t>(i)] = std::move(p);
    }
    m.topic_list.push_back({spec.name, spec.partitions, partition_index{first}, spec});
    errc e = m.save_registry();
    if (e != errc::ok) {
        m.topic_list.pop_back();
        return fail(e, "cannot persist the topic registry");
    }
    // Publishes the new partitions to the writer and readers (pairs with their acquire loads).
    m.part_count.store(first + static_cast<std::uint32_t>(spec.partitions), std::memory_order_release);
    return errc::ok;
}

errc log_store::delete_topic(std::string_view name) {
    auto& m = *_impl;
    std::unique_lock lk(m.registry_mu);
    auto it = std::find_if(m.topic_list.begin(), m.topic_list.end(),
                           [&](auto& t) { return t.name == name; });
    if (it == m.topic_list.end()) return errc::not_found;
    topic_info t = *it;
    m.topic_list.erase(it);
    // Each partition directory is first renamed to `<topic>-<n>.<id>-delete` (as Kafka does), so
    // a topic created again under the same name starts empty even while the writer is still
    // letting go of the old files; the renamed trees are removed by the writer (or at the next
    // open). Renaming before the registry is saved: a crash in between brings the topic back
    // empty rather than leaving its old data under a name a new topic would pick up.
    const std::int64_t id = mono_ns();  // unique within this run; leftovers go at open
    for (std::int32_t i = 0; i < t.partitions; ++i) {
        auto& p = *m.parts[t.first.value() + static_cast<std::uint32_t>(i)];
        p.trash_dir = fmt::format("{}.{}{}", p.dir, id, delete_suffix);
        const errc r = m.st->rename(p.dir, p.trash_dir);
        if (r != errc::ok) {
            if (r != errc::not_found)
                spdlog::error("log: delete {}: cannot rename {}: {}", name, p.dir, to_string(r));
            p.trash_dir = p.dir;
        }
        // Publishes trash_dir with the flag; pairs with the writer's acquire load of deleted.
        p.deleted.store(true, std::memory_order_release);
    }
    errc e = m.save_registry();
    // Files are removed by the writer once it has let go of them (or here when it is stopped).
    if (!m.running.load(std::memory_order_acquire)) {
        for (std::int32_t i = 0; i < t.partitions; ++i) {
            auto& p = *m.parts[t.first.value() + static_cast<std::uint32_t>(i)];
            if (p.wfd >= 0) {
                m.st->close(p.wfd);
                p.wfd = -1;
            }
            (void)m.st->remove_all(p.trash_dir);
        }
    }
    return e;
}

std::optional<topic_info> log_store::find_topic(std::string_view name) const {
    std::shared_lock lk(_impl->registry_mu);
    for (auto& t : _impl->topic_list)
        if (t.name == name) return t;
    return std::nullopt;
}

std::vector<topic_info> log_store::topics() const {
    std::shared_lock lk(_impl->registry_mu);
    return _impl->topic_list;
}

std::optional<partition_index> log_store::find_partition(std::string_view topic,
                                                         std::int32_t partition) const {
    std::shared_lock lk(_impl->registry_mu);
    for (auto& t : _impl->topic_list)
        if (t.name == topic) {
            if (partition < 0 || partition >= t.partitions) return std::nullopt;
            return partition_index{t.first.value() + static_cast<std::uint32_t>(partition)};
        }
    return std::nullopt;
}

std::optional<appender> log_store::make_appender() {
    auto& m = *_impl;
    std::lock_guard lk(m.appenders_mu);
    std::uint32_t n = m.appender_count.load(std::memory_order_relaxed);
    if (n >= m.opts.max_appenders) return std::nullopt;
    std::size_t slots = 1;
    while (slots < m.opts.ring_bytes / batch_header_bytes) slots <<= 1;
    auto a = std::make_shared<appender::impl>(m.opts.ring_bytes, slots);
    a->id = n;
    a->max_batch_bytes = m.opts.max_batch_bytes;
    m.appenders[n] = a;
    // Publishes the ring to the writer (pairs with the acquire load in drain_rings()).
    m.appender_count.store(n + 1, std::memory_order_release);
    return appender(a.get());
}

// ---------------------------------------------------------------------------------------------
// writer thread

void log_store::start() {
    auto& m = *_impl;
    if (m.running.exchange(true)) return;
    m.stop_requested.store(false);
    m.writer = std::thread([&m] {
        pthread_setname_np(pthread_self(), "sluice-writer");
        if (m.opts.writer_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(m.opts.writer_cpu, &set);
            if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
                spdlog::warn("log: cannot pin the writer to cpu {}", m.opts.writer_cpu);
            // Its io_uring workers (punted fdatasync/fallocate) too, else the kernel runs them
            // on any cpu, pipeline cores included (file_storage logs a refusal at debug).
            (void)m.st->pin_io_workers(m.opts.writer_cpu);
        }
        m.writer_main();
    });
}

void log_store::stop() {
    auto& m = *_impl;
    if (!m.running.load()) return;
    m.stop_requested.store(true, std::memory_order_release);
    if (m.writer.joinable()) m.writer.join();
    m.running.store(false, std::memory_order_release);
    // Clean shutdown: exact sizes, indexes, recovery points, then the marker.
    bool all_clean = true;
    std::uint32_t n = m.part_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < n; ++i) {
        auto& p = *m.parts[i];
        if (p.deleted.load()) {
            if (p.wfd >= 0) m.st->close(p.wfd), p.wfd = -1;
            (void)m.st->remove_all(p.trash_dir);
            continue;
        }
        m.finalize_partition(p);
        if (p.state.load() != 0 || p.seg_synced != p.seg_size) all_clean = false;
    }
    if (all_clean) (void)m.st->write_atomic(m.opts.data_dir + "/" + clean_marker, as_bytes("clean\n"));
}

void log_store::impl::finalize_partition(partition& p) {
    if (p.wfd < 0) return;
    (void)st->truncate(p.wfd, p.seg_size);
    (void)st->sync(p.wfd);
    st->close(p.wfd);
    p.wfd = -1;
    p.allocated = p.seg_size;
    std::lock_guard lk(p.mu);
    for (auto& s : p.segments) write_indexes(*s);
}

void log_store::impl::write_indexes(const segment& s) {
    std::string idx, tidx;
    idx.resize(s.index.size() * 8);
    for (std::size_t i = 0; i < s.index.size(); ++i) {
        store_be<std::int32_t>(reinterpret_cast<std::byte*>(idx.data()) + i * 8, s.index[i].rel_offset);
        store_be<std::uint32_t>(reinterpret_cast<std::byte*>(idx.data()) + i * 8 + 4, s.index[i].position);
    }
    tidx.resize(s.time_index.size() * 12);
    for (std::size_t i = 0; i < s.time_index.size(); ++i) {
        store_be<std::int64_t>(reinterpret_cast<std::byte*>(tidx.data()) + i * 12, s.time_index[i].timestamp);
        store_be<std::int32_t>(reinterpret_cast<std::byte*>(tidx.data()) + i * 12 + 8,
                               s.time_index[i].rel_offset);
    }
    (void)st->write_atomic(s.path_base + ".index", as_bytes(idx));
    (void)st->write_atomic(s.path_base + ".timeindex", as_bytes(tidx));
}

void log_store::impl::writer_main() {
    std::array<io_completion, 64> cqes;
    std::int64_t last_retention_ms = wall_ms();
    std::int64_t stop_seen_ns = 0;
    for (;;) {
        const bool stopping = stop_requested.load(std::memory_order_acquire);
        std::int64_t now = mono_ns();
        if (stopping && stop_seen_ns == 0) stop_seen_ns = now;
        std::size_t moved = drain_rings(now);
        bool submitted = false;
        std::uint32_t n = part_count.load(std::memory_order_acquire);
        // Group commit across partitions: once any partition's oldest unsynced batch is due,
        // every partition with unsynced data flushes in the same round. Their writes and
        // fdatasyncs go out in one submission and complete together, so the writer wakes once
        // per interval instead of once per partition (and younger data only gets more durable).
        bool any_due = false;
        for (std::uint32_t i = 0; i < n && !any_due; ++i) any_due = flush_deadline_passed(*parts[i], now);
        for (std::uint32_t i = 0; i < n; ++i) {
            auto& p = *parts[i];
            if (!p.live.load(std::memory_order_relaxed)) continue;
            if (p.deleted.load(std::memory_order_acquire)) {
                if (p.wfd >= 0 && p.writes_n == 0 && !p.fsync_in_flight) {
                    st->close(p.wfd);
                    p.wfd = -1;
                    (void)st->remove_all(p.trash_dir);
                }
                continue;
            }
            submitted |= service(p, i, now, stopping, any_due);
        }
        std::int64_t wait = (moved > 0 || submitted) ? 0 : idle_wait(now, stopping);
        std::size_t got = st->reap(cqes, wait);
        bool advanced = false;
        now = mono_ns();
        for (std::size_t i = 0; i < got; ++i) on_completion(cqes[i], now, advanced);
        if (advanced) notify_listeners();

        std::int64_t ms = wall_ms();
        if (ms - last_retention_ms >= 1000) {
            retention(ms);
            last_retention_ms = ms;
        }
        if (stopping) {
            if (all_drained() && st->pending() == 0) break;
            if (now - stop_seen_ns > stop_timeout_ns) {
                spdlog::error("log: stop: could not drain everything within {} s (storage errors?)",
                              stop_timeout_ns / 1'000'000'000);
                while (st->pending() > 0) (void)st->reap(cqes, 1'000'000);
                break;
            }
        }
    }
}

// Group commit aims at durability flush_interval after the oldest unsynced push: the round
// starts early by the recent fdatasync time (an EWMA, at most half the interval), so the interval
// is the delay data waits, not the delay before its fdatasync even begins. The store still syncs
// at least once per interval ("at least this often"), only earlier.
std::int64_t log_store::impl::flush_lead_ns() const noexcept {
    return std::clamp<std::int64_t>(fsync_ewma_ns, 0, opts.flush_interval_us * 1000 / 2);
}

std::int64_t log_store::impl::flush_deadline_ns(const partition& p) const noexcept {
    return p.first_unsynced_ns + opts.flush_interval_us * 1000 - flush_lead_ns();
}

bool log_store::impl::flush_deadline_passed(const partition& p, std::int64_t now_ns) const noexcept {
    return p.first_unsynced_ns != 0 && p.wfd >= 0 && now_ns >= flush_deadline_ns(p);
}

std::int64_t log_store::impl::idle_wait(std::int64_t now_ns, bool stopping) const noexcept {
    if (stopping) return 100'000;
    std::int64_t wait = idle_wait_max_ns;
    const std::uint32_t n = part_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto& p = *parts[i];
        if (p.first_unsynced_ns == 0 || p.wfd < 0) continue;
        // A partition with a write or an fdatasync in flight is woken by its completion, and a
        // failed one never flushes: neither may shorten the sleep (on a slow disk that made the
        // writer spin through every fdatasync).
        if (p.fsync_in_flight || p.writes_n > 0) continue;
        const auto state = static_cast<errc>(p.state.load(std::memory_order_relaxed));
        if (state == errc::io_error) continue;
        const std::int64_t at = state == errc::no_space ? p.retry_at_ns : flush_deadline_ns(p);
        wait = std::min(wait, std::max<std::int64_t>(at - now_ns, 50'000));
    }
    return wait;
}

bool log_store::impl::all_drained() {
    std::uint32_t na = appender_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < na; ++i)
        if (!appenders[i]->ring.empty_for_consumer()) return false;
    std::uint32_t n = part_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < n; ++i) {
        auto& p = *parts[i];
        if (!p.live.load() || p.deleted.load()) continue;
        // A failed partition cannot drain; what it holds was never acknowledged.
        if (static_cast<errc>(p.state.load()) == errc::io_error) continue;
        if (p.seg_synced != p.seg_size || p.writes_n > 0 || p.fsync_in_flight) return false;
    }
    return true;
}

std::size_t log_store::impl::drain_rings(std::int64_t now_ns) {
    std::size_t moved = 0;
    std::uint32_t na = appender_count.load(std::memory_order_acquire);
    std::uint32_t np = part_count.load(std::memory_order_acquire);
    for (std::uint32_t ai = 0; ai < na; ++ai) {
        auto& a = *appenders[ai];
        for (std::size_t k = 0; k < drain_per_appender; ++k) {
            detail::spsc_byte_ring::entry e;
            if (!a.ring.peek(e)) break;
            if (e.partition >= np || !parts[e.partition]->live.load(std::memory_order_relaxed) ||
                parts[e.partition]->deleted.load(std::memory_order_acquire)) {
                rejected.fetch_add(1, std::memory_order_relaxed);
                complete(ai, e.token, -1, errc::not_found);
                mark_durable(ai);
                a.ring.pop();
                ++moved;
                continue;
            }
            auto& p = *parts[e.partition];
            bool stall = false;
            if (!append_one(p, e, ai, now_ns, stall)) {
                if (stall) break;  // backpressure: this ring waits for its partition
                rejected.fetch_add(1, std::memory_order_relaxed);
                mark_durable(ai);
            }
            a.ring.pop();
            ++moved;
        }
    }
    return moved;
}

bool log_store::impl::append_one(partition& p, const detail::spsc_byte_ring::entry& e,
                                 std::uint32_t appender_id, std::int64_t now_ns, bool& stall) {
    errc st_err = static_cast<errc>(p.state.load(std::memory_order_relaxed));
    if (st_err == errc::io_error) {
        complete(appender_id, e.token, -1, errc::io_error);
        return false;
    }
    if (st_err == errc::no_space || p.rolling) {
        stall = true;
        return false;
    }
    auto h = decode_batch_header(e.payload);
    if (!h || h->total_bytes() != e.payload.size()) {
        complete(appender_id, e.token, -1, h ? errc::bad_length : h.error());
        return false;
    }
    const std::size_t n = e.payload.size();
    auto& seg = *p.active;
    const std::int64_t age_ms = wall_ms() - seg.created_ms;
    if (p.seg_size > 0 && (p.seg_size + n > static_cast<std::uint64_t>(p.spec.segment_bytes) ||
                           (p.spec.segment_ms >= 0 && age_ms >= p.spec.segment_ms))) {
        p.rolling = true;
        stall = true;
        return false;
    }
    // Room in the circular buffer: keep everything from the block holding the first unwritten
    // byte, plus one block of slack for the padding of a partial write.
    const std::uint64_t in_use = p.seg_size - align_down(p.written_upto, align);
    if (in_use + n + align > p.wbuf_cap) {
        stall = true;  // the unwritten data must go to disk first
        return false;
    }
    // Stamp in the ring (the writer owns the entry until pop()), then copy, wrapping if needed.
    std::byte* entry = const_cast<std::byte*>(e.payload.data());
    stamp_batch(mutable_bytes(entry, n), p.next_offset, opts.leader_epoch);
    const std::size_t at = static_cast<std::size_t>(p.seg_size % p.wbuf_cap);
    const std::size_t first = std::min<std::size_t>(n, p.wbuf_cap - at);
    std::memcpy(p.wbuf + at, entry, first);
    if (first < n) std::memcpy(p.wbuf, entry + first, n - first);
    const std::int64_t base = p.next_offset;
    const std::uint64_t pos = p.seg_size;
    {
        std::lock_guard lk(p.mu);
        if (seg.index.empty() || pos - seg.last_index_pos >= detail::index_interval_bytes) {
            seg.index.push_back({static_cast<std::int32_t>(base - seg.base_offset),
                                 static_cast<std::uint32_t>(pos)});
            seg.last_index_pos = pos;
        }
        if (h->max_timestamp > seg.max_timestamp) {
            seg.max_timestamp = h->max_timestamp;
            seg.time_index.push_back({h->max_timestamp,
                                      static_cast<std::int32_t>(base - seg.base_offset),
                                      static_cast<std::uint32_t>(pos)});
        }
        seg.size_bytes = pos + n;
        seg.next_offset = base + h->last_offset_delta + 1;
    }
    p.seg_size = pos + n;
    p.next_offset = base + h->last_offset_delta + 1;
    // The flush deadline runs from the producer's push, not from when the writer got to it.
    const std::int64_t pushed_ns = std::min(e.enqueued_ns, now_ns);
    p.pending.push_back({p.seg_size, pushed_ns, base, p.next_offset, appender_id, e.token});
    if (p.first_unsynced_ns == 0) p.first_unsynced_ns = pushed_ns;
    p.batches_appended.fetch_add(1, std::memory_order_relaxed);
    p.records_appended.fetch_add(static_cast<std::uint64_t>(h->records_count),
                                 std::memory_order_relaxed);
    return true;
}

bool log_store::impl::submit_range(partition& p, std::uint32_t index, std::uint64_t start,
                                   std::uint64_t end) {
    // One contiguous piece of the circular buffer per write slot.
    bool any = false;
    while (start < end && p.writes_n < partition::max_writes) {
        const std::size_t at = static_cast<std::size_t>(start % p.wbuf_cap);
        const std::uint64_t piece_end = std::min<std::uint64_t>(end, start + (p.wbuf_cap - at));
        const std::size_t slot = (p.write_head + p.writes_n) % partition::max_writes;
        errc e = st->submit_write(p.wfd, start,
                                  bytes_view(p.wbuf + at, static_cast<std::size_t>(piece_end - start)),
                                  user_data(index, slot), false);
        if (e != errc::ok) break;  // submission queue full: next round
        p.writes[slot] = {start, piece_end, std::min<std::uint64_t>(piece_end, p.seg_size), false, false};
        ++p.writes_n;
        p.submitted_upto = std::min<std::uint64_t>(piece_end, p.seg_size);
        start = piece_end;
        any = true;
    }
    return any;
}

bool log_store::impl::service(partition& p, std::uint32_t index, std::int64_t now_ns, bool stopping,
                              bool any_due) {
    errc state = static_cast<errc>(p.state.load(std::memory_order_relaxed));
    if (state == errc::io_error || p.wfd < 0) return false;
    if (state == errc::no_space) {
        if (now_ns < p.retry_at_ns) return false;
        p.state.store(0, std::memory_order_relaxed);  // try again
        spdlog::info("log: {}: retrying after no space", p.dir);
    }
    if (p.rolling && p.writes_n == 0 && !p.fsync_in_flight && p.seg_synced == p.seg_size) {
        return finish_roll(p);
    }
    bool submitted = false;
    const std::uint64_t unsynced = p.seg_size - p.seg_synced;
    const bool flush_due =
        unsynced > 0 && (stopping || p.rolling || any_due ||
                         flush_deadline_passed(p, now_ns) ||
                         unsynced >= static_cast<std::uint64_t>(opts.flush_bytes));
    const std::uint64_t chunk = std::min<std::uint64_t>(
        align_down(p.wbuf_cap / 4, align),
        std::max<std::uint64_t>(align, align_down(static_cast<std::uint64_t>(opts.flush_bytes), align)));

    // Writes: whole blocks eagerly in chunks; the partial last block only when a flush is due.
    // A new write may not start inside a block that an in-flight write still covers.
    const std::uint64_t start = align_down(p.submitted_upto, align);
    const bool overlaps = p.write_error || (p.writes_n > 0 &&
        p.writes[(p.write_head + p.writes_n - 1) % partition::max_writes].end > start);
    std::uint64_t end = 0;
    if (!overlaps && p.seg_size > p.submitted_upto) {
        const std::uint64_t full_end = align_down(p.seg_size, align);
        if (full_end >= start + chunk) end = start + (full_end - start) / chunk * chunk;
        // The partial last block goes out only when its fdatasync can follow: while one is in
        // flight it would gain nothing, and the next write must then wait for it to complete
        // before rewriting that block (on a slow disk this serialised every partition's writes).
        if (flush_due && !p.fsync_in_flight) end = align_up(p.seg_size, align);
    }
    if (end > start) {
        if (end > p.allocated) {
            std::uint64_t want = std::max<std::uint64_t>(
                end, std::min<std::uint64_t>(p.allocated + detail::allocate_step_bytes,
                                             align_up(static_cast<std::uint64_t>(p.spec.segment_bytes), align)));
            errc e = st->allocate(p.wfd, p.allocated, want - p.allocated);
            if (e == errc::no_space) {
                want = end;  // exactly what this write needs, before giving up
                e = st->allocate(p.wfd, p.allocated, want - p.allocated);
            }
            if (e != errc::ok) {
                fail_partition(p, e);
                p.retry_at_ns = now_ns + retry_interval_ns;
                return false;
            }
            p.allocated = want;
        }
        if (end > p.seg_size) {
            // Zero the padding after the logical end (free space in the circular buffer) so the
            // file never holds stale bytes there.
            for (std::uint64_t f = p.seg_size; f < end;) {
                const std::size_t at = static_cast<std::size_t>(f % p.wbuf_cap);
                const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(end - f, p.wbuf_cap - at));
                std::memset(p.wbuf + at, 0, len);
                f += len;
            }
        }
        submitted |= submit_range(p, index, start, end);
    }
    // fdatasync covers the writes that completed before it is submitted.
    if (flush_due && !p.fsync_in_flight && p.written_upto > p.seg_synced) {
        if (st->submit_fsync(p.wfd, user_data(index, fsync_slot)) == errc::ok) {
            p.fsync_in_flight = true;
            p.fsync_target = p.written_upto;
            p.fsync_started_ns = now_ns;
            submitted = true;
        }
    }
    return submitted;
}

void log_store::impl::on_completion(const io_completion& c, std::int64_t now_ns, bool& advanced) {
    const std::uint32_t index = static_cast<std::uint32_t>(c.user >> 8);
    const std::uint64_t slot = c.user & 0xff;
    SLUICE_ASSERT(index < parts.size() && parts[index]);
    auto& p = *parts[index];
    if (slot != fsync_slot) {
        SLUICE_ASSERT(slot < partition::max_writes && p.writes_n > 0);
        auto& w = p.writes[slot];
        bool failed = false;
        if (c.res < 0) {
            spdlog::error("log: {}: write failed: {}", p.dir, std::strerror(-c.res));
            fail_partition(p, errno_to_errc(c.res));
            p.retry_at_ns = now_ns + retry_interval_ns;
            failed = true;
        } else {
            bytes_written.fetch_add(static_cast<std::uint64_t>(c.res), std::memory_order_relaxed);
            const std::uint64_t reached = w.start + static_cast<std::uint64_t>(c.res);
            if (reached < w.end) {
                // Short write: resubmit the rest from the block it stopped in, same slot.
                const std::uint64_t from = align_down(reached, align);
                const std::size_t at = static_cast<std::size_t>(from % p.wbuf_cap);
                w.start = from;
                if (st->submit_write(p.wfd, from,
                                     bytes_view(p.wbuf + at, static_cast<std::size_t>(w.end - from)),
                                     c.user, false) == errc::ok) {
                    return;
                }
                failed = true;
            }
        }
        w.done = true;
        w.failed = failed;
        if (failed) p.write_error = true;
        while (p.writes_n > 0 && p.writes[p.write_head].done && !p.writes[p.write_head].failed) {
            p.written_upto = std::max(p.written_upto, p.writes[p.write_head].logical_end);
            p.write_head = (p.write_head + 1) % partition::max_writes;
            --p.writes_n;
        }
        if (p.write_error) {
            // Once every write in flight has completed, forget the failed one and those after
            // it: they are redone from written_upto.
            bool all_done = true;
            for (std::size_t k = 0; k < p.writes_n; ++k)
                all_done &= p.writes[(p.write_head + k) % partition::max_writes].done;
            if (all_done) {
                p.writes_n = 0;
                p.submitted_upto = p.written_upto;
                p.write_error = false;
            }
        }
        return;
    }
    p.fsync_in_flight = false;
    if (c.res < 0) {
        // Fsyncgate: after a failed fdatasync the page cache may have dropped the data; nothing
        // written since the last good sync can be trusted, so the partition stops taking writes.
        spdlog::error("log: {}: fdatasync failed: {}", p.dir, std::strerror(-c.res));
        fail_partition(p, errno_to_errc(c.res) == errc::no_space ? errc::no_space : errc::io_error);
        p.retry_at_ns = now_ns + retry_interval_ns;
        return;
    }
    flushes.fetch_add(1, std::memory_order_relaxed);
    std::int64_t lat = now_ns - p.fsync_started_ns;
    int b = 0;
    while (b + 1 < fsync_buckets && (std::int64_t{1} << (b + 1)) <= lat) ++b;
    fsync_hist[b].fetch_add(1, std::memory_order_relaxed);
    fsync_ns_sum.fetch_add(static_cast<std::uint64_t>(lat), std::memory_order_relaxed);
    fsync_ewma_ns += (lat - fsync_ewma_ns) / 8;
    p.seg_synced = std::max(p.seg_synced, p.fsync_target);
    const std::size_t before = p.pending.size();
    publish(p, now_ns);
    if (p.pending.size() != before) advanced = true;
}

void log_store::impl::publish(partition& p, std::int64_t) {
    std::int64_t hwm = -1;
    while (!p.pending.empty() && p.pending.front().end_pos <= p.seg_synced) {
        auto& b = p.pending.front();
        hwm = b.next_offset;
        complete(b.appender, b.token, b.base_offset, errc::ok);
        mark_durable(b.appender);
        p.pending.pop_front();
    }
    if (hwm >= 0) {
        // Makes the batches visible; pairs with acquire loads in high_watermark() and read().
        p.hwm.store(hwm, std::memory_order_release);
    }
    p.first_unsynced_ns = p.pending.empty() ? 0 : p.pending.front().appended_ns;
}

void log_store::impl::fail_partition(partition& p, errc e) {
    if (e == errc::no_space) {
        no_space_errors.fetch_add(1, std::memory_order_relaxed);
        if (p.state.load() != static_cast<std::uint8_t>(errc::no_space))
            spdlog::error("log: {}: disk full; appends wait and are retried", p.dir);
        p.state.store(static_cast<std::uint8_t>(errc::no_space), std::memory_order_relaxed);
        return;
    }
    io_errors.fetch_add(1, std::memory_order_relaxed);
    p.state.store(static_cast<std::uint8_t>(errc::io_error), std::memory_order_relaxed);
    spdlog::error("log: {}: I/O error; partition is read-only until restart", p.dir);
    // Nothing that was not durable can be acknowledged any more.
    while (!p.pending.empty()) {
        auto& b = p.pending.front();
        complete(b.appender, b.token, -1, errc::io_error);
        mark_durable(b.appender);
        p.pending.pop_front();
    }
}

void log_store::impl::complete(std::uint32_t ai, std::uint64_t token, std::int64_t base, errc e) {
    if (token == 0) return;
    auto& a = *appenders[ai];
    std::uint64_t tail = a.comp_tail_local;
    // The producer bounds outstanding tokens to the ring size, so there is always a slot.
    SLUICE_ASSERT(tail - a.comp_head.load(std::memory_order_acquire) < a.completions.size());
    a.completions[tail % a.completions.size()] = {token, base, e};
    a.comp_tail_local = tail + 1;
    // Publishes the completion; pairs with the acquire load in poll_completions().
    a.comp_tail.store(tail + 1, std::memory_order_release);
}

void log_store::impl::mark_durable(std::uint32_t ai) {
    auto& a = *appenders[ai];
    // Single writer thread: load + store, no RMW needed. Pairs with in_flight()'s acquire.
    a.durable.store(a.durable.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

bool log_store::impl::finish_roll(partition& p) {
    auto old = p.active;
    if (st->truncate(p.wfd, p.seg_size) != errc::ok || st->sync(p.wfd) != errc::ok) {
        fail_partition(p, errc::io_error);
        return false;
    }
    st->close(p.wfd);
    p.wfd = -1;
    {
        std::lock_guard lk(p.mu);
        write_indexes(*old);
    }
    std::string err;
    if (create_segment(p, p.next_offset, &err) != errc::ok) {
        spdlog::error("log: {}: roll failed: {}", p.dir, err);
        fail_partition(p, errc::no_space);
        p.retry_at_ns = mono_ns() + retry_interval_ns;
        p.rolling = true;
        return false;
    }
    (void)st->write_atomic(p.dir + "/" + recovery_point_file,
                           as_bytes(fmt::format("{}\n", p.next_offset)));
    p.rolling = false;
    p.first_unsynced_ns = 0;
    return true;
}

void log_store::impl::retention(std::int64_t now_ms) {
    std::uint32_t n = part_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < n; ++i) {
        auto& p = *parts[i];
        if (!p.live.load() || p.deleted.load()) continue;
        std::vector<std::shared_ptr<segment>> doomed;
        {
            std::lock_guard lk(p.mu);
            std::int64_t total = 0;
            for (auto& s : p.segments) total += static_cast<std::int64_t>(s->size_bytes);
            while (p.segments.size() > 1) {
                auto& s = p.segments.front();
                bool by_time = p.spec.retention_ms >= 0 && s->max_timestamp >= 0 &&
                               s->max_timestamp < now_ms - p.spec.retention_ms;
                bool by_size = p.spec.retention_bytes >= 0 &&
                               total - static_cast<std::int64_t>(s->size_bytes) >= p.spec.retention_bytes;
                if (!by_time && !by_size) break;
                total -= static_cast<std::int64_t>(s->size_bytes);
                doomed.push_back(s);
                p.segments.erase(p.segments.begin());
            }
            if (!doomed.empty())
                p.log_start.store(p.segments.front()->base_offset, std::memory_order_release);
        }
        for (auto& s : doomed) {
            (void)st->remove(s->log_path());
            (void)st->remove(s->path_base + ".index");
            (void)st->remove(s->path_base + ".timeindex");
        }
    }
}

void log_store::enforce_retention() { _impl->retention(wall_ms()); }

void log_store::impl::notify_listeners() {
    std::lock_guard lk(listeners_mu);
    for (auto& [id, fn] : listeners) fn();
}

int log_store::add_watermark_listener(std::function<void()> fn) {
    std::lock_guard lk(_impl->listeners_mu);
    int id = _impl->next_listener++;
    _impl->listeners.emplace_back(id, std::move(fn));
    return id;
}

void log_store::remove_listener(int id) {
    std::lock_guard lk(_impl->listeners_mu);
    std::erase_if(_impl->listeners, [&](auto& l) { return l.first == id; });
}

// ---------------------------------------------------------------------------------------------
// readers

std::int64_t log_store::high_watermark(partition_index p) const noexcept {
    if (p.value() >= _impl->part_count.load(std::memory_order_acquire)) return -1;
    return _impl->parts[p.value()]->hwm.load(std::memory_order_acquire);
}

std::int64_t log_store::log_start_offset(partition_index p) const noexcept {
    if (p.value() >= _impl->part_count.load(std::memory_order_acquire)) return -1;
    return _impl->parts[p.value()]->log_start.load(std::memory_order_acquire);
}

result<std::size_t> log_store::read(partition_index pi, std::int64_t from, mutable_bytes out,
                                    std::size_t* needed) const {
    auto& m = *_impl;
    if (pi.value() >= m.part_count.load(std::memory_order_acquire)) return errc::not_found;
    auto& p = *m.parts[pi.value()];
    if (p.deleted.load(std::memory_order_acquire)) return errc::not_found;
    const std::int64_t hwm = p.hwm.load(std::memory_order_acquire);
    if (from < p.log_start.load(std::memory_order_acquire) || from > hwm) return errc::out_of_range;
    if (from == hwm) return std::size_t{0};

    std::shared_ptr<segment> seg;
    std::uint64_t pos = 0, seg_size = 0;
    {
        std::lock_guard lk(p.mu);
        auto it = std::upper_bound(p.segments.begin(), p.segments.end(), from,
                                   [](std::int64_t o, const auto& s) { return o < s->base_offset; });
        if (it == p.segments.begin()) return errc::out_of_range;
        --it;
        // `from` may equal the end of a segment whose successor starts there.
        while ((*it)->next_offset <= from && std::next(it) != p.segments.end()) ++it;
        seg = *it;
        seg_size = seg->size_bytes;
        auto& idx = seg->index;
        auto ie = std::upper_bound(idx.begin(), idx.end(), from - seg->base_offset,
                                   [](std::int64_t rel, const auto& e) { return rel < e.rel_offset; });
        if (ie != idx.begin()) pos = std::prev(ie)->position;
    }
    // Find the batch that contains `from`.
    std::byte hdr[batch_header_bytes];
    for (;;) {
        if (pos + batch_header_bytes > seg_size) return errc::out_of_range;
        auto got = m.st->read(seg->read_fd, pos, mutable_bytes(hdr, sizeof hdr));
        if (!got || *got != sizeof hdr) return errc::io_error;
        auto h = decode_batch_header(bytes_view(hdr, sizeof hdr));
        if (!h) return errc::io_error;
        if (h->next_offset() > from) break;
        pos += h->total_bytes();
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), seg_size - pos));
    auto got = m.st->read(seg->read_fd, pos, out.first(want));
    if (!got) return got.error();
    // Keep whole batches below the high watermark.
    std::size_t at = 0;
    while (at + batch_header_bytes <= *got) {
        auto h = decode_batch_header(bytes_view(out.data() + at, *got - at));
        if (!h || h->base_offset >= hwm) break;
        if (at + h->total_bytes() > *got) {
            if (at == 0) {
                if (needed) *needed = h->total_bytes();
                return errc::too_large;
            }
            break;
        }
        at += h->total_bytes();
    }
    if (at == 0 && *got < batch_header_bytes && *got < out.size()) return errc::io_error;
    if (at == 0 && out.size() < batch_header_bytes) {
        if (needed) *needed = batch_header_bytes;
        return errc::too_large;
    }
    return at;
}

std::int64_t log_store::offset_for_timestamp(partition_index pi, std::int64_t ts_ms) const {
    auto& m = *_impl;
    if (pi.value() >= m.part_count.load(std::memory_order_acquire)) return -1;
    auto& p = *m.parts[pi.value()];
    const std::int64_t hwm = p.hwm.load(std::memory_order_acquire);
    std::shared_ptr<segment> seg;
    std::uint64_t pos = 0, seg_size = 0;
    {
        std::lock_guard lk(p.mu);
        for (auto& s : p.segments) {
            if (s->max_timestamp >= ts_ms) {
                seg = s;
                break;
            }
        }
        if (!seg) return hwm;
        seg_size = seg->size_bytes;
        for (auto& e : seg->time_index) {
            if (e.timestamp >= ts_ms) break;
            pos = e.position;
        }
    }
    std::vector<std::byte> buf(batch_header_bytes);
    while (pos + batch_header_bytes <= seg_size) {
        auto got = m.st->read(seg->read_fd, pos, mutable_bytes(buf.data(), batch_header_bytes));
        if (!got || *got != batch_header_bytes) return hwm;
        auto h = decode_batch_header(bytes_view(buf.data(), batch_header_bytes));
        if (!h || h->base_offset >= hwm) return hwm;
        if (h->max_timestamp >= ts_ms) {
            if (h->codec() != compression::none) return h->base_offset;
            // Uncompressed: the first record at or after ts_ms.
            buf.resize(h->total_bytes());
            auto g = m.st->read(seg->read_fd, pos, mutable_bytes(buf.data(), buf.size()));
            if (!g || *g != buf.size()) return h->base_offset;
            record_iterator it(bytes_view(buf.data(), buf.size()));
            record_view r;
            while (it.next(r) == errc::ok)
                if (r.timestamp >= ts_ms) return r.offset;
            return h->base_offset;
        }
        pos += h->total_bytes();
    }
    return hwm;
}

partition_stats log_store::stats(partition_index pi) const {
    auto& m = *_impl;
    partition_stats s;
    if (pi.value() >= m.part_count.load(std::memory_order_acquire)) return s;
    auto& p = *m.parts[pi.value()];
    s.high_watermark = p.hwm.load(std::memory_order_acquire);
    s.log_start_offset = p.log_start.load(std::memory_order_acquire);
    s.batches_appended = p.batches_appended.load(std::memory_order_relaxed);
    s.records_appended = p.records_appended.load(std::memory_order_relaxed);
    s.state = static_cast<errc>(p.state.load(std::memory_order_relaxed));
    std::lock_guard lk(p.mu);
    s.segments = static_cast<std::int64_t>(p.segments.size());
    for (auto& seg : p.segments) s.bytes_on_disk += static_cast<std::int64_t>(seg->size_bytes);
    s.next_offset = p.segments.empty() ? 0 : p.segments.back()->next_offset;
    return s;
}

store_stats log_store::stats() const {
    auto& m = *_impl;
    store_stats s;
    s.flushes = m.flushes.load(std::memory_order_relaxed);
    s.bytes_written = m.bytes_written.load(std::memory_order_relaxed);
    s.appends_rejected = m.rejected.load(std::memory_order_relaxed);
    s.io_errors = m.io_errors.load(std::memory_order_relaxed);
    s.no_space_errors = m.no_space_errors.load(std::memory_order_relaxed);
    std::uint32_t na = m.appender_count.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < na; ++i) s.appends_full += m.appenders[i]->full.load(std::memory_order_relaxed);
    std::uint64_t hist[impl::fsync_buckets], total = 0;
    for (int b = 0; b < impl::fsync_buckets; ++b) total += hist[b] = m.fsync_hist[b].load(std::memory_order_relaxed);
    auto pct = [&](double q) -> std::int64_t {
        if (total == 0) return 0;
        std::uint64_t want = static_cast<std::uint64_t>(q * static_cast<double>(total));
        std::uint64_t acc = 0;
        for (int b = 0; b < impl::fsync_buckets; ++b) {
            acc += hist[b];
            if (acc > want) return std::int64_t{1} << (b + 1);
        }
        return std::int64_t{1} << impl::fsync_buckets;
    };
    s.fsync_ns_p50 = pct(0.5);
    s.fsync_ns_p99 = pct(0.99);
    static_assert(store_stats::fsync_hist_buckets == impl::fsync_buckets);
    for (int b = 0; b < impl::fsync_buckets; ++b) s.fsync_ns_hist[static_cast<std::size_t>(b)] = hist[b];
    s.fsync_ns_sum = m.fsync_ns_sum.load(std::memory_order_relaxed);
    return s;
}

}  // namespace sluice::log
