// log_store: append/read, restart, rolls, retention, recovery after simulated crashes, and
// storage faults through the in-memory backend.

#include <gtest/gtest.h>

#include <sched.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/log/segment_scan.h>
#include <sluice/log/storage.h>

#include "log_test_util.h"

namespace sluice::log {
namespace {

using testing::make_batch;
using testing::read_all;
using testing::wait_for;

store_options mem_options(std::shared_ptr<memory_storage> st) {
    store_options o;
    o.data_dir = "/data";
    o.backend = std::move(st);
    o.flush_interval_us = 1000;
    o.ring_bytes = 1 << 20;
    o.max_partitions = 64;
    o.max_appenders = 8;
    return o;
}

std::unique_ptr<log_store> must_open(const store_options& o) {
    std::string err;
    auto s = log_store::open(o, &err);
    EXPECT_TRUE(s) << err;
    return s;
}

topic_spec topic(const std::string& name, int partitions) {
    topic_spec t;
    t.name = name;
    t.partitions = partitions;
    return t;
}

TEST(log_store, append_then_read_back_in_order) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("t", 2)), errc::ok);
    auto p0 = *s->find_partition("t", 0);
    auto p1 = *s->find_partition("t", 1);
    s->start();
    auto a = s->make_appender();
    ASSERT_TRUE(a);
    for (int i = 0; i < 100; ++i) {
        auto b = make_batch("v", i * 10, 10);
        ASSERT_EQ(a->try_append(i % 2 ? p1 : p0, b), errc::ok);
    }
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p0) == 500 && s->high_watermark(p1) == 500; }));
    EXPECT_EQ(a->in_flight(), 0u);
    std::string problem;
    auto r0 = read_all(*s, p0, -1, &problem);
    EXPECT_EQ(problem, "");
    ASSERT_EQ(r0.size(), 500u);
    for (int i = 0; i < 500; ++i) {
        EXPECT_EQ(r0[i].offset, i);
        // Partition 0 got batches 0, 2, 4, ...: values 0..9, 20..29, ...
        int batch = i / 10, rec = i % 10;
        EXPECT_EQ(r0[i].value, "v" + std::to_string(batch * 20 + rec));
    }
    // Reading from the middle of a batch starts at that batch; read_all skips earlier records.
    auto mid = read_all(*s, p1, 255);
    ASSERT_EQ(mid.size(), 245u);
    EXPECT_EQ(mid.front().offset, 255);
    s->stop();
}

TEST(log_store, completions_report_base_offsets_after_durability) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("t", 1)), errc::ok);
    auto p = *s->find_partition("t", 0);
    s->start();
    auto a = s->make_appender();
    for (int i = 0; i < 20; ++i) ASSERT_EQ(a->try_append(p, make_batch("x", 0, 3), 100 + i), errc::ok);
    std::vector<append_completion> got;
    ASSERT_TRUE(wait_for([&] {
        append_completion c[8];
        std::size_t n = a->poll_completions(c);
        got.insert(got.end(), c, c + n);
        return got.size() == 20;
    }));
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(got[i].token, 100u + i);
        EXPECT_EQ(got[i].base_offset, i * 3);
        EXPECT_EQ(got[i].error, errc::ok);
        EXPECT_GE(s->high_watermark(p), got[i].base_offset + 3);
    }
}

TEST(log_store, rejects_bad_input_without_damage) {
    auto mem = std::make_shared<memory_storage>();
    auto o = mem_options(mem);
    o.max_batch_bytes = 4096;
    auto s = must_open(o);
    ASSERT_EQ(s->create_topic(topic("t", 1)), errc::ok);
    auto p = *s->find_partition("t", 0);
    s->start();
    auto a = s->make_appender();
    auto good = make_batch("g", 0, 2);
    EXPECT_EQ(a->try_append(p, make_batch("big", 0, 500)), errc::too_large);
    auto bad = good;
    bad[16] = std::byte{1};  // magic 1
    EXPECT_EQ(a->try_append(p, bad), errc::bad_magic);
    EXPECT_EQ(a->try_append(p, bytes_view(good).first(30)), errc::truncated);
    EXPECT_EQ(a->try_append(partition_index{999}, good, 7), errc::ok);  // unknown: writer rejects
    append_completion c{};
    ASSERT_TRUE(wait_for([&] { return a->poll_completions({&c, 1}) == 1; }));
    EXPECT_EQ(c.error, errc::not_found);
    EXPECT_EQ(a->try_append(p, good), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 2; }));
    EXPECT_GE(s->stats().appends_rejected, 1u);
    EXPECT_EQ(s->create_topic(topic("bad/name", 1)), errc::invalid_argument);
    EXPECT_EQ(s->create_topic(topic("t", 1)), errc::invalid_argument);
}

