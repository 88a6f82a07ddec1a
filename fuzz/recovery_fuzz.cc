// libFuzzer target `recovery`: a mutated segment directory (two segment files and a recovery
// point cut from the input) must never crash recovery; whatever recovery keeps must read back as
// CRC-valid, dense batches up to the high watermark, and appends must continue after it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include <sluice/base/assert.h>
#include <sluice/log/log_store.h>
#include <sluice/log/memory_storage.h>
#include <sluice/log/record_batch.h>

using namespace sluice;
using namespace sluice::log;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);  // recovery warns about every torn segment
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    // Layout: u16 split point, u8 second segment base (x 1), u8 flags, rest = bytes.
    std::size_t split = (std::size_t{data[0]} << 8 | data[1]);
    std::int64_t base2 = data[2];
    bool clean = data[3] & 1;
    std::string rest(reinterpret_cast<const char*>(data + 4), size - 4);
    split = rest.empty() ? 0 : split % (rest.size() + 1);

    auto mem = std::make_shared<memory_storage>();
    mem->set_contents("/d/topics", "f 1 -1 -1 1048576 -1\n");
    (void)mem->make_dirs("/d/f-0");
    mem->set_contents("/d/f-0/00000000000000000000.log", rest.substr(0, split));
    if (data[3] & 2) {
        char name[64];
        std::snprintf(name, sizeof name, "/d/f-0/%020lld.log", static_cast<long long>(base2));
        mem->set_contents(name, rest.substr(split));
    }
    if (data[3] & 4) mem->set_contents("/d/f-0/recovery-point", std::to_string(base2) + "\n");
    if (clean) mem->set_contents("/d/.clean_shutdown", "clean\n");

    store_options o;
    o.data_dir = "/d";
    o.backend = mem;
    o.max_partitions = 4;
    o.max_appenders = 2;
    o.ring_bytes = 64 * 1024;
    o.max_batch_bytes = 16 * 1024;
    o.recovery_threads = 1;
    std::string err;
    auto s = log_store::open(o, &err);
    if (!s) return 0;  // a clear error is an acceptable outcome
    auto p = s->find_partition("f", 0);
    SLUICE_ASSERT(p.has_value());
    const std::int64_t hwm = s->high_watermark(*p);
    std::int64_t pos = s->log_start_offset(*p);
    SLUICE_ASSERT(pos <= hwm);
    std::vector<std::byte> buf(1 << 20);
    int guard = 0;
    while (pos < hwm && guard++ < 100000) {
        auto n = s->read(*p, pos, buf);
        SLUICE_ASSERT(n.ok() && *n > 0, "recovered data must be readable");
        std::size_t at = 0;
        while (at < *n) {
            batch_header h;
            SLUICE_ASSERT(validate_batch(bytes_view(buf.data() + at, *n - at), &h) == errc::ok);
            SLUICE_ASSERT(h.next_offset() > pos);
            pos = h.next_offset();
            at += h.total_bytes();
        }
    }
    SLUICE_ASSERT(pos == hwm);
    return 0;
}
