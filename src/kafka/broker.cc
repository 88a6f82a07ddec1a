// Kafka request handlers; see include/sluice/kafka/broker.h and src/kafka/README.md.

#include <sluice/kafka/broker.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>

#include <sluice/base/clock.h>
#include <sluice/kafka/offset_store.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

#include "group_coordinator.h"

namespace sluice::kafka {

namespace {

constexpr std::int32_t no_authorized_ops = std::numeric_limits<std::int32_t>::min();
constexpr std::size_t completions_per_poll = 256;
constexpr std::int64_t produce_timeout_floor_ms = 1000;
constexpr std::int64_t produce_timeout_cap_ms = 300'000;

std::int16_t produce_error(errc e) {
    switch (e) {
        case errc::ok: return error::none;
        case errc::bad_magic: return error::unsupported_for_message_format;
        case errc::too_large: return error::message_too_large;
        case errc::not_found: return error::unknown_topic_or_partition;
        case errc::io_error:
        case errc::no_space:
        case errc::closed: return error::kafka_storage_error;
        case errc::full: return error::request_timed_out;
        default: return error::corrupt_message;
    }
}

bool valid_topic_name(std::string_view n) {
    if (n.empty() || n.size() > 249 || n == "." || n == "..") return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

struct fetch_partition {
    std::int32_t partition = 0;
    std::int32_t current_leader_epoch = -1;
    std::int64_t fetch_offset = 0;
    std::int32_t max_bytes = 0;
};
struct fetch_topic {
    std::string name;
    std::vector<fetch_partition> partitions;
};
struct fetch_request {
    std::int32_t correlation_id = 0;
    std::int16_t version = 0;
    std::int32_t max_wait_ms = 0;
    std::int32_t min_bytes = 0;
    std::int32_t max_bytes = 0;
    std::vector<fetch_topic> topics;
};
struct pending_fetch {
    std::uint64_t conn = 0;
    std::uint64_t seq = 0;
    std::int64_t deadline_ms = 0;
    std::int64_t start_ns = 0;  // fetch_wait histogram
    fetch_request req;
};

struct produce_part {
    std::string topic;
    std::int32_t partition = 0;
    std::int16_t error = error::none;
    std::int64_t base_offset = -1;
    std::int32_t outstanding = 0;
};
struct pending_produce {
    std::uint64_t conn = 0;
    std::uint64_t seq = 0;
    std::int32_t correlation_id = 0;
    std::int16_t version = 0;
    bool respond = true;
    std::int64_t deadline_ms = 0;
    std::int64_t start_ns = 0;  // produce_ack histogram (acks != 0 only)
    std::int32_t outstanding = 0;
    std::vector<produce_part> parts;
};
struct queued_append {
    std::uint64_t produce_id = 0;
    std::uint32_t part = 0;
    partition_index partition;
    std::uint64_t token = 0;
    std::vector<std::byte> batch;
};

std::uint64_t us_since(std::int64_t start_ns) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(mono_ns() - start_ns, 0)) / 1000;
}

}  // namespace

struct broker::impl {
    log::log_store& store;
    broker_options opts;
    std::optional<log::appender> app;
    std::unique_ptr<offset_store> offsets;
    std::unique_ptr<group_coordinator> groups;
    broker_counters counters;

    std::uint64_t next_token = 1;
    std::uint64_t next_produce_id = 1;
    std::map<std::uint64_t, pending_produce> produces;
    std::unordered_map<std::uint64_t, std::pair<std::uint64_t, std::uint32_t>> tokens;
    std::deque<queued_append> append_queue;
    std::size_t append_queue_bytes = 0;  // sum of append_queue's batch sizes
    std::vector<pending_fetch> fetches;
    std::vector<completed_response> ready;

    impl(log::log_store& s, broker_options o) : store(s), opts(std::move(o)) {}

    void count_error(std::int16_t api_key, std::int16_t code) { counters.count_error(api_key, code); }

    outcome handle(bytes_view frame, const request_context& ctx, std::vector<std::byte>& out);