TEST(log_store, topics_and_data_survive_restart_on_real_files) {
    testing::temp_dir dir;
    store_options o;
    o.data_dir = dir.path.string();
    o.max_partitions = 64;
    {
        auto s = must_open(o);
        ASSERT_EQ(s->create_topic(topic("events", 3)), errc::ok);
        s->start();
        auto a = s->make_appender();
        auto p = *s->find_partition("events", 2);
        for (int i = 0; i < 50; ++i) ASSERT_EQ(a->try_append(p, make_batch("e", i * 4, 4)), errc::ok);
        ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 200; }));
        s->stop();
    }
    ASSERT_TRUE(std::filesystem::exists(dir.path / "events-2" / "00000000000000000000.log"));
    ASSERT_TRUE(std::filesystem::exists(dir.path / "events-2" / "00000000000000000000.index"));
    auto s = must_open(o);
    auto t = s->find_topic("events");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->partitions, 3);
    auto p = *s->find_partition("events", 2);
    EXPECT_EQ(s->high_watermark(p), 200);
    s->start();
    auto a = s->make_appender();
    ASSERT_EQ(a->try_append(p, make_batch("e", 200, 5)), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 205; }));
    auto all = read_all(*s, p);
    ASSERT_EQ(all.size(), 205u);
    for (int i = 0; i < 205; ++i) {
        ASSERT_EQ(all[i].offset, i);
        ASSERT_EQ(all[i].value, "e" + std::to_string(i));
    }
}

// check_room says full exactly when try_append would refuse for room, and counts it as
// try_append does (the pipeline skips finishing a batch it would discard on that answer).
TEST(log_store, check_room_agrees_with_try_append) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));  // 1 MiB ring; the writer is not started: nothing drains
    ASSERT_EQ(s->create_topic(topic("t", 1)), errc::ok);
    auto p = *s->find_partition("t", 0);
    auto a = s->make_appender();
    const auto batch = make_batch("value-with-some-padding-", 0, 200);
    const bytes_view b(batch.data(), batch.size());
    std::uint64_t accepted = 0, full = 0;
    for (int i = 0; i < 100000; ++i) {
        const errc room = a->check_room(b.size(), 1);
        if (room == errc::full) {
            ++full;
            EXPECT_EQ(s->stats().appends_full, full);
            // try_append refuses it too (and counts it once more).
            EXPECT_EQ(a->try_append(p, b, 1), errc::full);
            EXPECT_EQ(s->stats().appends_full, full + 1);
            break;
        }
        ASSERT_EQ(room, errc::ok);
        EXPECT_EQ(s->stats().appends_full, 0u);
        ASSERT_EQ(a->try_append(p, b, 1), errc::ok) << i;
        ++accepted;
    }
    EXPECT_EQ(full, 1u);
    EXPECT_GT(accepted, 10u);
    EXPECT_LT(accepted * b.size(), std::size_t{1} << 20);
    // Too large for the ring: not "full" here; try_append says too_large.
    EXPECT_EQ(a->check_room(std::size_t{1} << 20, 0), errc::ok);
}

