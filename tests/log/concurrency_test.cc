// N producer threads x M partitions append concurrently; every record is stored exactly once,
// offsets are dense and in order, each producer's order per partition is kept, CRCs are valid.
// Also built under TSan (suite 'tsan').

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <sluice/log/memory_storage.h>

#include "log_test_util.h"

namespace sluice::log {
namespace {

void run(std::shared_ptr<storage> backend, const std::string& dir, int producers, int partitions,
         int batches_per_producer, int records_per_batch = 4) {
    store_options o;
    o.data_dir = dir;
    o.backend = backend;
    o.ring_bytes = 256 * 1024;  // small, so producers see backpressure too
    o.max_partitions = 64;
    std::string err;
    auto s = log_store::open(o, &err);
    ASSERT_TRUE(s) << err;
    topic_spec t;
    t.name = "conc";
    t.partitions = partitions;
    t.segment_bytes = 256 * 1024;  // several rolls under load
    t.retention_ms = -1;  // make_batch's timestamps are years old: keep the rolled segments
    ASSERT_EQ(s->create_topic(t), errc::ok);
    s->start();
    std::atomic<std::uint64_t> full{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < producers; ++w) {
        threads.emplace_back([&, w] {
            auto a = s->make_appender();
            ASSERT_TRUE(a);
            for (int i = 0; i < batches_per_producer; ++i) {
                int part = (i * 7 + w) % partitions;
                auto b = testing::make_batch("w" + std::to_string(w) + ":", i * records_per_batch,
                                             records_per_batch);
                auto p = *s->find_partition("conc", part);
                int tries = 0;
                errc e;
                while ((e = a->try_append(p, b)) == errc::full && tries++ < 100000) {
                    full.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::yield();
                }
                ASSERT_EQ(e, errc::ok);
            }
            ASSERT_TRUE(testing::wait_for([&] { return a->in_flight() == 0; }));
        });
    }
    for (auto& t : threads) t.join();
    s->stop();

    // Every (producer, seq) exactly once; per partition, each producer's seqs increase.
    std::set<std::pair<int, int>> seen;
    std::int64_t total = 0;
    for (int part = 0; part < partitions; ++part) {
        auto p = *s->find_partition("conc", part);
        std::string problem;
        auto recs = testing::read_all(*s, p, -1, &problem);
        ASSERT_EQ(problem, "");
        ASSERT_EQ(static_cast<std::int64_t>(recs.size()), s->high_watermark(p));
        std::map<int, int> last;
        for (std::size_t i = 0; i < recs.size(); ++i) {
            ASSERT_EQ(recs[i].offset, static_cast<std::int64_t>(i));
            auto colon = recs[i].value.find(':');
            int w = std::stoi(recs[i].value.substr(1, colon - 1));
            int seq = std::stoi(recs[i].value.substr(colon + 1));
            ASSERT_TRUE(seen.insert({w, seq}).second) << "duplicate " << recs[i].value;
            auto it = last.find(w);
            if (it != last.end()) {
                ASSERT_GT(seq, it->second);
            }
            last[w] = seq;
        }
        total += static_cast<std::int64_t>(recs.size());
    }
    EXPECT_EQ(total, std::int64_t{producers} * batches_per_producer * records_per_batch);
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(total));
}

TEST(log_concurrency, producers_by_partitions_memory_backend) {
    run(std::make_shared<memory_storage>(), "/c", 4, 8, 3000);
}

// Batches of 2-4 KiB: the ring copies them with streaming stores (spsc_byte_ring::
// stream_bytes_min), whose weak ordering the publishing fence must cover.
TEST(log_concurrency, large_batches_streamed_into_the_ring) {
    ASSERT_GE(testing::make_batch("w0:", 0, 150).size(), 2048u);  // stream_bytes_min
    run(std::make_shared<memory_storage>(), "/c", 3, 8, 600, 150);
}

TEST(log_concurrency, producers_by_partitions_real_files) {
    testing::temp_dir dir;
    run(nullptr, dir.path.string(), 3, 8, 2000);
}

}  // namespace
}  // namespace sluice::log