    // Handlers: read the body from `in`, write the whole response into `out`.
    outcome api_versions(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome metadata(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome produce(reader& in, const request_header& h, const request_context& ctx,
                    std::vector<std::byte>& out);
    outcome fetch(reader& in, const request_header& h, const request_context& ctx,
                  std::vector<std::byte>& out);
    outcome list_offsets(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome find_coordinator(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome create_topics(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome delete_topics(reader& in, const request_header& h, std::vector<std::byte>& out);
    outcome offset_commit(reader& in, const request_header& h, const request_context& ctx,
                          std::vector<std::byte>& out);
    outcome offset_fetch(reader& in, const request_header& h, std::vector<std::byte>& out);

    std::optional<log::topic_info> topic_for_use(std::string_view name, bool allow_create);
    struct timestamp_hit {
        std::int64_t offset = -1;
        std::int64_t timestamp = -1;
        std::int32_t leader_epoch = -1;
    };
    // ListOffsets by timestamp: the earliest offset whose record timestamp >= ts_ms with that
    // record's timestamp and its batch's leader epoch (offset -1 if every record is older).
    // Returns an error code (kafka_storage_error if the batch cannot be read back).
    std::int16_t find_by_timestamp(partition_index p, std::int64_t ts_ms, timestamp_hit& hit);
    std::vector<std::byte> scratch;  // find_by_timestamp's batch buffer, kept between calls
    void write_produce_response(const pending_produce& p, std::vector<std::byte>& out);
    // Builds a Fetch response; returns the record bytes included, or -1 if some partition had
    // an error (answer at once).
    std::int64_t build_fetch(const fetch_request& req, std::vector<std::byte>& out);
    void poll(std::int64_t now_ms, std::vector<completed_response>& out);
    void finish_produce(std::map<std::uint64_t, pending_produce>::iterator it);
    bool drain_append_queue();
    void update_gauges() {
        counters.groups.store(groups->group_count(), std::memory_order_relaxed);
        counters.pending_requests.store(fetches.size() + produces.size(), std::memory_order_relaxed);
        counters.append_backlog_bytes.store(append_queue_bytes, std::memory_order_relaxed);
    }
};

std::optional<log::topic_info> broker::impl::topic_for_use(std::string_view name, bool allow_create) {
    auto t = store.find_topic(name);
    if (t || !allow_create || opts.auto_create_partitions <= 0 || !valid_topic_name(name)) return t;
    log::topic_spec spec;
    spec.name = std::string(name);
    spec.partitions = opts.auto_create_partitions;
    (void)store.create_topic(spec);
    return store.find_topic(name);
}

outcome broker::impl::handle(bytes_view frame, const request_context& ctx,
                             std::vector<std::byte>& out) {
    reader in(frame);
    request_header h;
    if (parse_request_header(in, h) != errc::ok) {
        counters.malformed_requests.fetch_add(1, std::memory_order_relaxed);
        return outcome::close;
    }
    if (h.api_key >= 0 && h.api_key < api::key_count) {
        counters.requests_by_api[h.api_key].fetch_add(1, std::memory_order_relaxed);
    }
    const api_range* a = find_api(h.api_key);
    if (a == nullptr) {
        counters.unsupported_requests.fetch_add(1, std::memory_order_relaxed);
        return outcome::close;
    }
    if (h.api_key == api::api_versions) return api_versions(in, h, out);
    if (h.api_version < a->min_version || h.api_version > a->max_version) {
        // Not advertised: a client that sends it is broken; Kafka closes the connection.
        counters.unsupported_requests.fetch_add(1, std::memory_order_relaxed);
        return outcome::close;
    }
    outcome o = outcome::close;
    switch (h.api_key) {
        case api::metadata: o = metadata(in, h, out); break;
        case api::produce: o = produce(in, h, ctx, out); break;
        case api::fetch: o = fetch(in, h, ctx, out); break;
        case api::list_offsets: o = list_offsets(in, h, out); break;
        case api::find_coordinator: o = find_coordinator(in, h, out); break;
        case api::create_topics: o = create_topics(in, h, out); break;
        case api::delete_topics: o = delete_topics(in, h, out); break;
        case api::offset_commit: o = offset_commit(in, h, ctx, out); break;
        case api::offset_fetch: o = offset_fetch(in, h, out); break;
        default: {
            group_request gr{h, ctx.conn_id, ctx.seq, ctx.client_host, ctx.now_ms};
            o = groups->handle(in, gr, out);
            break;
        }
    }
    if (o == outcome::close) counters.malformed_requests.fetch_add(1, std::memory_order_relaxed);
    update_gauges();
    return o;
}

// ---------------------------------------------------------------------------------------------
// ApiVersions

outcome broker::impl::api_versions(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const api_range* self = find_api(api::api_versions);
    bool unsupported = h.api_version > self->max_version || h.api_version < 0;
    std::int16_t v = unsupported ? 0 : h.api_version;
    bool flex = v >= self->first_flexible;
    if (!unsupported && flex) {
        (void)in.compact_string();  // ClientSoftwareName
        (void)in.compact_string();  // ClientSoftwareVersion
        in.skip_tags();
        if (!in.ok()) return outcome::close;
    }
    begin_response(out, h.correlation_id, false);  // always response header v0 (KIP-511)
    writer w(out);
    std::int16_t err = unsupported ? error::unsupported_version : error::none;
    count_error(api::api_versions, err);
    w.i16(err);
    w.array_len(static_cast<std::int32_t>(supported_apis.size()), flex);
    for (const auto& a : supported_apis) {
        w.i16(a.key);
        w.i16(a.min_version);
        w.i16(a.max_version);
        if (flex) w.empty_tags();
    }
    if (v >= 1) w.i32(0);  // throttle_time_ms
    if (flex) w.empty_tags();
    finish_response(out);
    return outcome::respond;
}

// ---------------------------------------------------------------------------------------------
// Metadata

outcome broker::impl::metadata(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    std::int32_t n = in.array_len(2);
    std::vector<std::string_view> names;
    bool all = n < 0 || (v == 0 && n == 0);
    if (n > 0) names.reserve(static_cast<std::size_t>(n));
    for (std::int32_t i = 0; i < n && in.ok(); ++i) names.push_back(in.string());
    bool allow_create = true;
    if (v >= 4) allow_create = in.boolean();
    if (v >= 8) {
        (void)in.boolean();
        (void)in.boolean();
    }
    if (!in.ok()) return outcome::close;

    std::vector<std::pair<std::string, std::optional<log::topic_info>>> topics;
    if (all) {
        for (auto& t : store.topics()) topics.emplace_back(t.name, t);
    } else {
        for (auto name : names) topics.emplace_back(std::string(name), topic_for_use(name, allow_create));
    }

    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 3) w.i32(0);
    w.array_len(1);
    w.i32(opts.node_id);
    w.string(opts.advertised_host);
    w.i32(opts.advertised_port);
    if (v >= 1) w.nullable_string(std::nullopt);  // rack
    if (v >= 2) w.nullable_string(opts.cluster_id);
    if (v >= 1) w.i32(opts.node_id);  // controller
    w.array_len(static_cast<std::int32_t>(topics.size()));
    const std::int32_t epoch = store.options().leader_epoch;
    for (auto& [name, info] : topics) {
        std::int16_t err = error::none;
        if (!info) err = valid_topic_name(name) ? error::unknown_topic_or_partition
                                               : error::invalid_topic_exception;
        count_error(api::metadata, err);
        w.i16(err);
        w.string(name);
        if (v >= 1) w.boolean(false);  // is_internal
        std::int32_t parts = info ? info->partitions : 0;
        w.array_len(parts);
        for (std::int32_t p = 0; p < parts; ++p) {
            w.i16(error::none);
            w.i32(p);
            w.i32(opts.node_id);
            if (v >= 7) w.i32(epoch);
            w.array_len(1);
            w.i32(opts.node_id);
            w.array_len(1);
            w.i32(opts.node_id);
            if (v >= 5) w.array_len(0);
        }
        if (v >= 8) w.i32(no_authorized_ops);
    }
    if (v >= 8) w.i32(no_authorized_ops);
    finish_response(out);
    return outcome::respond;
}

// ---------------------------------------------------------------------------------------------
// Produce

void broker::impl::write_produce_response(const pending_produce& p, std::vector<std::byte>& out) {
    const std::int16_t v = p.version;
    begin_response(out, p.correlation_id, false);
    writer w(out);
    // Group the parts by topic, keeping request order (parts of one topic are contiguous).
    std::size_t topics = 0;
    for (std::size_t i = 0; i < p.parts.size(); ++i) {
        if (i == 0 || p.parts[i].topic != p.parts[i - 1].topic) ++topics;
    }
    w.array_len(static_cast<std::int32_t>(topics));
    for (std::size_t i = 0; i < p.parts.size();) {
        std::size_t j = i;
        while (j < p.parts.size() && p.parts[j].topic == p.parts[i].topic) ++j;
        w.string(p.parts[i].topic);
        w.array_len(static_cast<std::int32_t>(j - i));
        for (std::size_t k = i; k < j; ++k) {
            const auto& part = p.parts[k];
            count_error(api::produce, part.error);
            w.i32(part.partition);
            w.i16(part.error);
            w.i64(part.error == error::none ? part.base_offset : -1);
            if (v >= 2) w.i64(-1);  // log_append_time_ms: CreateTime topics
            if (v >= 5) {
                std::int64_t start = -1;
                if (auto pi = store.find_partition(part.topic, part.partition)) {
                    start = store.log_start_offset(*pi);
                }
                w.i64(start);
            }
            if (v >= 8) {
                w.array_len(0);               // record_errors
                w.nullable_string(std::nullopt);  // error_message
            }
        }
        i = j;
    }
    if (v >= 1) w.i32(0);  // throttle_time_ms
    finish_response(out);
}

outcome broker::impl::produce(reader& in, const request_header& h, const request_context& ctx,
                              std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    if (v >= 3) (void)in.nullable_string();  // transactional_id
    std::int16_t acks = in.i16();
    std::int32_t timeout_ms = in.i32();
    pending_produce p;
    p.start_ns = acks != 0 ? mono_ns() : 0;
    p.conn = ctx.conn_id;
    p.seq = ctx.seq;
    p.correlation_id = h.correlation_id;
    p.version = v;
    p.respond = acks != 0;
    p.deadline_ms = ctx.now_ms + std::clamp<std::int64_t>(timeout_ms, produce_timeout_floor_ms,
                                                          produce_timeout_cap_ms);
    struct part_batches {
        std::vector<bytes_view> batches;
        partition_index index;
    };
    std::vector<part_batches> batches;
    std::int32_t nt = in.array_len(6);
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        std::string_view topic = in.string();
        std::int32_t np = in.array_len(8);
        std::optional<log::topic_info> info;
        if (in.ok()) info = store.find_topic(topic);
        for (std::int32_t i = 0; i < np && in.ok(); ++i) {
            produce_part part;
            part.topic = std::string(topic);
            part.partition = in.i32();
            auto records = in.nullable_bytes();
            if (!in.ok()) break;
            part_batches pb;
            if (v < 3) {
                part.error = error::unsupported_version;
            } else if (acks != 0 && acks != 1 && acks != -1) {
                part.error = error::invalid_required_acks;
            } else if (!info || part.partition < 0 || part.partition >= info->partitions) {
                part.error = error::unknown_topic_or_partition;
            } else if (!records || records->empty()) {
                part.error = error::corrupt_message;
            } else {
                pb.index = partition_index{info->first.value() + static_cast<std::uint32_t>(part.partition)};
                bytes_view rest = *records;
                while (!rest.empty()) {
                    if (rest.size() > log::batch_offset::magic &&
                        static_cast<std::int8_t>(rest[log::batch_offset::magic]) < log::record_batch_magic) {
                        part.error = error::unsupported_for_message_format;
                        break;
                    }
                    log::batch_header bh;
                    auto hdr = log::decode_batch_header(rest);
                    if (!hdr) {
                        part.error = produce_error(hdr.error());
                        break;
                    }
                    if (hdr->total_bytes() > rest.size()) {
                        part.error = error::corrupt_message;
                        break;
                    }
                    bytes_view batch = rest.first(hdr->total_bytes());
                    errc e = log::validate_batch(batch, &bh);
                    if (e != errc::ok) {
                        part.error = produce_error(e);
                        break;
                    }
                    if ((bh.attributes & log::attr_control) != 0) {
                        part.error = error::invalid_record;
                        break;
                    }
                    pb.batches.push_back(batch);
                    rest = rest.subspan(batch.size());
                }
                if (part.error != error::none) {
                    pb.batches.clear();
                    counters.produce_rejected_batches.fetch_add(1, std::memory_order_relaxed);
                }
            }
            p.parts.push_back(std::move(part));
            batches.push_back(std::move(pb));
        }
    }
    if (!in.ok()) return outcome::close;

    // acks=0: nothing waits for the log (token 0: no completion), so the request holds no slot and
    // later answers on the connection are not held behind its fdatasync; an error closes the
    // connection, the only way to tell an acks=0 producer (as Kafka does).
    const std::uint64_t id = p.respond ? next_produce_id++ : 0;
    for (std::uint32_t i = 0; i < p.parts.size(); ++i) {
        for (bytes_view b : batches[i].batches) {
            std::uint64_t token = p.respond ? next_token++ : 0;
            counters.produce_batches.fetch_add(1, std::memory_order_relaxed);
            counters.produce_bytes.fetch_add(b.size(), std::memory_order_relaxed);
            errc e = errc::full;
            if (append_queue.empty()) e = app->try_append(batches[i].index, b, token);
            if (e == errc::full) {
                append_queue.push_back({id, i, batches[i].index, token, {b.begin(), b.end()}});
                append_queue_bytes += b.size();
                if (append_queue_bytes > opts.append_backlog_bytes_max &&
                    append_queue_bytes - b.size() <= opts.append_backlog_bytes_max) {
                    counters.append_backlog_stalls.fetch_add(1, std::memory_order_relaxed);
                }
                e = errc::ok;
            }
            if (e != errc::ok) {
                p.parts[i].error = produce_error(e);
                continue;
            }
            if (!p.respond) continue;
            tokens.emplace(token, std::make_pair(id, i));
            ++p.parts[i].outstanding;
            ++p.outstanding;
        }
    }
    if (!p.respond) {
        for (const auto& part : p.parts) {
            if (part.error == error::none) continue;
            count_error(api::produce, part.error);
            return outcome::close;
        }
        return outcome::no_response;
    }
    if (p.outstanding == 0) {
        write_produce_response(p, out);
        counters.produce_ack.observe_us(us_since(p.start_ns));
        return outcome::respond;
    }
    produces.emplace(id, std::move(p));
    return outcome::deferred;
}

void broker::impl::finish_produce(std::map<std::uint64_t, pending_produce>::iterator it) {
    completed_response r;
    r.conn_id = it->second.conn;
    r.seq = it->second.seq;
    r.respond = it->second.respond;
    if (r.respond) {
        write_produce_response(it->second, r.bytes);
        counters.produce_ack.observe_us(us_since(it->second.start_ns));
    }
    ready.push_back(std::move(r));
    produces.erase(it);
}

bool broker::impl::drain_append_queue() {
    while (!append_queue.empty()) {
        auto& q = append_queue.front();
        errc e = app->try_append(q.partition, q.batch, q.token);
        if (e == errc::full) return false;
        if (e != errc::ok) {
            auto t = tokens.find(q.token);
            if (t != tokens.end()) {
                auto it = produces.find(t->second.first);
                if (it != produces.end()) {
                    auto& part = it->second.parts[t->second.second];
                    part.error = produce_error(e);
                    --part.outstanding;
                    if (--it->second.outstanding == 0) finish_produce(it);
                }
                tokens.erase(t);
            }
        }
        append_queue_bytes -= q.batch.size();
        append_queue.pop_front();
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Fetch

std::int64_t broker::impl::build_fetch(const fetch_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.version;
    const std::int32_t epoch = store.options().leader_epoch;
    begin_response(out, req.correlation_id, false);
    writer w(out);
    w.i32(0);  // throttle
    if (v >= 7) {
        w.i16(error::none);
        w.i32(0);  // session_id: sessions not kept
    }
    std::int64_t remaining = std::min<std::int64_t>(req.max_bytes <= 0 ? opts.fetch_max_bytes : req.max_bytes,
                                                    opts.fetch_max_bytes);
    std::int64_t total = 0;
    bool any_error = false;
    w.array_len(static_cast<std::int32_t>(req.topics.size()));
    for (const auto& t : req.topics) {
        w.string(t.name);
        w.array_len(static_cast<std::int32_t>(t.partitions.size()));
        auto info = store.find_topic(t.name);
        for (const auto& fp : t.partitions) {
            w.i32(fp.partition);
            std::int16_t err = error::none;
            std::int64_t hwm = -1, start = -1;
            std::optional<partition_index> pi;
            if (!info || fp.partition < 0 || fp.partition >= info->partitions) {
                err = error::unknown_topic_or_partition;
            } else if (fp.current_leader_epoch >= 0 && fp.current_leader_epoch < epoch) {
                err = error::fenced_leader_epoch;
            } else if (fp.current_leader_epoch > epoch) {
                err = error::unknown_leader_epoch;
            } else {
                pi = partition_index{info->first.value() + static_cast<std::uint32_t>(fp.partition)};
                hwm = store.high_watermark(*pi);
                start = store.log_start_offset(*pi);
                if (fp.fetch_offset < start || fp.fetch_offset > hwm) err = error::offset_out_of_range;
            }
            std::size_t at_err = out.size();
            w.i16(err);
            w.i64(hwm);
            w.i64(hwm);  // last_stable_offset: no transactions, LSO = HWM (notes P5)
            if (v >= 5) w.i64(start);
            w.array_len(0);  // aborted_transactions
            if (v >= 11) w.i32(-1);  // preferred_read_replica
            std::size_t len_at = w.reserve_i32();
            std::int32_t got = 0;
            if (err == error::none && fp.fetch_offset < hwm) {
                std::int64_t limit = std::min<std::int64_t>(fp.max_bytes, remaining);
                if (limit < 0) limit = 0;
                std::size_t base = out.size();
                std::size_t needed = 0;
                out.resize(base + static_cast<std::size_t>(limit));
                auto r = store.read(*pi, fp.fetch_offset, mutable_bytes(out.data() + base, static_cast<std::size_t>(limit)),
                                    &needed);
                if (!r && r.error() == errc::too_large && total == 0 && needed > 0 &&
                    needed <= static_cast<std::size_t>(log::batch_bytes_max)) {
                    // KIP-74: always return at least one whole batch.
                    out.resize(base + needed);
                    r = store.read(*pi, fp.fetch_offset, mutable_bytes(out.data() + base, needed), nullptr);
                }
                if (r) {
                    got = static_cast<std::int32_t>(*r);
                    out.resize(base + *r);
                } else {
                    out.resize(base);
                    if (r.error() == errc::out_of_range) {
                        store_be(out.data() + at_err, error::offset_out_of_range);
                        err = error::offset_out_of_range;
                    } else if (r.error() != errc::too_large) {
                        store_be(out.data() + at_err, error::kafka_storage_error);
                        err = error::kafka_storage_error;
                    }
                }
            }
            w.patch_i32(len_at, got);
            total += got;
            remaining -= got;
            if (err != error::none) any_error = true;
        }
    }
    finish_response(out);
    return any_error ? -1 : total;
}

outcome broker::impl::fetch(reader& in, const request_header& h, const request_context& ctx,
                            std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    fetch_request req;
    req.correlation_id = h.correlation_id;
    req.version = v;
    (void)in.i32();  // replica_id
    req.max_wait_ms = in.i32();
    req.min_bytes = in.i32();
    req.max_bytes = in.i32();
    (void)in.i8();  // isolation_level
    if (v >= 7) {
        (void)in.i32();  // session_id
        (void)in.i32();  // session_epoch
    }
    std::int32_t nt = in.array_len(6);
    if (nt > 0) req.topics.reserve(static_cast<std::size_t>(nt));
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        fetch_topic ft;
        ft.name = std::string(in.string());
        std::int32_t np = in.array_len(16);
        if (np > 0) ft.partitions.reserve(static_cast<std::size_t>(np));
        for (std::int32_t i = 0; i < np && in.ok(); ++i) {
            fetch_partition fp;
            fp.partition = in.i32();
            if (v >= 9) fp.current_leader_epoch = in.i32();
            fp.fetch_offset = in.i64();
            if (v >= 5) (void)in.i64();  // log_start_offset (followers only)
            fp.max_bytes = in.i32();
            ft.partitions.push_back(fp);
        }
        req.topics.push_back(std::move(ft));
    }
    if (v >= 7) {
        std::int32_t nf = in.array_len(6);
        for (std::int32_t t = 0; t < nf && in.ok(); ++t) {
            (void)in.string();
            std::int32_t np = in.array_len(4);
            for (std::int32_t i = 0; i < np && in.ok(); ++i) (void)in.i32();
        }
    }
    if (v >= 11) (void)in.string();  // rack_id
    if (!in.ok()) return outcome::close;

    std::int64_t got = build_fetch(req, out);
    if (got < 0 || got >= req.min_bytes || req.max_wait_ms <= 0 || req.topics.empty()) {
        counters.fetch_bytes.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(got, 0)),
                                       std::memory_order_relaxed);
        counters.fetch_wait.observe_us(0);  // answered without waiting
        return outcome::respond;
    }
    pending_fetch pf;
    pf.conn = ctx.conn_id;
    pf.seq = ctx.seq;
    pf.deadline_ms = ctx.now_ms + req.max_wait_ms;
    pf.start_ns = mono_ns();
    pf.req = std::move(req);
    fetches.push_back(std::move(pf));
    return outcome::deferred;
}

// ---------------------------------------------------------------------------------------------
// ListOffsets

// The log answers with an offset (offset_for_timestamp: the first record at or after ts_ms, or
// the base offset of a compressed batch whose max timestamp is >= ts_ms); the timestamp Kafka
// returns is the one of the record found, so read that offset's batch back and look it up:
// uncompressed batches give the record's own timestamp (the batch max timestamp for a
// LogAppendTime batch, as Kafka's Record.timestamp()); a compressed batch gives its max
// timestamp (Kafka's batch timestamp; the exact record would need decompression here).
std::int16_t broker::impl::find_by_timestamp(partition_index p, std::int64_t ts_ms, timestamp_hit& hit) {
    hit = timestamp_hit{};
    // Bounded: retention moving log start between the two calls is retried a few times.
    for (int attempt = 0; attempt < 4; ++attempt) {
        const std::int64_t hwm = store.high_watermark(p);
        const std::int64_t found = store.offset_for_timestamp(p, ts_ms);
        if (found < 0 || found >= hwm) return error::none;
        if (scratch.size() < log::batch_header_bytes) scratch.resize(64 << 10);
        std::size_t needed = 0;
        auto got = store.read(p, found, scratch, &needed);
        if (!got && got.error() == errc::too_large &&
            needed <= static_cast<std::size_t>(log::batch_bytes_max) + log::log_overhead_bytes) {
            scratch.resize(needed);
            got = store.read(p, found, scratch, &needed);
        }
        if (!got || *got < log::batch_header_bytes) continue;  // log start moved past it: look again
        bytes_view stored(scratch.data(), *got);
        auto h = log::decode_batch_header(stored);
        if (!h || h->total_bytes() > stored.size() || found < h->base_offset || found > h->last_offset()) continue;
        hit.offset = found;
        hit.leader_epoch = h->partition_leader_epoch;
        hit.timestamp = h->max_timestamp;
        if (h->codec() != log::compression::none || (h->attributes & log::attr_log_append_time) != 0) {
            return error::none;
        }
        log::record_iterator it(stored.first(h->total_bytes()));
        log::record_view r;
        while (it.next(r) == errc::ok) {
            if (r.offset == found) {
                hit.timestamp = r.timestamp;
                break;
            }
        }
        return error::none;
    }
    hit = timestamp_hit{};
    return error::kafka_storage_error;
}

outcome broker::impl::list_offsets(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    const std::int32_t epoch = store.options().leader_epoch;
    (void)in.i32();  // replica_id
    if (v >= 2) (void)in.i8();
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 2) w.i32(0);
    std::int32_t nt = in.array_len(6);
    w.array_len(std::max(nt, 0));
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        std::string_view name = in.string();
        w.string(name);
        auto info = store.find_topic(name);
        std::int32_t np = in.array_len(12);
        w.array_len(std::max(np, 0));
        for (std::int32_t i = 0; i < np && in.ok(); ++i) {
            std::int32_t partition = in.i32();
            std::int32_t current_epoch = v >= 4 ? in.i32() : -1;
            std::int64_t ts = in.i64();
            if (v == 0) (void)in.i32();  // max_num_offsets
            std::int16_t err = error::none;
            std::int64_t offset = -1;
            std::int64_t out_ts = -1;
            std::int32_t found_epoch = epoch;
            if (!info || partition < 0 || partition >= info->partitions) {
                err = error::unknown_topic_or_partition;
            } else if (current_epoch >= 0 && current_epoch < epoch) {
                err = error::fenced_leader_epoch;
            } else if (current_epoch > epoch) {
                err = error::unknown_leader_epoch;
            } else {
                partition_index pi{info->first.value() + static_cast<std::uint32_t>(partition)};
                if (ts == -1) {
                    offset = store.high_watermark(pi);
                } else if (ts == -2) {
                    offset = store.log_start_offset(pi);
                } else if (ts < 0) {
                    err = error::invalid_request;
                } else {
                    // No record at or after ts: offset -1, timestamp -1 (v1+).
                    timestamp_hit hit;
                    err = find_by_timestamp(pi, ts, hit);
                    offset = hit.offset;
                    out_ts = hit.timestamp;
                    found_epoch = hit.leader_epoch;
                }
            }
            count_error(api::list_offsets, err);
            w.i32(partition);
            w.i16(err);
            if (v == 0) {
                if (err == error::none && offset >= 0) {
                    w.array_len(1);
                    w.i64(offset);
                } else {
                    w.array_len(0);
                }
            } else {
                w.i64(out_ts);
                w.i64(offset);
                if (v >= 4) w.i32(err == error::none && offset >= 0 ? found_epoch : -1);
            }
        }
    }
    if (!in.ok()) return outcome::close;
    finish_response(out);
    return outcome::respond;
}