TEST(log_store, rolls_segments_and_enforces_retention) {
    testing::temp_dir dir;
    store_options o;
    o.data_dir = dir.path.string();
    o.max_partitions = 8;
    auto s = must_open(o);
    auto t = topic("r", 1);
    t.segment_bytes = 16 * 1024;
    t.retention_bytes = 40 * 1024;
    ASSERT_EQ(s->create_topic(t), errc::ok);
    auto p = *s->find_partition("r", 0);
    s->start();
    auto a = s->make_appender();
    for (int i = 0; i < 200; ++i) {
        while (a->try_append(p, make_batch("value-with-some-padding-", i * 10, 10)) == errc::full) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 2000; }));
    auto st = s->stats(p);
    // ~90 KiB in 16 KiB segments: rolled many times. The writer's own retention pass (once a
    // second) may already have removed the oldest ones when the disk is slow.
    EXPECT_TRUE(st.segments > 5 || s->log_start_offset(p) > 0) << st.segments;
    s->enforce_retention();
    auto after = s->stats(p);
    EXPECT_LE(after.segments, st.segments);
    EXPECT_LE(after.bytes_on_disk, 40 * 1024 + 16 * 1024);
    std::int64_t start = s->log_start_offset(p);
    EXPECT_GT(start, 0);
    std::vector<std::byte> buf(4096);
    EXPECT_EQ(s->read(p, start - 1, buf).error(), errc::out_of_range);
    auto rest = read_all(*s, p);
    ASSERT_EQ(rest.size(), static_cast<std::size_t>(2000 - start));
    EXPECT_EQ(rest.front().offset, start);
    s->stop();
    // Segments on disk are all intact and contiguous.
    auto reopened = must_open(o);
    EXPECT_EQ(reopened->high_watermark(p), 2000);
    EXPECT_EQ(reopened->log_start_offset(p), start);
}

TEST(log_store, deleted_topic_created_again_starts_empty) {
    auto mem = std::make_shared<memory_storage>();
    auto o = mem_options(mem);
    {
        auto s = must_open(o);
        ASSERT_EQ(s->create_topic(topic("t", 2)), errc::ok);
        s->start();
        auto a = s->make_appender();
        ASSERT_TRUE(a);
        auto p0 = *s->find_partition("t", 0);
        for (int i = 0; i < 20; ++i) ASSERT_EQ(a->try_append(p0, make_batch("old", i * 5, 5)), errc::ok);
        ASSERT_TRUE(wait_for([&] { return s->high_watermark(p0) == 100; }));
        // Delete while the writer runs and create the same name at once: the old files must
        // not be picked up by the new topic, nor removed from under it.
        ASSERT_EQ(s->delete_topic("t"), errc::ok);
        EXPECT_FALSE(s->find_partition("t", 0));
        ASSERT_EQ(s->create_topic(topic("t", 2)), errc::ok);
        auto n0 = *s->find_partition("t", 0);
        EXPECT_EQ(s->high_watermark(n0), 0);
        for (int i = 0; i < 3; ++i) ASSERT_EQ(a->try_append(n0, make_batch("new", i * 2, 2)), errc::ok);
        ASSERT_TRUE(wait_for([&] { return s->high_watermark(n0) == 6; }));
        // The writer removes the renamed trees of the deleted partitions.
        ASSERT_TRUE(wait_for([&] {
            for (auto& f : mem->files())
                if (f.find("-delete") != std::string::npos) return false;
            return true;
        }));
        s->stop();
    }
    // A tree renamed by a deletion that did not finish before the stop is removed at open.
    ASSERT_EQ(mem->make_dirs("/data/t-1.77-delete"), errc::ok);
    mem->set_contents("/data/t-1.77-delete/00000000000000000000.log", "junk");
    auto s = must_open(o);
    for (auto& f : mem->files()) EXPECT_EQ(f.find("-delete"), std::string::npos) << f;
    auto n0 = *s->find_partition("t", 0);
    auto recs = read_all(*s, n0);
    ASSERT_EQ(recs.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(recs[i].offset, i);
        EXPECT_EQ(recs[i].value, "new" + std::to_string(i));
    }
    EXPECT_EQ(s->high_watermark(*s->find_partition("t", 1)), 0);
}

TEST(log_store, read_reports_too_large_and_needed_size) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("t", 1)), errc::ok);
    auto p = *s->find_partition("t", 0);
    s->start();
    auto a = s->make_appender();
    auto b = make_batch("x", 0, 50);
    ASSERT_EQ(a->try_append(p, b), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 50; }));
    std::vector<std::byte> small(100);
    std::size_t needed = 0;
    auto r = s->read(p, 0, small, &needed);
    EXPECT_EQ(r.error(), errc::too_large);
    EXPECT_EQ(needed, b.size());
    std::vector<std::byte> big(b.size());
    auto r2 = s->read(p, 10, big);
    ASSERT_TRUE(r2);
    EXPECT_EQ(*r2, b.size());
    EXPECT_EQ(s->read(p, 51, big).error(), errc::out_of_range);
    EXPECT_EQ(*s->read(p, 50, big), 0u);
}

