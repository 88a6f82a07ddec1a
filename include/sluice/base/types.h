#pragma once
// Strong types for the identifiers that flow between components.

#include <compare>
#include <cstdint>
#include <functional>

namespace sluice {

template <typename T, typename Tag>
struct strong {
    T v{};
    constexpr strong() = default;
    constexpr explicit strong(T x) noexcept : v(x) {}
    constexpr T value() const noexcept { return v; }
    constexpr auto operator<=>(const strong&) const = default;
};

// Kafka offset of a record within its partition (int64 on the wire).
using record_offset = strong<std::int64_t, struct record_offset_tag>;
// Partition number within a topic.
using partition_id = strong<std::int32_t, struct partition_id_tag>;
// Dense index of a partition within the whole log store (all topics).
using partition_index = strong<std::uint32_t, struct partition_index_tag>;

}  // namespace sluice

template <typename T, typename Tag>
struct std::hash<sluice::strong<T, Tag>> {
    std::size_t operator()(const sluice::strong<T, Tag>& s) const noexcept {
        return std::hash<T>{}(s.v);
    }
};
