#pragma once
// A log storage whose data writes complete at once and are discarded (benchmarks'
// --simulate-storage, profile-pipeline): the log's writer still drains the producer rings,
// stamps offsets and completes batches, but nothing reaches a disk. Control files
// (topics.json, checkpoints) go to an in-memory backend.

#include <sluice/log/memory_storage.h>
#include <sluice/log/storage.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace sluice::perf {

class discard_storage final : public log::storage {
public:
    errc make_dirs(const std::string& p) override { return _m.make_dirs(p); }
    result<std::vector<std::string>> list(const std::string& d) override { return _m.list(d); }
    bool exists(const std::string& p) override { return _m.exists(p); }
    errc remove(const std::string& p) override { return _m.remove(p); }
    errc remove_all(const std::string& p) override { return _m.remove_all(p); }
    errc rename(const std::string& f, const std::string& t) override { return _m.rename(f, t); }
    errc write_atomic(const std::string& p, bytes_view d) override { return _m.write_atomic(p, d); }
    result<std::string> read_all(const std::string& p) override { return _m.read_all(p); }
    result<int> open(const std::string& p, log::open_mode m) override { return _m.open(p, m); }
    void close(int fd) override { _m.close(fd); }
    result<std::uint64_t> size(int fd) override { return _m.size(fd); }
    errc truncate(int fd, std::uint64_t n) override { return _m.truncate(fd, n); }
    errc allocate(int, std::uint64_t, std::uint64_t) override { return errc::ok; }
    errc sync(int) override { return errc::ok; }
    result<std::size_t> read(int fd, std::uint64_t pos, mutable_bytes out) override {
        return _m.read(fd, pos, out);
    }
    std::size_t alignment() const noexcept override { return 4096; }
    errc submit_write(int, std::uint64_t, bytes_view data, std::uint64_t user, bool) override {
        _done.push_back({user, static_cast<std::int32_t>(data.size())});
        return errc::ok;
    }
    errc submit_fsync(int, std::uint64_t user) override {
        _done.push_back({user, 0});
        return errc::ok;
    }
    std::size_t reap(std::span<log::io_completion> out, std::int64_t wait_ns) override {
        if (_done.empty() && wait_ns > 0)
            std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(wait_ns, 50'000)));
        const std::size_t n = std::min(out.size(), _done.size());
        std::copy_n(_done.begin(), n, out.begin());
        _done.erase(_done.begin(), _done.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }
    std::size_t pending() const noexcept override { return _done.size(); }

private:
    log::memory_storage _m;
    std::vector<log::io_completion> _done;  // writer thread only
};

}  // namespace sluice::perf