// ---------------------------------------------------------------------------------------------
// FindCoordinator, CreateTopics, DeleteTopics

outcome broker::impl::find_coordinator(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    (void)in.string();  // key
    std::int8_t key_type = v >= 1 ? in.i8() : 0;
    if (!in.ok()) return outcome::close;
    std::int16_t err = key_type == 0 ? error::none : error::coordinator_not_available;
    count_error(api::find_coordinator, err);
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    w.i16(err);
    if (v >= 1) w.nullable_string(std::nullopt);
    w.i32(err == error::none ? opts.node_id : -1);
    w.string(err == error::none ? std::string_view(opts.advertised_host) : std::string_view());
    w.i32(err == error::none ? opts.advertised_port : -1);
    finish_response(out);
    return outcome::respond;
}

outcome broker::impl::create_topics(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    struct result_row {
        std::string name;
        std::int16_t error;
        std::string message;
    };
    std::vector<result_row> rows;
    std::vector<log::topic_spec> specs;
    std::int32_t nt = in.array_len(8);
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        log::topic_spec spec;
        spec.name = std::string(in.string());
        std::int32_t partitions = in.i32();
        std::int16_t replication = in.i16();
        std::int32_t na = in.array_len(8);
        for (std::int32_t i = 0; i < na && in.ok(); ++i) {
            (void)in.i32();
            std::int32_t nb = in.array_len(4);
            for (std::int32_t j = 0; j < nb && in.ok(); ++j) (void)in.i32();
        }
        bool bad_config = false;
        std::int32_t nc = in.array_len(4);
        for (std::int32_t i = 0; i < nc && in.ok(); ++i) {
            std::string_view key = in.string();
            auto value = in.nullable_string();
            if (!in.ok() || !value) continue;
            std::int64_t n = 0;
            auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
            bool num = ec == std::errc() && p == value->data() + value->size();
            if (key == "retention.ms") {
                bad_config |= !num;
                spec.retention_ms = n;
            } else if (key == "retention.bytes") {
                bad_config |= !num;
                spec.retention_bytes = n;
            } else if (key == "segment.bytes") {
                bad_config |= !num || n <= 0;
                spec.segment_bytes = n;
            } else if (key == "segment.ms") {
                bad_config |= !num || n <= 0;
                spec.segment_ms = n;
            }
        }
        if (!in.ok()) break;
        if (partitions == -1) partitions = na > 0 ? na : opts.default_partitions;
        spec.partitions = partitions;
        result_row row{spec.name, error::none, {}};
        if (!valid_topic_name(spec.name)) {
            row.error = error::invalid_topic_exception;
        } else if (partitions <= 0) {
            row.error = error::invalid_partitions;
        } else if (replication != -1 && replication != 1) {
            row.error = error::invalid_replication_factor;
            row.message = "sluice has one broker: replication factor must be 1";
        } else if (bad_config) {
            row.error = 40;  // INVALID_CONFIG
        } else if (store.find_topic(spec.name)) {
            row.error = error::topic_already_exists;
        }
        rows.push_back(std::move(row));
        specs.push_back(std::move(spec));
    }
    (void)in.i32();  // timeout_ms
    bool validate_only = v >= 1 ? in.boolean() : false;
    if (!in.ok()) return outcome::close;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].error != error::none || validate_only) continue;
        std::string msg;
        errc e = store.create_topic(specs[i], &msg);
        if (e != errc::ok) {
            rows[i].error = e == errc::invalid_argument ? error::invalid_request : error::kafka_storage_error;
            rows[i].message = msg;
        }
    }
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 2) w.i32(0);
    w.array_len(static_cast<std::int32_t>(rows.size()));
    for (auto& r : rows) {
        count_error(api::create_topics, r.error);
        w.string(r.name);
        w.i16(r.error);
        if (v >= 1) {
            w.nullable_string(r.message.empty() ? std::nullopt : std::optional<std::string_view>(r.message));
        }
    }
    finish_response(out);
    return outcome::respond;
}

