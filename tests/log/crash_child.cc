// Test helper for crash_test: appends to <dir> at full speed until killed, printing the durable
// high watermark of each partition ("hwm <partition> <offset>") as it moves. Every record's value
// is "o<offset>" (its own offset), so the parent can prove nothing was lost, duplicated or moved.

#include <cstdio>
#include <string>
#include <vector>

#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

using namespace sluice;
using namespace sluice::log;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: crash_child DIR\n");
        return 2;
    }
    store_options o;
    o.data_dir = argv[1];
    o.flush_interval_us = 2000;
    o.max_partitions = 16;
    std::string err;
    auto s = log_store::open(o, &err);
    if (!s) {
        std::fprintf(stderr, "open: %s\n", err.c_str());
        return 1;
    }
    constexpr int partitions = 4;
    if (!s->find_topic("crash")) {
        topic_spec t;
        t.name = "crash";
        t.partitions = partitions;
        t.segment_bytes = 256 * 1024;  // rolls happen during the run too
        if (s->create_topic(t, &err) != errc::ok) {
            std::fprintf(stderr, "create: %s\n", err.c_str());
            return 1;
        }
    }
    s->start();
    auto a = s->make_appender();
    std::vector<std::int64_t> next(partitions), reported(partitions, -1);
    std::vector<partition_index> idx(partitions);
    for (int p = 0; p < partitions; ++p) {
        idx[p] = *s->find_partition("crash", p);
        next[p] = s->high_watermark(idx[p]);
    }
    std::vector<std::byte> buf(64 * 1024);
    for (std::uint64_t i = 0;; ++i) {
        int p = static_cast<int>(i % partitions);
        batch_builder b(buf);
        int n = 1 + static_cast<int>(i % 17);
        for (int r = 0; r < n; ++r) {
            std::string v = "o" + std::to_string(next[p] + r);
            (void)b.append(1'700'000'000'000 + static_cast<std::int64_t>(i), std::nullopt, as_bytes(v));
        }
        auto batch = b.finish();
        if (a->try_append(idx[p], batch) == errc::ok) next[p] += n;
        if (i % 64 == 0) {
            for (int q = 0; q < partitions; ++q) {
                std::int64_t h = s->high_watermark(idx[q]);
                if (h != reported[q]) {
                    std::printf("hwm %d %lld\n", q, static_cast<long long>(h));
                    reported[q] = h;
                }
            }
            std::fflush(stdout);
        }
    }
}
