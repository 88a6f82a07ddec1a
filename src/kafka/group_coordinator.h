#pragma once
// Classic consumer-group coordinator (JoinGroup/SyncGroup/Heartbeat/LeaveGroup/DescribeGroups/
// ListGroups): generations, rebalances on join/leave/session timeout, protocol selection, and the
// membership check of OffsetCommit. Private to the kafka component; single-threaded.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sluice/kafka/broker.h>
#include <sluice/kafka/protocol.h>

namespace sluice::kafka {

class offset_store;

struct group_options {
    std::int32_t initial_rebalance_delay_ms = 0;
    std::int32_t min_session_timeout_ms = 1000;
    std::int32_t max_session_timeout_ms = 1'800'000;
};

struct group_request {
    request_header header;
    std::uint64_t conn_id = 0;
    std::uint64_t seq = 0;
    std::string client_host;
    std::int64_t now_ms = 0;
};

class group_coordinator {
public:
    group_coordinator(group_options options, offset_store& offsets, broker_counters& counters)
        : _opts(options), _offsets(offsets), _counters(counters) {}

    // JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups.
    [[nodiscard]] outcome handle(reader& in, const group_request& req, std::vector<std::byte>& out);
    // Error code for an OffsetCommit by (member, generation); none = allowed.
    [[nodiscard]] std::int16_t validate_commit(const std::string& group, const std::string& member,
                                               std::int32_t generation, std::int64_t now_ms);
    void poll(std::int64_t now_ms, std::vector<completed_response>& ready);
    [[nodiscard]] std::int64_t next_deadline_ms() const noexcept;
    void connection_closed(std::uint64_t conn_id);
    [[nodiscard]] std::size_t group_count() const noexcept { return _groups.size(); }

private:
    enum class state : std::uint8_t { empty, preparing_rebalance, completing_rebalance, stable };
    struct waiter {
        std::uint64_t conn_id = 0;
        std::uint64_t seq = 0;
        std::int32_t correlation_id = 0;
        std::int16_t version = 0;
    };
    struct member {
        std::string id;
        std::optional<std::string> instance_id;
        std::string client_id;
        std::string client_host;
        std::int32_t session_timeout_ms = 0;
        std::int32_t rebalance_timeout_ms = 0;
        std::string protocol_type;
        std::vector<std::pair<std::string, std::vector<std::byte>>> protocols;
        std::vector<std::byte> assignment;
        std::int64_t last_seen_ms = 0;
        std::optional<waiter> join;
        std::optional<waiter> sync;
    };
    struct group {
        std::string id;
        state st = state::empty;
        std::int32_t generation = 0;
        std::string protocol_type;
        std::string protocol;
        std::string leader;
        std::vector<member> members;  // join order
        std::map<std::string, std::int64_t> pending_ids;  // MEMBER_ID_REQUIRED ids -> expiry
        std::int64_t rebalance_deadline_ms = 0;
        std::int64_t initial_delay_until_ms = 0;
    };

    outcome join(reader& in, const group_request& req, std::vector<std::byte>& out);
    outcome sync(reader& in, const group_request& req, std::vector<std::byte>& out);
    outcome heartbeat(reader& in, const group_request& req, std::vector<std::byte>& out);
    outcome leave(reader& in, const group_request& req, std::vector<std::byte>& out);
    outcome describe(reader& in, const group_request& req, std::vector<std::byte>& out);
    outcome list(reader& in, const group_request& req, std::vector<std::byte>& out);

    member* find_member(group& g, std::string_view id);
    void remove_member(group& g, std::string_view id, std::int64_t now_ms);
    void prepare_rebalance(group& g, std::int64_t now_ms);
    void maybe_complete_join(group& g, std::int64_t now_ms);
    void write_join(std::vector<std::byte>& out, const waiter& w, std::int16_t err, const group* g,
                    std::string_view member_id, bool leader_view);
    void write_sync(std::vector<std::byte>& out, const waiter& w, std::int16_t err, bytes_view assignment);
    void complete(const waiter& w, std::vector<std::byte>&& bytes);
    std::string new_member_id(std::string_view client_id);
    void count_error(std::int16_t api_key, std::int16_t code);

    group_options _opts;
    offset_store& _offsets;
    broker_counters& _counters;
    std::map<std::string, group, std::less<>> _groups;
    std::vector<completed_response> _ready;
    std::uint64_t _next_member = 1;
};

}  // namespace sluice::kafka