outcome broker::impl::delete_topics(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    std::vector<std::string_view> names;
    std::int32_t n = in.array_len(2);
    for (std::int32_t i = 0; i < n && in.ok(); ++i) names.push_back(in.string());
    (void)in.i32();
    if (!in.ok()) return outcome::close;
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    w.array_len(static_cast<std::int32_t>(names.size()));
    for (auto name : names) {
        errc e = store.delete_topic(name);
        std::int16_t err = e == errc::ok          ? error::none
                           : e == errc::not_found ? error::unknown_topic_or_partition
                                                  : error::kafka_storage_error;
        count_error(api::delete_topics, err);
        w.string(name);
        w.i16(err);
    }
    finish_response(out);
    return outcome::respond;
}

// ---------------------------------------------------------------------------------------------
// OffsetCommit / OffsetFetch

outcome broker::impl::offset_commit(reader& in, const request_header& h, const request_context& ctx,
                                    std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    std::string group(in.string());
    std::int32_t generation = -1;
    std::string member;
    if (v >= 1) {
        generation = in.i32();
        member = std::string(in.string());
    }
    if (v >= 7) (void)in.nullable_string();  // group_instance_id
    if (v >= 2 && v <= 4) (void)in.i64();    // retention_time_ms
    struct row {
        std::string topic;
        std::int32_t partition;
        std::int16_t error;
        committed_offset value;
    };
    std::vector<row> rows;
    std::int32_t nt = in.array_len(6);
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        std::string topic(in.string());
        std::int32_t np = in.array_len(14);
        for (std::int32_t i = 0; i < np && in.ok(); ++i) {
            row r{topic, in.i32(), error::none, {}};
            r.value.offset = in.i64();
            if (v >= 6) r.value.leader_epoch = in.i32();
            r.value.commit_timestamp_ms = wall_ms();
            if (v == 1) {
                std::int64_t ts = in.i64();
                if (ts >= 0) r.value.commit_timestamp_ms = ts;
            }
            auto md = in.nullable_string();
            if (md) r.value.metadata = std::string(*md);
            rows.push_back(std::move(r));
        }
    }
    if (!in.ok()) return outcome::close;

    std::int16_t group_err = group.empty() ? error::invalid_group_id
                                           : groups->validate_commit(group, member, generation, ctx.now_ms);
    std::vector<offset_commit_entry> entries;
    for (auto& r : rows) {
        if (group_err != error::none) {
            r.error = group_err;
            continue;
        }
        auto info = store.find_topic(r.topic);
        if (!info || r.partition < 0 || r.partition >= info->partitions) {
            r.error = error::unknown_topic_or_partition;
            continue;
        }
        entries.push_back({r.topic, r.partition, r.value});
    }
    if (!entries.empty()) {
        errc e = offsets->commit(group, entries);
        counters.offset_commits.fetch_add(entries.size(), std::memory_order_relaxed);
        if (e != errc::ok) {
            for (auto& r : rows) {
                if (r.error == error::none) r.error = error::kafka_storage_error;
            }
        }
    }
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 3) w.i32(0);
    std::size_t topics = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i == 0 || rows[i].topic != rows[i - 1].topic) ++topics;
    }
    w.array_len(static_cast<std::int32_t>(topics));
    for (std::size_t i = 0; i < rows.size();) {
        std::size_t j = i;
        while (j < rows.size() && rows[j].topic == rows[i].topic) ++j;
        w.string(rows[i].topic);
        w.array_len(static_cast<std::int32_t>(j - i));
        for (std::size_t k = i; k < j; ++k) {
            count_error(api::offset_commit, rows[k].error);
            w.i32(rows[k].partition);
            w.i16(rows[k].error);
        }
        i = j;
    }
    finish_response(out);
    return outcome::respond;
}

