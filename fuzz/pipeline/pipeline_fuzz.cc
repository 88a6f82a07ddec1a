// Fuzz target: hostile datagrams through the whole per-core pipeline (allow-list, rate limit,
// routing, parse, partition, batch, DLQ). Batches are built and checksummed but not written
// (simulate_storage), so memory stays flat. After every input the counting invariant must hold
// and nothing may stay in flight after a flush.

#include <sluice/config/config.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/pipeline/pipeline.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace sluice;

struct harness {
    std::unique_ptr<log::log_store> store;
    std::unique_ptr<pipeline::pipeline_set> set;
    std::unique_ptr<pipeline::pipeline> p;
    config::allow_list allow;

    harness() {
        std::string err;
        log::store_options so;
        so.data_dir = "/fuzz";
        so.backend = std::make_shared<log::memory_storage>();
        store = log::log_store::open(so, &err);
        if (!store) std::abort();
        for (const auto& [name, parts] : {std::pair{"keyed", 4}, std::pair{"keyed.dlq", 1},
                                          std::pair{"plain", 3}, std::pair{"plain.dlq", 1}}) {
            log::topic_spec t;
            t.name = name;
            t.partitions = parts;
            if (store->create_topic(t, &err) != errc::ok) std::abort();
        }
        if (!allow.add("10.0.0.0/8", &err) || !allow.add("fd00::/8", &err)) std::abort();
        pipeline::pipeline_options o;
        pipeline::topic_route a;
        a.name = "keyed";
        a.port = 1;
        a.rules.key_pointer = "/id";
        a.rules.require_pointers = {"/id", "/a/0"};
        a.rules.timestamp_pointer = "/ts";
        pipeline::topic_route b;
        b.name = "plain";
        b.port = 2;
        o.topics = {a, b};
        o.allow = &allow;
        o.rate_limit_per_source = 1000;
        o.rate_limit_burst = 64;
        o.rate_table_entries = 8;
        o.events_per_datagram_max = 8;
        o.dlq_value_bytes_max = 100;
        o.batch_bytes = 2048;
        o.simulate_storage = true;
        set = pipeline::pipeline_set::make(*store, o, &err);
        if (!set) std::abort();
        p = set->make_pipeline(0, &err);
        if (!p) std::abort();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness h;
    // Input: records of [port selector u8][source u8][len u16 LE][payload], up to 32 datagrams.
    std::vector<std::vector<std::byte>> bufs;
    std::vector<pipeline::datagram> burst;
    std::size_t at = 0;
    while (at + 4 <= size && burst.size() < 32) {
        const std::uint8_t sel = data[at], src = data[at + 1];
        std::size_t len = static_cast<std::size_t>(data[at + 2]) | (static_cast<std::size_t>(data[at + 3]) << 8);
        at += 4;
        len = std::min(len, size - at);
        const std::size_t tail = (sel & 0x80) ? 64 : (sel & 0x3f);
        bufs.emplace_back(len + tail);
        if (len != 0) std::memcpy(bufs.back().data(), data + at, len);
        at += len;
        pipeline::datagram d;
        d.payload = bytes_view(bufs.back().data(), len);
        d.tailroom = tail;
        d.dst_port = static_cast<std::uint16_t>(sel % 3);  // 0: unrouted, 1: keyed, 2: plain
        if (src & 0x80) {
            d.src.v6 = true;
            d.src.bytes[0] = (src & 1) ? 0xfd : 0x20;
            d.src.bytes[15] = src;
        } else {
            d.src = net::ip_address::v4((src & 1) ? 10 : 192, 0, 2, src);
        }
        d.src_port = src;
        d.rx_wall_ms = (src & 2) ? 0 : 1'700'000'000'000;
        burst.push_back(d);
    }
    if (h.p->process(burst) != burst.size()) std::abort();
    auto snap = h.set->counters();
    for (const auto& t : snap.topics)
        if (!t.balanced()) std::abort();
    h.p->flush();
    snap = h.set->counters();
    for (const auto& t : snap.topics)
        if (!t.balanced() || t.in_flight != 0) std::abort();
    return 0;
}
