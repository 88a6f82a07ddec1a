// libFuzzer target: arbitrary bytes as one Kafka request frame body, through the full decoder and
// handlers (kafka::broker) over a log_store on memory storage. Must never crash or leak state.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <sluice/kafka/broker.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>

namespace {

struct fixture {
    std::unique_ptr<sluice::log::log_store> store;
    std::unique_ptr<sluice::kafka::broker> broker;
    std::int64_t now_ms = 1'000'000;
    std::uint64_t seq = 0;

    fixture() {
        sluice::log::store_options so;
        so.data_dir = (std::filesystem::temp_directory_path() /
                       ("sluice-fuzz-kafka-" + std::to_string(::getpid()))).string();
        so.backend = std::make_shared<sluice::log::memory_storage>();
        so.max_partitions = 64;
        std::string err;
        store = sluice::log::log_store::open(so, &err);
        if (!store) __builtin_trap();
        sluice::log::topic_spec t;
        t.name = "t";
        t.partitions = 2;
        (void)store->create_topic(t, &err);
        store->start();
        sluice::kafka::broker_options bo;
        bo.auto_create_partitions = 0;
        bo.offsets_dir = so.data_dir + "/offsets";
        broker = sluice::kafka::broker::create(*store, bo, &err);
        if (!broker) __builtin_trap();
        dir = so.data_dir;
    }
    ~fixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string dir;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fixture f;
    std::vector<std::byte> response;
    std::vector<sluice::kafka::completed_response> done;
    sluice::kafka::request_context ctx{1, f.seq++, "/127.0.0.1", f.now_ms};
    (void)f.broker->handle(sluice::bytes_view(reinterpret_cast<const std::byte*>(data), size), ctx, response);
    if (!response.empty() && response.size() < 4) __builtin_trap();
    // Let every deferred request and group timer complete, then forget the connection.
    f.now_ms += 10'000'000;
    f.broker->poll(f.now_ms, done);
    f.broker->connection_closed(1);
    return 0;
}
