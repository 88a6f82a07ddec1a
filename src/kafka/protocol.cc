// Request and response headers; see include/sluice/kafka/protocol.h.

#include <sluice/kafka/protocol.h>

namespace sluice::kafka {

std::string_view api_name(std::int16_t key) noexcept {
    switch (key) {
        case api::produce: return "produce";
        case api::fetch: return "fetch";
        case api::list_offsets: return "list_offsets";
        case api::metadata: return "metadata";
        case api::offset_commit: return "offset_commit";
        case api::offset_fetch: return "offset_fetch";
        case api::find_coordinator: return "find_coordinator";
        case api::join_group: return "join_group";
        case api::heartbeat: return "heartbeat";
        case api::leave_group: return "leave_group";
        case api::sync_group: return "sync_group";
        case api::describe_groups: return "describe_groups";
        case api::list_groups: return "list_groups";
        case api::api_versions: return "api_versions";
        case api::create_topics: return "create_topics";
        case api::delete_topics: return "delete_topics";
        default: return "unknown";
    }
}

errc parse_request_header(reader& in, request_header& out) noexcept {
    out.api_key = in.i16();
    out.api_version = in.i16();
    out.correlation_id = in.i32();
    out.client_id = in.nullable_string();  // int16 length even in header v2
    if (!in.ok()) return in.error();
    const api_range* a = find_api(out.api_key);
    out.flexible = a != nullptr && out.api_version >= a->first_flexible;
    // An ApiVersions request of a version we do not know may have any header; its body is
    // ignored (KIP-511), so do not try to read tags that may not be there.
    if (out.flexible && !(out.api_key == api::api_versions && out.api_version > a->max_version)) {
        in.skip_tags();
    }
    return in.error();
}

void begin_response(std::vector<std::byte>& out, std::int32_t correlation_id, bool header_v1) {
    out.clear();
    writer w(out);
    w.i32(0);
    w.i32(correlation_id);
    if (header_v1) w.empty_tags();
}

void finish_response(std::vector<std::byte>& out) noexcept {
    store_be(out.data(), static_cast<std::int32_t>(out.size() - 4));
}

}  // namespace sluice::kafka
