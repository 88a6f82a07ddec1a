// Classic consumer-group coordinator; see group_coordinator.h and src/kafka/README.md.

#include "group_coordinator.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include <sluice/base/clock.h>
#include <sluice/kafka/offset_store.h>

namespace sluice::kafka {

namespace {

constexpr std::int32_t no_authorized_ops = std::numeric_limits<std::int32_t>::min();

std::string_view state_name(int s) {
    switch (s) {
        case 0: return "Empty";
        case 1: return "PreparingRebalance";
        case 2: return "CompletingRebalance";
        default: return "Stable";
    }
}

}  // namespace

void group_coordinator::count_error(std::int16_t api_key, std::int16_t code) {
    _counters.count_error(api_key, code);
}

std::string group_coordinator::new_member_id(std::string_view client_id) {
    std::string cid(client_id.substr(0, 64));
    return fmt::format("{}-{:016x}", cid.empty() ? "member" : cid,
                       (_next_member++ * 0x9e3779b97f4a7c15ULL) ^ static_cast<std::uint64_t>(mono_ns()));
}

group_coordinator::member* group_coordinator::find_member(group& g, std::string_view id) {
    for (auto& m : g.members) {
        if (m.id == id) return &m;
    }
    return nullptr;
}

void group_coordinator::complete(const waiter& w, std::vector<std::byte>&& bytes) {
    completed_response r;
    r.conn_id = w.conn_id;
    r.seq = w.seq;
    r.bytes = std::move(bytes);
    _ready.push_back(std::move(r));
}

void group_coordinator::write_join(std::vector<std::byte>& out, const waiter& wt, std::int16_t err,
                                   const group* g, std::string_view member_id, bool leader_view) {
    count_error(api::join_group, err);
    const std::int16_t v = wt.version;
    begin_response(out, wt.correlation_id, false);
    writer w(out);
    if (v >= 2) w.i32(0);
    w.i16(err);
    w.i32(g && err == error::none ? g->generation : -1);
    w.string(g && err == error::none ? std::string_view(g->protocol) : std::string_view());
    w.string(g && err == error::none ? std::string_view(g->leader) : std::string_view());
    w.string(member_id);
    if (g && err == error::none && leader_view) {
        w.array_len(static_cast<std::int32_t>(g->members.size()));
        for (const auto& m : g->members) {
            w.string(m.id);
            if (v >= 5) {
                w.nullable_string(m.instance_id ? std::optional<std::string_view>(*m.instance_id)
                                                : std::nullopt);
            }
            bytes_view md;
            for (const auto& [name, meta] : m.protocols) {
                if (name == g->protocol) md = meta;
            }
            w.bytes(md);
        }
    } else {
        w.array_len(0);
    }
    finish_response(out);
}

void group_coordinator::write_sync(std::vector<std::byte>& out, const waiter& wt, std::int16_t err,
                                   bytes_view assignment) {
    count_error(api::sync_group, err);
    begin_response(out, wt.correlation_id, false);
    writer w(out);
    if (wt.version >= 1) w.i32(0);
    w.i16(err);
    w.bytes(err == error::none ? assignment : bytes_view());
    finish_response(out);
}

void group_coordinator::prepare_rebalance(group& g, std::int64_t now_ms) {
    if (g.st == state::completing_rebalance) {
        // Members waiting for their assignment must rejoin.
        for (auto& m : g.members) {
            if (m.sync) {
                std::vector<std::byte> b;
                write_sync(b, *m.sync, error::rebalance_in_progress, {});
                complete(*m.sync, std::move(b));
                m.sync.reset();
            }
        }
    }
    if (g.st != state::preparing_rebalance) {
        std::int32_t timeout = 0;
        for (auto& m : g.members) timeout = std::max(timeout, m.rebalance_timeout_ms);
        g.rebalance_deadline_ms = now_ms + timeout;
        if (g.st == state::empty && _opts.initial_rebalance_delay_ms > 0) {
            g.initial_delay_until_ms = now_ms + _opts.initial_rebalance_delay_ms;
        }
        g.st = state::preparing_rebalance;
        _counters.rebalances.fetch_add(1, std::memory_order_relaxed);
    }
}

void group_coordinator::maybe_complete_join(group& g, std::int64_t now_ms) {
    if (g.st != state::preparing_rebalance) return;
    bool all = std::all_of(g.members.begin(), g.members.end(), [](const member& m) { return m.join.has_value(); });
    bool deadline = now_ms >= g.rebalance_deadline_ms;
    if (!(all && now_ms >= g.initial_delay_until_ms) && !deadline) return;
    g.initial_delay_until_ms = 0;
    // Members that did not rejoin in time leave the group.
    std::erase_if(g.members, [](const member& m) { return !m.join.has_value(); });
    ++g.generation;
    if (g.members.empty()) {
        g.st = state::empty;
        g.protocol.clear();
        g.leader.clear();
        return;
    }
    // Protocol: among those every member supports, the one most members list first (ties: the
    // first member's preference order).
    std::string best;
    int best_votes = -1;
    for (const auto& proto : g.members.front().protocols) {
        const std::string& name = proto.first;
        bool common = std::all_of(g.members.begin(), g.members.end(), [&](const member& m) {
            return std::any_of(m.protocols.begin(), m.protocols.end(), [&](const auto& p) { return p.first == name; });
        });
        if (!common) continue;
        int votes = 0;
        for (const auto& m : g.members) {
            for (const auto& p : m.protocols) {
                bool p_common = std::all_of(g.members.begin(), g.members.end(), [&](const member& o) {
                    return std::any_of(o.protocols.begin(), o.protocols.end(),
                                       [&](const auto& q) { return q.first == p.first; });
                });
                if (!p_common) continue;
                if (p.first == name) ++votes;
                break;  // only the member's first common preference votes
            }
        }
        if (votes > best_votes) {
            best_votes = votes;
            best = name;
        }
    }
    g.protocol = best;
    if (!find_member(g, g.leader)) g.leader = g.members.front().id;
    g.st = state::completing_rebalance;
    for (auto& m : g.members) {
        std::vector<std::byte> b;
        write_join(b, *m.join, error::none, &g, m.id, m.id == g.leader);
        complete(*m.join, std::move(b));
        m.join.reset();
        m.assignment.clear();
        m.last_seen_ms = now_ms;
    }
}

void group_coordinator::remove_member(group& g, std::string_view id, std::int64_t now_ms) {
    auto it = std::find_if(g.members.begin(), g.members.end(), [&](const member& m) { return m.id == id; });
    if (it == g.members.end()) return;
    if (it->join) {
        std::vector<std::byte> b;
        write_join(b, *it->join, error::unknown_member_id, nullptr, "", false);
        complete(*it->join, std::move(b));
    }
    if (it->sync) {
        std::vector<std::byte> b;
        write_sync(b, *it->sync, error::unknown_member_id, {});
        complete(*it->sync, std::move(b));
    }
    g.members.erase(it);
    if (g.members.empty() && g.st != state::preparing_rebalance) {
        ++g.generation;
        g.st = state::empty;
        g.protocol.clear();
        g.leader.clear();
        return;
    }
    prepare_rebalance(g, now_ms);
    maybe_complete_join(g, now_ms);
}

outcome group_coordinator::handle(reader& in, const group_request& req, std::vector<std::byte>& out) {
    switch (req.header.api_key) {
        case api::join_group: return join(in, req, out);
        case api::sync_group: return sync(in, req, out);
        case api::heartbeat: return heartbeat(in, req, out);
        case api::leave_group: return leave(in, req, out);
        case api::describe_groups: return describe(in, req, out);
        case api::list_groups: return list(in, req, out);
        default: return outcome::close;
    }
}

outcome group_coordinator::join(reader& in, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::string group_id(in.string());
    std::int32_t session_timeout = in.i32();
    std::int32_t rebalance_timeout = v >= 1 ? in.i32() : session_timeout;
    std::string member_id(in.string());
    std::optional<std::string> instance_id;
    if (v >= 5) {
        if (auto s = in.nullable_string()) instance_id = std::string(*s);
    }
    std::string protocol_type(in.string());
    std::vector<std::pair<std::string, std::vector<std::byte>>> protocols;
    std::int32_t n = in.array_len(6);
    for (std::int32_t i = 0; i < n && in.ok(); ++i) {
        std::string name(in.string());
        bytes_view md = in.bytes();
        protocols.emplace_back(std::move(name), std::vector<std::byte>(md.begin(), md.end()));
    }
    if (!in.ok()) return outcome::close;
    waiter wt{req.conn_id, req.seq, req.header.correlation_id, v};
    const std::int64_t now = req.now_ms;

    auto fail = [&](std::int16_t err, std::string_view id) {
        write_join(out, wt, err, nullptr, id, false);
        return outcome::respond;
    };
    if (group_id.empty()) return fail(error::invalid_group_id, member_id);
    if (session_timeout < _opts.min_session_timeout_ms || session_timeout > _opts.max_session_timeout_ms) {
        return fail(error::invalid_session_timeout, member_id);
    }
    if (protocols.empty() || protocol_type.empty()) return fail(error::inconsistent_group_protocol, member_id);

    auto git = _groups.find(group_id);
    if (git == _groups.end()) {
        if (!member_id.empty()) return fail(error::unknown_member_id, member_id);
        git = _groups.emplace(group_id, group{}).first;
        git->second.id = group_id;
    }
    group& g = git->second;
    // Protocol compatibility with the current members.
    if (!g.members.empty()) {
        if (protocol_type != g.protocol_type) return fail(error::inconsistent_group_protocol, member_id);
        bool overlap = false;
        for (const auto& proto : protocols) {
            const std::string& name = proto.first;
            bool common = std::all_of(g.members.begin(), g.members.end(), [&](const member& m) {
                return m.id == member_id ||
                       std::any_of(m.protocols.begin(), m.protocols.end(), [&](const auto& p) { return p.first == name; });
            });
            if (common) overlap = true;
        }
        if (!overlap) return fail(error::inconsistent_group_protocol, member_id);
    }

    member* m = nullptr;
    if (member_id.empty()) {
        member_id = new_member_id(req.header.client_id.value_or(""));
        if (v >= 4) {
            g.pending_ids[member_id] = now + session_timeout;
            return fail(error::member_id_required, member_id);
        }
    } else {
        m = find_member(g, member_id);
        if (!m) {
            auto p = g.pending_ids.find(member_id);
            if (p == g.pending_ids.end()) return fail(error::unknown_member_id, member_id);
            g.pending_ids.erase(p);
        }
    }
    if (!m) {
        g.members.push_back(member{});
        m = &g.members.back();
        m->id = member_id;
    }
    if (m->join) {
        // A duplicate join replaces the old one; answer the old with REBALANCE_IN_PROGRESS-free
        // UNKNOWN so the client does not wait forever on a dead request.
        std::vector<std::byte> b;
        write_join(b, *m->join, error::rebalance_in_progress, nullptr, member_id, false);
        complete(*m->join, std::move(b));
    }
    m->instance_id = instance_id;
    m->client_id = std::string(req.header.client_id.value_or(""));
    m->client_host = req.client_host;
    m->session_timeout_ms = session_timeout;
    m->rebalance_timeout_ms = rebalance_timeout;
    m->protocol_type = protocol_type;
    m->protocols = std::move(protocols);
    m->last_seen_ms = now;
    m->join = wt;
    g.protocol_type = protocol_type;
    prepare_rebalance(g, now);
    // The rebalance deadline covers the longest rebalance timeout of the members now known.
    g.rebalance_deadline_ms = std::max(g.rebalance_deadline_ms, now + rebalance_timeout);
    maybe_complete_join(g, now);
    return outcome::deferred;
}

outcome group_coordinator::sync(reader& in, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::string group_id(in.string());
    std::int32_t generation = in.i32();
    std::string member_id(in.string());
    if (v >= 3) (void)in.nullable_string();
    std::vector<std::pair<std::string, std::vector<std::byte>>> assignments;
    std::int32_t n = in.array_len(6);
    for (std::int32_t i = 0; i < n && in.ok(); ++i) {
        std::string id(in.string());
        bytes_view a = in.bytes();
        assignments.emplace_back(std::move(id), std::vector<std::byte>(a.begin(), a.end()));
    }
    if (!in.ok()) return outcome::close;
    waiter wt{req.conn_id, req.seq, req.header.correlation_id, v};
    auto git = _groups.find(group_id);
    member* m = git == _groups.end() ? nullptr : find_member(git->second, member_id);
    if (!m) {
        write_sync(out, wt, error::unknown_member_id, {});
        return outcome::respond;
    }
    group& g = git->second;
    m->last_seen_ms = req.now_ms;
    if (generation != g.generation) {
        write_sync(out, wt, error::illegal_generation, {});
        return outcome::respond;
    }
    if (g.st == state::preparing_rebalance || g.st == state::empty) {
        write_sync(out, wt, error::rebalance_in_progress, {});
        return outcome::respond;
    }
    if (g.st == state::stable) {
        write_sync(out, wt, error::none, m->assignment);
        return outcome::respond;
    }
    // completing_rebalance: wait for the leader's assignment.
    if (m->sync) {
        std::vector<std::byte> b;
        write_sync(b, *m->sync, error::rebalance_in_progress, {});
        complete(*m->sync, std::move(b));
    }
    m->sync = wt;
    if (member_id == g.leader) {
        for (auto& mm : g.members) mm.assignment.clear();
        for (auto& [id, a] : assignments) {
            if (member* target = find_member(g, id)) target->assignment = std::move(a);
        }
        g.st = state::stable;
        for (auto& mm : g.members) {
            if (mm.sync) {
                std::vector<std::byte> b;
                write_sync(b, *mm.sync, error::none, mm.assignment);
                complete(*mm.sync, std::move(b));
                mm.sync.reset();
            }
        }
    }
    return outcome::deferred;
}

outcome group_coordinator::heartbeat(reader& in, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::string group_id(in.string());
    std::int32_t generation = in.i32();
    std::string member_id(in.string());
    if (v >= 3) (void)in.nullable_string();
    if (!in.ok()) return outcome::close;
    std::int16_t err = error::none;
    auto git = _groups.find(group_id);
    member* m = git == _groups.end() ? nullptr : find_member(git->second, member_id);
    if (!m) {
        err = error::unknown_member_id;
    } else {
        m->last_seen_ms = req.now_ms;
        group& g = git->second;
        if (g.st == state::preparing_rebalance) {
            err = error::rebalance_in_progress;
        } else if (generation != g.generation) {
            err = error::illegal_generation;
        }
    }
    count_error(api::heartbeat, err);
    begin_response(out, req.header.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    w.i16(err);
    finish_response(out);
    return outcome::respond;
}

outcome group_coordinator::leave(reader& in, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::string group_id(in.string());
    std::vector<std::pair<std::string, std::optional<std::string>>> leaving;
    if (v <= 2) {
        leaving.emplace_back(std::string(in.string()), std::nullopt);
    } else {
        std::int32_t n = in.array_len(4);
        for (std::int32_t i = 0; i < n && in.ok(); ++i) {
            std::string id(in.string());
            auto inst = in.nullable_string();
            leaving.emplace_back(std::move(id), inst ? std::optional<std::string>(*inst) : std::nullopt);
        }
    }
    if (!in.ok()) return outcome::close;
    auto git = _groups.find(group_id);
    std::vector<std::int16_t> errs;
    for (auto& [id, inst] : leaving) {
        if (git == _groups.end() || !find_member(git->second, id)) {
            errs.push_back(error::unknown_member_id);
            continue;
        }
        remove_member(git->second, id, req.now_ms);
        errs.push_back(error::none);
    }
    begin_response(out, req.header.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    if (v <= 2) {
        count_error(api::leave_group, errs[0]);
        w.i16(errs[0]);
    } else {
        w.i16(error::none);
        w.array_len(static_cast<std::int32_t>(leaving.size()));
        for (std::size_t i = 0; i < leaving.size(); ++i) {
            count_error(api::leave_group, errs[i]);
            w.string(leaving[i].first);
            w.nullable_string(leaving[i].second ? std::optional<std::string_view>(*leaving[i].second)
                                                : std::nullopt);
            w.i16(errs[i]);
        }
    }
    finish_response(out);
    return outcome::respond;
}

outcome group_coordinator::describe(reader& in, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::vector<std::string_view> ids;
    std::int32_t n = in.array_len(2);
    for (std::int32_t i = 0; i < n && in.ok(); ++i) ids.push_back(in.string());
    if (v >= 3) (void)in.boolean();
    if (!in.ok()) return outcome::close;
    begin_response(out, req.header.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    w.array_len(static_cast<std::int32_t>(ids.size()));
    for (auto id : ids) {
        auto git = _groups.find(id);
        w.i16(error::none);
        w.string(id);
        if (git == _groups.end()) {
            bool has_offsets = !_offsets.list(id).empty();
            w.string(has_offsets ? "Empty" : "Dead");
            w.string("");
            w.string("");
            w.array_len(0);
        } else {
            const group& g = git->second;
            w.string(state_name(static_cast<int>(g.st)));
            w.string(g.protocol_type);
            w.string(g.st == state::stable ? std::string_view(g.protocol) : std::string_view());
            w.array_len(static_cast<std::int32_t>(g.members.size()));
            for (const auto& m : g.members) {
                w.string(m.id);
                if (v >= 4) {
                    w.nullable_string(m.instance_id ? std::optional<std::string_view>(*m.instance_id)
                                                    : std::nullopt);
                }
                w.string(m.client_id);
                w.string(m.client_host);
                bytes_view md;
                for (const auto& [name, meta] : m.protocols) {
                    if (name == g.protocol) md = meta;
                }
                w.bytes(md);
                w.bytes(m.assignment);
            }
        }
        if (v >= 3) w.i32(no_authorized_ops);
    }
    finish_response(out);
    return outcome::respond;
}

outcome group_coordinator::list(reader&, const group_request& req, std::vector<std::byte>& out) {
    const std::int16_t v = req.header.api_version;
    std::map<std::string, std::string> all;
    for (const auto& id : _offsets.groups()) all[id] = "consumer";
    for (const auto& [id, g] : _groups) all[id] = g.protocol_type;
    begin_response(out, req.header.correlation_id, false);
    writer w(out);
    if (v >= 1) w.i32(0);
    w.i16(error::none);
    w.array_len(static_cast<std::int32_t>(all.size()));
    for (const auto& [id, type] : all) {
        w.string(id);
        w.string(type);
    }
    finish_response(out);
    return outcome::respond;
}

std::int16_t group_coordinator::validate_commit(const std::string& group_id, const std::string& member_id,
                                                std::int32_t generation, std::int64_t now_ms) {
    auto git = _groups.find(group_id);
    if (git == _groups.end() || git->second.members.empty()) {
        // Simple (group-less) consumers commit with generation -1 and no member id.
        if (generation < 0) return error::none;
        return member_id.empty() ? error::none : error::unknown_member_id;
    }
    group& g = git->second;
    if (generation < 0 && member_id.empty()) return error::none;  // admin-style commit
    member* m = find_member(g, member_id);
    if (!m) return error::unknown_member_id;
    m->last_seen_ms = now_ms;
    if (generation != g.generation) return error::illegal_generation;
    if (g.st == state::completing_rebalance) return error::rebalance_in_progress;
    return error::none;
}

void group_coordinator::poll(std::int64_t now_ms, std::vector<completed_response>& ready) {
    for (auto git = _groups.begin(); git != _groups.end();) {
        group& g = git->second;
        std::erase_if(g.pending_ids, [&](const auto& kv) { return kv.second <= now_ms; });
        if (g.initial_delay_until_ms > 0 && now_ms >= g.initial_delay_until_ms) g.initial_delay_until_ms = 0;
        // Session expiry (members waiting in JoinGroup are kept alive by their pending request).
        std::vector<std::string> expired;
        for (const auto& m : g.members) {
            if (!m.join && now_ms - m.last_seen_ms > m.session_timeout_ms) expired.push_back(m.id);
        }
        for (const auto& id : expired) remove_member(g, id, now_ms);
        maybe_complete_join(g, now_ms);
        if (g.st == state::empty && g.members.empty() && g.pending_ids.empty()) {
            git = _groups.erase(git);
        } else {
            ++git;
        }
    }
    for (auto& r : _ready) ready.push_back(std::move(r));
    _ready.clear();
}

std::int64_t group_coordinator::next_deadline_ms() const noexcept {
    std::int64_t d = std::numeric_limits<std::int64_t>::max();
    for (const auto& [id, g] : _groups) {
        if (g.st == state::preparing_rebalance) {
            d = std::min(d, g.rebalance_deadline_ms);
            if (g.initial_delay_until_ms > 0) d = std::min(d, g.initial_delay_until_ms);
        }
        for (const auto& m : g.members) {
            if (!m.join) d = std::min(d, m.last_seen_ms + m.session_timeout_ms + 1);
        }
        for (const auto& [pid, exp] : g.pending_ids) d = std::min(d, exp);
    }
    return d;
}

void group_coordinator::connection_closed(std::uint64_t) {
    // Members outlive their connections until the session times out (Kafka semantics); answers
    // for a closed connection are dropped by the transport.
}

}  // namespace sluice::kafka