outcome broker::impl::offset_fetch(reader& in, const request_header& h, std::vector<std::byte>& out) {
    const std::int16_t v = h.api_version;
    std::string group(in.string());
    std::int32_t nt = in.array_len(6);
    struct req_topic {
        std::string name;
        std::vector<std::int32_t> partitions;
    };
    std::vector<req_topic> topics;
    for (std::int32_t t = 0; t < nt && in.ok(); ++t) {
        req_topic rt{std::string(in.string()), {}};
        std::int32_t np = in.array_len(4);
        for (std::int32_t i = 0; i < np && in.ok(); ++i) rt.partitions.push_back(in.i32());
        topics.push_back(std::move(rt));
    }
    if (!in.ok()) return outcome::close;
    if (nt < 0) {
        // All committed offsets of the group (v2+).
        for (auto& e : offsets->list(group)) {
            if (topics.empty() || topics.back().name != e.topic) topics.push_back({e.topic, {}});
            topics.back().partitions.push_back(e.partition);
        }
    }
    begin_response(out, h.correlation_id, false);
    writer w(out);
    if (v >= 3) w.i32(0);
    w.array_len(static_cast<std::int32_t>(topics.size()));
    for (auto& t : topics) {
        w.string(t.name);
        w.array_len(static_cast<std::int32_t>(t.partitions.size()));
        for (std::int32_t p : t.partitions) {
            auto c = offsets->get(group, t.name, p);
            w.i32(p);
            w.i64(c ? c->offset : -1);
            if (v >= 5) w.i32(c ? c->leader_epoch : -1);  // echo the committed epoch (P4)
            if (c && c->metadata) {
                w.nullable_string(*c->metadata);
            } else {
                w.nullable_string(std::string_view());
            }
            w.i16(error::none);
        }
    }
    if (v >= 2) w.i16(error::none);
    finish_response(out);
    return outcome::respond;
}

