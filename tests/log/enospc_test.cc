// Real ENOSPC: the log on a 24 MiB tmpfs. Appends hit a full disk, get backpressure, nothing
// durable is damaged, and writing resumes by itself once space is freed.

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <fstream>

#include "log_test_util.h"

namespace sluice::log {
namespace {

TEST(log_enospc, real_tmpfs_full_then_space_returns) {
    testing::temp_dir dir;
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
    if (::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, "size=24m") != 0)
        GTEST_SKIP() << "cannot mount tmpfs: " << std::strerror(errno);
    struct unmounter {
        std::string path;
        ~unmounter() { ::umount2(path.c_str(), MNT_DETACH); }
    } um{dir.path.string()};

    // Ballast leaves a few MiB for the log.
    auto ballast = dir.path / "ballast";
    {
        std::ofstream f(ballast, std::ios::binary);
        std::string mb(1 << 20, 'b');
        for (int i = 0; i < 18; ++i) f << mb;
    }
    store_options o;
    o.data_dir = (dir.path / "data").string();
    o.max_partitions = 4;
    o.ring_bytes = 1 << 20;
    std::string err;
    auto s = log_store::open(o, &err);
    ASSERT_TRUE(s) << err;
    topic_spec t;
    t.name = "full";
    t.partitions = 1;
    t.segment_bytes = 64 << 20;  // fallocate-ahead asks for more than there is
    ASSERT_EQ(s->create_topic(t, &err), errc::ok) << err;
    auto p = *s->find_partition("full", 0);
    s->start();
    auto a = s->make_appender();
    int accepted = 0, full = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (full < 200 && std::chrono::steady_clock::now() < deadline) {
        if (a->try_append(p, testing::make_batch("enospc-padding-padding-padding-", accepted * 50, 50)) == errc::ok) {
            ++accepted;
        } else {
            ++full;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    ASSERT_GE(full, 200) << "never saw backpressure";
    ASSERT_TRUE(testing::wait_for([&] { return s->stats(p).state == errc::no_space; }));
    const std::int64_t stuck = s->high_watermark(p);
    EXPECT_LT(stuck, std::int64_t{accepted} * 50);
    EXPECT_GE(s->stats().no_space_errors, 1u);
    std::string problem;
    EXPECT_EQ(static_cast<std::int64_t>(testing::read_all(*s, p, -1, &problem).size()), stuck);
    EXPECT_EQ(problem, "");

    std::filesystem::remove(ballast);  // space returns
    ASSERT_TRUE(testing::wait_for([&] { return s->high_watermark(p) == std::int64_t{accepted} * 50; },
                                  std::chrono::seconds(30)));
    auto all = testing::read_all(*s, p, -1, &problem);
    EXPECT_EQ(problem, "");
    ASSERT_EQ(all.size(), static_cast<std::size_t>(accepted) * 50);
    for (std::size_t i = 0; i < all.size(); ++i)
        ASSERT_EQ(all[i].value, "enospc-padding-padding-padding-" + std::to_string(i));
    s->stop();
    s.reset();
    // And it comes back after a restart.
    auto again = log_store::open(o, &err);
    ASSERT_TRUE(again) << err;
    EXPECT_EQ(again->high_watermark(p), std::int64_t{accepted} * 50);
}

}  // namespace
}  // namespace sluice::log