TEST(log_store, offset_for_timestamp_finds_first_record_at_or_after) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("t", 1)), errc::ok);
    auto p = *s->find_partition("t", 0);
    s->start();
    auto a = s->make_appender();
    for (int i = 0; i < 10; ++i) ASSERT_EQ(a->try_append(p, make_batch("x", 0, 10, 1000 * i)), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 100; }));
    EXPECT_EQ(s->offset_for_timestamp(p, 0), 0);
    EXPECT_EQ(s->offset_for_timestamp(p, 3005), 35);
    EXPECT_EQ(s->offset_for_timestamp(p, 3010), 40);
    EXPECT_EQ(s->offset_for_timestamp(p, 999999), 100);
}

// Power loss at random moments (memory backend): recovery yields a CRC-valid prefix holding
// every offset that was durable before the crash, and appends continue densely after it.
TEST(log_store_faults, recovers_prefix_after_simulated_crashes) {
    for (std::uint64_t seed = 1; seed <= 25; ++seed) {
        auto mem = std::make_shared<memory_storage>();
        auto o = mem_options(mem);
        auto t = topic("c", 2);
        t.segment_bytes = 32 * 1024;
        std::int64_t durable0 = 0, durable1 = 0;
        {
            auto s = must_open(o);
            ASSERT_EQ(s->create_topic(t), errc::ok);
            s->start();
            auto a = s->make_appender();
            auto p0 = *s->find_partition("c", 0), p1 = *s->find_partition("c", 1);
            int n = 50 + static_cast<int>(seed * 37 % 200);
            for (int i = 0; i < n; ++i)
                (void)a->try_append(i % 3 ? p0 : p1, make_batch("c", i * 5, 5));
            std::this_thread::sleep_for(std::chrono::microseconds(seed * 300));
            durable0 = s->high_watermark(p0);
            durable1 = s->high_watermark(p1);
            mem->crash(seed);  // power loss now; the process "dies" with the store
            // The store object still runs; detach it from the crashed image by failing all
            // further I/O, then drop it.
            mem->fail_next_writes(1 << 30);
            mem->fail_next_fsyncs(1 << 30);
        }
        mem->fail_next_writes(0);
        mem->fail_next_fsyncs(0);
        mem->crash(seed + 1000);  // anything the dying store wrote after the crash is gone too
        auto s = must_open(o);
        auto p0 = *s->find_partition("c", 0), p1 = *s->find_partition("c", 1);
        EXPECT_GE(s->high_watermark(p0), durable0) << "seed " << seed;
        EXPECT_GE(s->high_watermark(p1), durable1) << "seed " << seed;
        std::string problem;
        auto r0 = read_all(*s, p0, -1, &problem);
        EXPECT_EQ(problem, "") << "seed " << seed;
        EXPECT_EQ(static_cast<std::int64_t>(r0.size()), s->high_watermark(p0));
        for (std::size_t i = 0; i < r0.size(); ++i) ASSERT_EQ(r0[i].offset, static_cast<std::int64_t>(i));
        s->start();
        auto a = s->make_appender();
        std::int64_t before = s->high_watermark(p0);
        ASSERT_EQ(a->try_append(p0, make_batch("after", 0, 2)), errc::ok);
        ASSERT_TRUE(wait_for([&] { return s->high_watermark(p0) == before + 2; })) << "seed " << seed;
    }
}

