// `sluice log verify` / `sluice log dump` over a real data directory.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sluice/log/tools.h>

#include "log_test_util.h"

namespace sluice::log {
namespace {

void fill(const std::string& dir) {
    store_options o;
    o.data_dir = dir;
    o.max_partitions = 8;
    std::string err;
    auto s = log_store::open(o, &err);
    ASSERT_TRUE(s) << err;
    topic_spec t;
    t.name = "tools";
    t.partitions = 2;
    ASSERT_EQ(s->create_topic(t), errc::ok);
    s->start();
    auto a = s->make_appender();
    auto p = *s->find_partition("tools", 1);
    std::vector<std::byte> buf(4096);
    batch_builder b(buf);
    ASSERT_TRUE(b.append(1000, as_bytes("k\"1"), as_bytes("{\"a\":\"x\\ny\"}")));
    ASSERT_TRUE(b.append(1001, std::nullopt, as_bytes("line2")));
    ASSERT_TRUE(b.append(1002, as_bytes("k3"), std::nullopt));
    auto batch = b.finish();
    ASSERT_EQ(a->try_append(p, batch), errc::ok);
    ASSERT_EQ(a->try_append(p, testing::make_batch("v", 3, 10)), errc::ok);
    ASSERT_TRUE(testing::wait_for([&] { return s->high_watermark(p) == 13; }));
    s->stop();
}

TEST(log_tools, verify_and_dump_json) {
    testing::temp_dir dir;
    fill(dir.path.string());
    std::ostringstream out, err;
    EXPECT_EQ(verify_data_dir({dir.path.string()}, out, err), 0) << out.str() << err.str();
    EXPECT_NE(out.str().find("tools 1 offsets [0, 13) batches 2 records 13"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("all intact"), std::string::npos);

    dump_options d;
    d.data_dir = dir.path.string();
    d.topic = "tools";
    d.partition = 1;
    d.from_offset = 1;
    d.format = dump_format::json;
    std::ostringstream j, je;
    EXPECT_EQ(dump_data_dir(d, j, je), 0) << je.str();
    std::istringstream lines(j.str());
    std::string l1, l2;
    std::getline(lines, l1);
    std::getline(lines, l2);
    EXPECT_EQ(l1, R"({"topic":"tools","partition":1,"offset":1,"timestamp":1001,"key":null,"value":"line2"})");
    EXPECT_EQ(l2, R"({"topic":"tools","partition":1,"offset":2,"timestamp":1002,"key":"k3","value":null})");
    d.from_offset = 0;
    std::ostringstream j0, je0;
    EXPECT_EQ(dump_data_dir(d, j0, je0), 0);
    EXPECT_NE(j0.str().find(R"("key":"k\"1","value":"{\"a\":\"x\\ny\"}")"), std::string::npos) << j0.str();
    d.topic = "nope";
    std::ostringstream jn, jne;
    EXPECT_EQ(dump_data_dir(d, jn, jne), 2);
}

TEST(log_tools, verify_reports_damage) {
    testing::temp_dir dir;
    fill(dir.path.string());
    auto seg = dir.path / "tools-1" / "00000000000000000000.log";
    {
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(80);
        f.put('\x7f');
    }
    std::ostringstream out, err;
    EXPECT_EQ(verify_data_dir({dir.path.string()}, out, err), 1);
    EXPECT_NE(out.str().find("damaged: segment 0 byte 0: bad_crc"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("DAMAGED"), std::string::npos);
    std::ostringstream o2, e2;
    EXPECT_EQ(verify_data_dir({(dir.path / "missing").string()}, o2, e2), 2);
}

// What a crash leaves after the last fdatasync: the next batch's first block written, the rest
// of it still preallocated zeros. That is no damage (never durable); a flipped byte is.
TEST(log_tools, verify_tells_a_torn_tail_from_damage) {
    testing::temp_dir dir;
    fill(dir.path.string());
    const auto seg = dir.path / "tools-1" / "00000000000000000000.log";
    const std::uint64_t end = std::filesystem::file_size(seg);  // after the 13 records
    auto big = testing::make_batch(std::string(300, 'x'), 13, 30);  // ~9.5 KiB
    stamp_batch(mutable_bytes(big), 13, 0);
    const std::uint64_t boundary = (end / 4096 + 1) * 4096;
    ASSERT_GT(end + big.size(), boundary + 4096);  // spans at least one whole block past it
    auto write_tail = [&](std::size_t bytes) {
        std::filesystem::resize_file(seg, end);
        std::filesystem::resize_file(seg, end + big.size() + 8192);  // preallocated: zeros
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(end));
        f.write(reinterpret_cast<const char*>(big.data()), static_cast<std::streamsize>(bytes));
    };
    // 1. Only up to the block boundary written: a torn tail, verify passes and says so.
    write_tail(static_cast<std::size_t>(boundary - end));
    std::ostringstream out, err;
    EXPECT_EQ(verify_data_dir({dir.path.string()}, out, err), 0) << out.str();
    EXPECT_NE(out.str().find("tools 1 offsets [0, 13) batches 2 records 13"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("torn tail at byte " + std::to_string(end)), std::string::npos) << out.str();
    // 2. Written whole: one more intact batch.
    write_tail(big.size());
    std::ostringstream o2, e2;
    EXPECT_EQ(verify_data_dir({dir.path.string()}, o2, e2), 0) << o2.str();
    EXPECT_NE(o2.str().find("tools 1 offsets [0, 43) batches 3 records 43"), std::string::npos) << o2.str();
    // 3. Written whole with one byte changed: damage, not a torn tail.
    big[big.size() / 2] ^= std::byte{0x20};
    write_tail(big.size());
    std::ostringstream o3, e3;
    EXPECT_EQ(verify_data_dir({dir.path.string()}, o3, e3), 1) << o3.str();
    EXPECT_NE(o3.str().find("damaged: segment 0 byte " + std::to_string(end) + ": bad_crc"), std::string::npos)
        << o3.str();
}

}  // namespace
}  // namespace sluice::log
