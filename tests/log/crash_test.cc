// A child process appends at full speed and is SIGKILLed at random moments (20+ times). After
// each kill, recovery must yield a CRC-valid, dense prefix holding every offset that the child
// saw durable (high watermark) before it died.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <sstream>

#include "log_test_util.h"

extern char** environ;

namespace sluice::log {
namespace {

TEST(log_crash, sigkill_during_appends_recovers_everything_durable) {
    const char* child = std::getenv("SLUICE_CRASH_CHILD");
    ASSERT_NE(child, nullptr) << "SLUICE_CRASH_CHILD not set (meson sets it)";
    testing::temp_dir dir;
    std::mt19937 rng(12345);
    std::vector<std::int64_t> durable(4, 0);
    int kills = 0;
    for (int round = 0; round < 22; ++round) {
        int out[2];
        ASSERT_EQ(::pipe(out), 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        std::string d = dir.path.string();
        char* argv[] = {const_cast<char*>(child), d.data(), nullptr};
        pid_t pid;
        ASSERT_EQ(posix_spawn(&pid, child, &fa, nullptr, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        // Let it run 30..400 ms while collecting the durable watermarks it reports.
        auto run_for = std::chrono::milliseconds(30 + rng() % 370);
        auto until = std::chrono::steady_clock::now() + run_for;
        std::string pending;
        auto consume = [&](int timeout_ms) {
            pollfd pfd{out[0], POLLIN, 0};
            if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
            char buf[4096];
            ssize_t n = ::read(out[0], buf, sizeof buf);
            if (n <= 0) return false;
            pending.append(buf, static_cast<std::size_t>(n));
            std::size_t nl;
            while ((nl = pending.find('\n')) != std::string::npos) {
                std::istringstream line(pending.substr(0, nl));
                pending.erase(0, nl + 1);
                std::string tag;
                int p;
                long long h;
                if (line >> tag >> p >> h && tag == "hwm" && p >= 0 && p < 4)
                    durable[p] = std::max<std::int64_t>(durable[p], h);
            }
            return true;
        };
        while (std::chrono::steady_clock::now() < until) consume(5);
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        ++kills;
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (consume(0)) {
        }
        ::close(out[0]);
        ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself, status " << status;

        store_options o;
        o.data_dir = d;
        o.max_partitions = 16;
        std::string err;
        auto s = log_store::open(o, &err);
        ASSERT_TRUE(s) << "round " << round << ": " << err;
        for (int p = 0; p < 4; ++p) {
            auto pi = *s->find_partition("crash", p);
            ASSERT_GE(s->high_watermark(pi), durable[p]) << "round " << round << " partition " << p;
            std::string problem;
            auto recs = testing::read_all(*s, pi, -1, &problem);
            ASSERT_EQ(problem, "") << "round " << round;
            ASSERT_EQ(static_cast<std::int64_t>(recs.size()), s->high_watermark(pi));
            for (std::size_t i = 0; i < recs.size(); ++i) {
                ASSERT_EQ(recs[i].offset, static_cast<std::int64_t>(i));
                ASSERT_EQ(recs[i].value, "o" + std::to_string(i)) << "round " << round;
            }
            durable[p] = s->high_watermark(pi);
        }
        s.reset();
        if (const char* bin = std::getenv("SLUICE_BIN")) {
            std::string cmd = std::string(bin) + " log verify " + d + " > /dev/null";
            ASSERT_EQ(std::system(cmd.c_str()), 0) << "sluice log verify failed, round " << round;
        }
    }
    EXPECT_GE(kills, 20);
    EXPECT_GT(durable[0] + durable[1] + durable[2] + durable[3], 1000) << "the child barely ran";
}

}  // namespace
}  // namespace sluice::log