TEST(log_store_faults, failed_fdatasync_never_acknowledges) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("f", 2)), errc::ok);
    auto p0 = *s->find_partition("f", 0), p1 = *s->find_partition("f", 1);
    s->start();
    auto a = s->make_appender();
    ASSERT_EQ(a->try_append(p0, make_batch("ok", 0, 1), 1), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p0) == 1; }));
    append_completion c[4];
    ASSERT_TRUE(wait_for([&] { return a->poll_completions({c, 1}) == 1; }));
    mem->fail_next_fsyncs(1);
    ASSERT_EQ(a->try_append(p0, make_batch("lost", 0, 1), 2), errc::ok);
    ASSERT_TRUE(wait_for([&] { return a->poll_completions({c, 1}) == 1; }));
    EXPECT_EQ(c[0].token, 2u);
    EXPECT_EQ(c[0].error, errc::io_error);
    EXPECT_EQ(s->high_watermark(p0), 1);
    EXPECT_EQ(s->stats(p0).state, errc::io_error);
    EXPECT_GE(s->stats().io_errors, 1u);
    // Other partitions are unaffected.
    ASSERT_EQ(a->try_append(p1, make_batch("ok", 0, 3), 3), errc::ok);
    ASSERT_TRUE(wait_for([&] { return a->poll_completions({c, 1}) == 1; }));
    EXPECT_EQ(c[0].error, errc::ok);
    EXPECT_EQ(s->high_watermark(p1), 3);
}

TEST(log_store_faults, write_eio_fails_partition) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("f", 1)), errc::ok);
    auto p = *s->find_partition("f", 0);
    s->start();
    auto a = s->make_appender();
    mem->fail_next_writes(1);
    ASSERT_EQ(a->try_append(p, make_batch("x", 0, 1), 9), errc::ok);
    append_completion c{};
    ASSERT_TRUE(wait_for([&] { return a->poll_completions({&c, 1}) == 1; }));
    EXPECT_EQ(c.error, errc::io_error);
    EXPECT_EQ(s->high_watermark(p), 0);
}

TEST(log_store_faults, short_writes_are_completed) {
    auto mem = std::make_shared<memory_storage>();
    auto s = must_open(mem_options(mem));
    ASSERT_EQ(s->create_topic(topic("s", 1)), errc::ok);
    auto p = *s->find_partition("s", 0);
    s->start();
    auto a = s->make_appender();
    mem->short_next_writes(10);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(a->try_append(p, make_batch("short-write-value-", i * 20, 20)), errc::ok);
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == 2000; }));
    auto all = read_all(*s, p);
    ASSERT_EQ(all.size(), 2000u);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(all[i].value, "short-write-value-" + std::to_string(i));
}