// ---------------------------------------------------------------------------------------------
// Deferred work

void broker::impl::poll(std::int64_t now_ms, std::vector<completed_response>& out) {
    // Durability completions.
    log::append_completion comps[completions_per_poll];
    for (;;) {
        std::size_t n = app->poll_completions(std::span(comps));
        for (std::size_t i = 0; i < n; ++i) {
            auto t = tokens.find(comps[i].token);
            if (t == tokens.end()) continue;
            auto it = produces.find(t->second.first);
            if (it != produces.end()) {
                auto& part = it->second.parts[t->second.second];
                if (comps[i].error != errc::ok) {
                    part.error = produce_error(comps[i].error);
                } else if (part.base_offset < 0 || comps[i].base_offset < part.base_offset) {
                    part.base_offset = comps[i].base_offset;
                }
                --part.outstanding;
                if (--it->second.outstanding == 0) finish_produce(it);
            }
            tokens.erase(t);
        }
        if (n < completions_per_poll) break;
    }
    (void)drain_append_queue();
    // Produce timeouts.
    for (auto it = produces.begin(); it != produces.end();) {
        auto cur = it++;
        if (now_ms < cur->second.deadline_ms) continue;
        for (auto& part : cur->second.parts) {
            if (part.outstanding > 0) part.error = error::request_timed_out;
        }
        std::erase_if(tokens, [&](const auto& kv) { return kv.second.first == cur->first; });
        // Its batches still queued behind a full ring are dropped: the client was told they timed
        // out and will resend them (keeping them would store them twice and, with the client's
        // retries, grow the queue for as long as the disk stalls).
        std::erase_if(append_queue, [&](const queued_append& q) {
            if (q.produce_id != cur->first) return false;
            append_queue_bytes -= q.batch.size();
            return true;
        });
        finish_produce(cur);
    }
    // Long-polled fetches.
    for (std::size_t i = 0; i < fetches.size();) {
        auto& f = fetches[i];
        bool expired = now_ms >= f.deadline_ms;
        bool maybe = expired;
        if (!maybe) {
            for (const auto& t : f.req.topics) {
                auto info = store.find_topic(t.name);
                for (const auto& fp : t.partitions) {
                    if (!info || fp.partition >= info->partitions || fp.partition < 0) {
                        maybe = true;
                        break;
                    }
                    partition_index pi{info->first.value() + static_cast<std::uint32_t>(fp.partition)};
                    if (store.high_watermark(pi) != fp.fetch_offset) {
                        maybe = true;
                        break;
                    }
                }
                if (maybe) break;
            }
        }
        if (maybe) {
            completed_response r;
            std::int64_t got = build_fetch(f.req, r.bytes);
            if (expired || got < 0 || got >= f.req.min_bytes) {
                counters.fetch_bytes.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(got, 0)),
                                               std::memory_order_relaxed);
                counters.fetch_wait.observe_us(us_since(f.start_ns));
                r.conn_id = f.conn;
                r.seq = f.seq;
                ready.push_back(std::move(r));
                fetches[i] = std::move(fetches.back());
                fetches.pop_back();
                continue;
            }
        }
        ++i;
    }
    groups->poll(now_ms, ready);
    for (auto& r : ready) out.push_back(std::move(r));
    ready.clear();
    update_gauges();
}

