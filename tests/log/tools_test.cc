// `sluice log verify` / `sluice log dump` over a real data directory.

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::log