TEST(log_store_faults, disk_full_backpressure_then_resume) {
    auto mem = std::make_shared<memory_storage>();
    auto o = mem_options(mem);
    o.ring_bytes = 256 * 1024;
    auto s = must_open(o);
    ASSERT_EQ(s->create_topic(topic("d", 1)), errc::ok);
    auto p = *s->find_partition("d", 0);
    mem->set_capacity_bytes(mem->used_bytes() + 64 * 1024);
    s->start();
    auto a = s->make_appender();
    int accepted = 0, full = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (full < 50 && std::chrono::steady_clock::now() < deadline) {
        if (a->try_append(p, make_batch("fill-the-disk-", accepted * 10, 10)) == errc::ok) ++accepted;
        else ++full, std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GE(full, 50) << "appends never saw backpressure";
    ASSERT_TRUE(wait_for([&] { return s->stats(p).state == errc::no_space; }));
    std::int64_t stuck = s->high_watermark(p);
    EXPECT_LT(stuck, accepted * 10);
    EXPECT_GE(s->stats().no_space_errors, 1u);
    // Everything durable so far is intact.
    EXPECT_EQ(static_cast<std::int64_t>(read_all(*s, p).size()), stuck);
    mem->set_capacity_bytes(~std::uint64_t{0});  // space returns
    ASSERT_TRUE(wait_for([&] { return s->high_watermark(p) == accepted * 10; }));
    auto all = read_all(*s, p);
    ASSERT_EQ(all.size(), static_cast<std::size_t>(accepted * 10));
    for (int i = 0; i < accepted * 10; ++i) ASSERT_EQ(all[i].value, "fill-the-disk-" + std::to_string(i));
}

// Cpus_allowed_list of one of this process's threads ("" if it is gone).
std::string cpus_allowed(const std::string& tid) {
    std::ifstream in("/proc/self/task/" + tid + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Cpus_allowed_list:", 0) == 0) {
            std::size_t i = line.find_first_not_of(" \t", 18);
            return i == std::string::npos ? "" : line.substr(i);
        }
    return "";
}

// pin_io_workers on the writer's thread keeps its io-wq workers (which run the punted
// fdatasync) on that cpu: every "iou-wrk-<writer tid>" thread is allowed that cpu only.
TEST(file_storage, io_workers_follow_pin) {
    cpu_set_t allowed;
    ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    int cpu = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) cpu = c;  // the last allowed cpu
    ASSERT_GE(cpu, 0);
    testing::temp_dir dir;
    std::string err;
    auto st = make_file_storage(&err);  // set up on this thread, used on another: as log_store
    ASSERT_TRUE(st) << err;
    errc pinned = errc::ok;
    bool synced = false;
    std::vector<std::string> workers;
    std::vector<std::string> worker_cpus;
    std::thread writer([&] {
        pinned = st->pin_io_workers(cpu);
        if (pinned != errc::ok) return;
        const std::string tid = std::to_string(::gettid());
        auto fd = st->open((dir.path / "f").string(), open_mode::buffered_rw);
        if (!fd) return;
        for (int round = 0; round < 4; ++round) {
            if (st->submit_fsync(fd.value(), 1) != errc::ok) break;
            std::array<io_completion, 4> done;
            std::size_t n = 0;
            for (int i = 0; i < 1000 && n == 0; ++i) n = st->reap(done, 10'000'000);
            synced = n == 1 && done[0].res == 0;
        }
        // The workers are still there (they idle for seconds before exiting).
        for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
            const std::string t = e.path().filename().string();
            std::ifstream comm(e.path() / "comm");
            std::string name;
            std::getline(comm, name);
            if (name == ("iou-wrk-" + tid).substr(0, 15)) {
                workers.push_back(t);
                worker_cpus.push_back(cpus_allowed(t));
            }
        }
        st->close(fd.value());
    });
    writer.join();
    if (pinned == errc::unsupported || pinned == errc::invalid_argument)
        GTEST_SKIP() << "the kernel refused IORING_REGISTER_IOWQ_AFF";
    ASSERT_EQ(pinned, errc::ok);
    EXPECT_TRUE(synced);
    ASSERT_FALSE(workers.empty()) << "no io-wq worker ran the fdatasync";
    for (std::size_t i = 0; i < workers.size(); ++i)
        EXPECT_EQ(worker_cpus[i], std::to_string(cpu)) << "worker " << workers[i];
}

TEST(segment_scan, stops_at_torn_batch_and_accepts_zero_tail) {
    auto mem = std::make_shared<memory_storage>();
    auto b1 = make_batch("a", 0, 3);
    auto b2 = make_batch("b", 3, 3);
    stamp_batch(b2, 3, 0);
    std::string img(reinterpret_cast<char*>(b1.data()), b1.size());
    img.append(reinterpret_cast<char*>(b2.data()), b2.size());
    mem->set_contents("/x.log", img + std::string(5000, '\0'));
    auto fd = mem->open("/x.log", open_mode::read_only);
    scan_options so;
    so.expected_base = 0;
    auto r = scan_segment(*mem, *fd, so);
    EXPECT_EQ(r.stop, errc::ok);
    EXPECT_EQ(r.batches, 2u);
    EXPECT_EQ(r.records, 6u);
    EXPECT_EQ(r.valid_bytes, b1.size() + b2.size());
    EXPECT_EQ(r.next_offset, 6);
    // Torn second batch.
    mem->set_contents("/x.log", img.substr(0, img.size() - 7));
    auto r2 = scan_segment(*mem, *fd, so);
    EXPECT_EQ(r2.stop, errc::truncated);
    EXPECT_EQ(r2.valid_bytes, b1.size());
    // Corrupted byte inside the second batch's CRC range.
    std::string bad = img;
    bad[b1.size() + 70] ^= 0x5a;
    mem->set_contents("/x.log", bad);
    auto r3 = scan_segment(*mem, *fd, so);
    EXPECT_EQ(r3.stop, errc::bad_crc);
    EXPECT_EQ(r3.batches, 1u);
    // Offset discontinuity.
    so.expected_base = 10;
    mem->set_contents("/x.log", img);
    EXPECT_EQ(scan_segment(*mem, *fd, so).stop, errc::out_of_range);
}

}  // namespace
}  // namespace sluice::log