// ---------------------------------------------------------------------------------------------
// broker

broker::broker(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}
broker::~broker() = default;

std::unique_ptr<broker> broker::create(log::log_store& store, broker_options options, std::string* error) {
    auto p = std::make_unique<impl>(store, std::move(options));
    p->app = store.make_appender();
    if (!p->app) {
        if (error) *error = "log_store has no free appender";
        return nullptr;
    }
    std::string dir = p->opts.offsets_dir;
    if (dir.empty()) dir = (std::filesystem::path(store.options().data_dir) / "__consumer_offsets").string();
    p->offsets = offset_store::open(dir, error);
    if (!p->offsets) return nullptr;
    p->groups = std::make_unique<group_coordinator>(group_options{
        p->opts.group_initial_rebalance_delay_ms, p->opts.group_min_session_timeout_ms,
        p->opts.group_max_session_timeout_ms}, *p->offsets, p->counters);
    return std::unique_ptr<broker>(new broker(std::move(p)));
}

outcome broker::handle(bytes_view frame, const request_context& ctx, std::vector<std::byte>& response) {
    return _impl->handle(frame, ctx, response);
}

void broker::poll(std::int64_t now_ms, std::vector<completed_response>& out) { _impl->poll(now_ms, out); }

std::int64_t broker::next_deadline_ms() const noexcept {
    std::int64_t d = std::numeric_limits<std::int64_t>::max();
    for (const auto& f : _impl->fetches) d = std::min(d, f.deadline_ms);
    for (const auto& [id, p] : _impl->produces) d = std::min(d, p.deadline_ms);
    d = std::min(d, _impl->groups->next_deadline_ms());
    return d;
}

