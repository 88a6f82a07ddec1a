#pragma once
// The log the pipeline benchmarks write into: topic "sensors" (8 partitions) and its dead-letter
// topic "sensors.dlq" (1), created, writer started (unless `start_writer` is false: nothing
// drains the producer rings then). Errors are printed with `program` and give nullptr. Also the
// route of the capacity benchmarks into it (capacity_route).

#include <sluice/log/log_store.h>
#include <sluice/pipeline/pipeline.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

namespace sluice::perf {

inline std::unique_ptr<log::log_store> open_sensor_store(const log::store_options& so,
                                                         const char* program,
                                                         bool start_writer = true) {
    std::string err;
    auto store = log::log_store::open(so, &err);
    if (!store) {
        std::fprintf(stderr, "%s: log %s: %s\n", program, so.data_dir.c_str(), err.c_str());
        return nullptr;
    }
    for (auto [name, parts] : {std::pair<const char*, int>{"sensors", 8}, {"sensors.dlq", 1}}) {
        log::topic_spec spec;
        spec.name = name;
        spec.partitions = parts;
        if (store->create_topic(spec, &err) != errc::ok) {
            std::fprintf(stderr, "%s: %s\n", program, err.c_str());
            return nullptr;
        }
    }
    if (start_writer) store->start();
    return store;
}

// The sensors topic as the capacity benchmarks route it (bench-pipeline-dpdk, profile-pipeline,
// profile-rx-dpdk): key and required field /sensor_id, ingest time (no timestamp pointer).
inline pipeline::topic_route capacity_route(std::uint16_t port = 5140) {
    pipeline::topic_route r;
    r.name = "sensors";
    r.port = port;
    r.rules.key_pointer = "/sensor_id";
    r.rules.require_pointers = {"/sensor_id"};
    return r;
}

}  // namespace sluice::perf
