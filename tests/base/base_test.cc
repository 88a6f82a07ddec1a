#include <gtest/gtest.h>

#include <sluice/base/bytes.h>
#include <sluice/base/cpu.h>
#include <sluice/base/errc.h>

namespace sluice {
namespace {

TEST(bytes, big_endian_round_trip) {
    std::byte buf[8];
    store_be<std::int32_t>(buf, -2);
    EXPECT_EQ(buf[0], std::byte{0xff});
    EXPECT_EQ(buf[3], std::byte{0xfe});
    EXPECT_EQ(load_be<std::int32_t>(buf), -2);
    store_be<std::uint64_t>(buf, 0x0102030405060708ull);
    EXPECT_EQ(buf[0], std::byte{1});
    EXPECT_EQ(buf[7], std::byte{8});
    EXPECT_EQ(load_be<std::uint64_t>(buf), 0x0102030405060708ull);
}

TEST(result, holds_value_or_error) {
    result<int> a = 5;
    result<int> b = errc::full;
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, 5);
    EXPECT_FALSE(b.ok());
    EXPECT_EQ(b.error(), errc::full);
    EXPECT_EQ(to_string(b.error()), "full");
}

TEST(cpu, compiled_baseline_is_supported_here) {
    EXPECT_EQ(missing_isa_features(), "");
}

}  // namespace
}  // namespace sluice