bool broker::backlogged() const noexcept {
    return _impl->append_queue_bytes > _impl->opts.append_backlog_bytes_max;
}

bool broker::waiting_for_log() const noexcept {
    return !_impl->produces.empty() || !_impl->append_queue.empty();
}

void broker::connection_closed(std::uint64_t conn_id) {
    std::erase_if(_impl->fetches, [&](const pending_fetch& f) { return f.conn == conn_id; });
    for (auto& [id, p] : _impl->produces) {
        if (p.conn == conn_id) p.respond = false;
    }
    _impl->groups->connection_closed(conn_id);
}

broker_stats broker::stats() const {
    broker_stats s;
    auto& c = _impl->counters;
    for (int i = 0; i < api::key_count; ++i) s.requests_by_api[i] = c.requests_by_api[i].load(std::memory_order_relaxed);
    for (int i = 0; i < error::code_max; ++i) s.errors_by_code[i] = c.errors_by_code[i].load(std::memory_order_relaxed);
    for (int k = 0; k < api::key_count; ++k) {
        for (int i = 0; i < error::code_max; ++i) {
            s.answers_by_api_code[k][i] = c.answers_by_api_code[k][i].load(std::memory_order_relaxed);
        }
    }
    s.produce_batches = c.produce_batches.load(std::memory_order_relaxed);
    s.produce_bytes = c.produce_bytes.load(std::memory_order_relaxed);
    s.produce_rejected_batches = c.produce_rejected_batches.load(std::memory_order_relaxed);
    s.fetch_bytes = c.fetch_bytes.load(std::memory_order_relaxed);
    s.malformed_requests = c.malformed_requests.load(std::memory_order_relaxed);
    s.unsupported_requests = c.unsupported_requests.load(std::memory_order_relaxed);
    s.offset_commits = c.offset_commits.load(std::memory_order_relaxed);
    s.rebalances = c.rebalances.load(std::memory_order_relaxed);
    s.groups = c.groups.load(std::memory_order_relaxed);
    s.pending_requests = c.pending_requests.load(std::memory_order_relaxed);
    s.append_backlog_bytes = c.append_backlog_bytes.load(std::memory_order_relaxed);
    s.append_backlog_stalls = c.append_backlog_stalls.load(std::memory_order_relaxed);
    auto copy_hist = [](const latency_histogram& from, latency_histogram_stats& to) {
        for (int b = 0; b < latency_buckets; ++b) to.buckets[b] = from.buckets[b].load(std::memory_order_relaxed);
        to.sum_us = from.sum_us.load(std::memory_order_relaxed);
    };
    copy_hist(c.produce_ack, s.produce_ack);
    copy_hist(c.fetch_wait, s.fetch_wait);
    return s;
}

std::vector<committed_offset_entry> broker::committed_offsets() const { return _impl->offsets->snapshot(); }

const broker_options& broker::options() const noexcept { return _impl->opts; }

}  // namespace sluice::kafka
