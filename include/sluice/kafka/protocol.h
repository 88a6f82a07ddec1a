#pragma once
// Kafka protocol constants (API keys, error codes), the versions sluice advertises and request /
// response header handling. See /work/shared/notes/kafka-protocol.md §1-4.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <sluice/kafka/codec.h>

namespace sluice::kafka {

namespace api {
inline constexpr std::int16_t produce = 0;
inline constexpr std::int16_t fetch = 1;
inline constexpr std::int16_t list_offsets = 2;
inline constexpr std::int16_t metadata = 3;
inline constexpr std::int16_t offset_commit = 8;
inline constexpr std::int16_t offset_fetch = 9;
inline constexpr std::int16_t find_coordinator = 10;
inline constexpr std::int16_t join_group = 11;
inline constexpr std::int16_t heartbeat = 12;
inline constexpr std::int16_t leave_group = 13;
inline constexpr std::int16_t sync_group = 14;
inline constexpr std::int16_t describe_groups = 15;
inline constexpr std::int16_t list_groups = 16;
inline constexpr std::int16_t api_versions = 18;
inline constexpr std::int16_t create_topics = 19;
inline constexpr std::int16_t delete_topics = 20;
inline constexpr std::int16_t key_count = 64;  // counters are indexed by key < key_count
}  // namespace api

// Kafka error codes used by sluice (apache/kafka: clients/.../protocol/Errors.java).
namespace error {
inline constexpr std::int16_t unknown_server_error = -1;
inline constexpr std::int16_t none = 0;
inline constexpr std::int16_t offset_out_of_range = 1;
inline constexpr std::int16_t corrupt_message = 2;
inline constexpr std::int16_t unknown_topic_or_partition = 3;
inline constexpr std::int16_t request_timed_out = 7;
inline constexpr std::int16_t message_too_large = 10;
inline constexpr std::int16_t coordinator_load_in_progress = 14;
inline constexpr std::int16_t coordinator_not_available = 15;
inline constexpr std::int16_t not_coordinator = 16;
inline constexpr std::int16_t invalid_topic_exception = 17;
inline constexpr std::int16_t invalid_required_acks = 21;
inline constexpr std::int16_t illegal_generation = 22;
inline constexpr std::int16_t inconsistent_group_protocol = 23;
inline constexpr std::int16_t invalid_group_id = 24;
inline constexpr std::int16_t unknown_member_id = 25;
inline constexpr std::int16_t invalid_session_timeout = 26;
inline constexpr std::int16_t rebalance_in_progress = 27;
inline constexpr std::int16_t unsupported_version = 35;
inline constexpr std::int16_t topic_already_exists = 36;
inline constexpr std::int16_t invalid_partitions = 37;
inline constexpr std::int16_t invalid_replication_factor = 38;
inline constexpr std::int16_t invalid_request = 42;
inline constexpr std::int16_t unsupported_for_message_format = 43;
inline constexpr std::int16_t kafka_storage_error = 56;
inline constexpr std::int16_t group_id_not_found = 69;
inline constexpr std::int16_t fenced_leader_epoch = 74;
inline constexpr std::int16_t unknown_leader_epoch = 75;
inline constexpr std::int16_t member_id_required = 79;
inline constexpr std::int16_t invalid_record = 87;
inline constexpr std::int16_t code_max = 128;  // counters are indexed by (code + 1) < code_max
}  // namespace error

struct api_range {
    std::int16_t key;
    std::int16_t min_version;       // advertised
    std::int16_t max_version;       // advertised
    std::int16_t min_implemented;   // versions below this get UNSUPPORTED_VERSION
    std::int16_t first_flexible;    // first flexible version (KIP-482) of this API
};

// What ApiVersions advertises (notes §4). Non-flexible everywhere except ApiVersions v3.
inline constexpr std::array<api_range, 16> supported_apis{{
    {api::produce, 0, 8, 3, 9},
    {api::fetch, 4, 11, 4, 12},
    {api::list_offsets, 0, 5, 0, 6},
    {api::metadata, 0, 8, 0, 9},
    {api::offset_commit, 0, 7, 1, 8},
    {api::offset_fetch, 0, 5, 1, 6},
    {api::find_coordinator, 0, 2, 0, 3},
    {api::join_group, 0, 5, 0, 6},
    {api::heartbeat, 0, 3, 0, 4},
    {api::leave_group, 0, 3, 0, 4},
    {api::sync_group, 0, 3, 0, 4},
    {api::describe_groups, 0, 4, 0, 5},
    {api::list_groups, 0, 2, 0, 3},
    {api::api_versions, 0, 3, 0, 3},
    {api::create_topics, 0, 4, 0, 5},
    {api::delete_topics, 0, 3, 0, 4},
}};

[[nodiscard]] constexpr const api_range* find_api(std::int16_t key) noexcept {
    for (const auto& a : supported_apis) {
        if (a.key == key) return &a;
    }
    return nullptr;
}

[[nodiscard]] std::string_view api_name(std::int16_t key) noexcept;

struct request_header {
    std::int16_t api_key = 0;
    std::int16_t api_version = 0;
    std::int32_t correlation_id = 0;
    std::optional<std::string_view> client_id;
    bool flexible = false;  // header v2 (tagged fields after client_id) and a flexible body
};

// Parses request header v1, or v2 when (api_key, api_version) is a flexible version of a known
// API. On success `body` is positioned at the request body. Unknown APIs parse as v1.
[[nodiscard]] errc parse_request_header(reader& in, request_header& out) noexcept;

// Starts a response frame in `out` (cleared): int32 size placeholder, correlation id and, for
// header v1, an empty tagged-field section. finish_response() patches the size.
void begin_response(std::vector<std::byte>& out, std::int32_t correlation_id, bool header_v1);
void finish_response(std::vector<std::byte>& out) noexcept;

}  // namespace sluice::kafka
