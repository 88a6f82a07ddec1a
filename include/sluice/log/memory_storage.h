#pragma once
// In-memory storage backend for tests: every file is a byte vector plus its durable image (what
// the last successful fsync made durable). Faults are injected through the public knobs below;
// crash() replaces every file by what a power loss could leave behind.

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <sluice/log/storage.h>

namespace sluice::log {

class memory_storage final : public storage {
public:
    memory_storage();
    ~memory_storage() override;

    // Fault knobs (thread-safe).
    // Total bytes the "disk" holds across all files; writes/allocations beyond it fail ENOSPC.
    void set_capacity_bytes(std::uint64_t bytes);
    // The next n fsyncs fail with EIO.
    void fail_next_fsyncs(int n);
    // The next n writes fail with EIO.
    void fail_next_writes(int n);
    // The next n writes complete short (half their length, rounded to alignment, at least one
    // block unless the write is one block: then 0 bytes).
    void short_next_writes(int n);

    // Power loss: each file keeps its durable image plus, in order, a random prefix of the writes
    // issued since its last fsync, the last of which may be torn at a random byte. Open files stay
    // open (callers should reopen the store).
    void crash(std::uint64_t seed);

    // Introspection for tests.
    [[nodiscard]] std::uint64_t used_bytes() const;
    [[nodiscard]] std::vector<std::string> files() const;
    [[nodiscard]] std::string contents(const std::string& path) const;
    void set_contents(const std::string& path, const std::string& data);  // durable too

    errc make_dirs(const std::string& path) override;
    result<std::vector<std::string>> list(const std::string& dir) override;
    bool exists(const std::string& path) override;
    errc remove(const std::string& path) override;
    errc remove_all(const std::string& path) override;
    errc rename(const std::string& from, const std::string& to) override;
    errc write_atomic(const std::string& path, bytes_view data) override;
    result<std::string> read_all(const std::string& path) override;
    result<int> open(const std::string& path, open_mode mode) override;
    void close(int fd) override;
    result<std::uint64_t> size(int fd) override;
    errc truncate(int fd, std::uint64_t size_bytes) override;
    errc allocate(int fd, std::uint64_t pos, std::uint64_t len) override;
    errc sync(int fd) override;
    result<std::size_t> read(int fd, std::uint64_t pos, mutable_bytes out) override;
    std::size_t alignment() const noexcept override { return 4096; }
    errc submit_write(int fd, std::uint64_t pos, bytes_view data, std::uint64_t user,
                      bool link_next) override;
    errc submit_fsync(int fd, std::uint64_t user) override;
    std::size_t reap(std::span<io_completion> out, std::int64_t wait_ns) override;
    std::size_t pending() const noexcept override;

private:
    struct file;
    struct op;
    [[nodiscard]] std::uint64_t used_locked() const;
    int do_write_locked(file& f, std::uint64_t pos, bytes_view data);
    int do_fsync_locked(file& f);

    mutable std::mutex _mu;
    std::map<std::string, std::shared_ptr<file>> _files;  // by path
    std::map<std::string, bool> _dirs;
    std::map<int, std::shared_ptr<file>> _fds;
    int _next_fd = 3;
    std::uint64_t _capacity = ~std::uint64_t{0};
    int _fail_fsyncs = 0;
    int _fail_writes = 0;
    int _short_writes = 0;
    std::vector<op> _queue;
    std::vector<io_completion> _done;
};

}  // namespace sluice::log
