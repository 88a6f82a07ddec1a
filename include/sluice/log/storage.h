#pragma once
// The storage interface under the log. Two backends: real files (O_DIRECT data writes and
// fdatasync through io_uring; control operations as plain syscalls) and an in-memory backend that
// can inject faults (torn writes, failed fdatasync, ENOSPC, EIO) and simulate a crash, so recovery
// is testable without a real disk.
//
// Control operations are thread-safe. submit_* and reap are called by the writer thread only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sluice/base/bytes.h>
#include <sluice/base/errc.h>

namespace sluice::log {

struct io_completion {
    std::uint64_t user = 0;
    std::int32_t res = 0;  // bytes written (write), 0 (fsync), or -errno
};

enum class open_mode : std::uint8_t {
    direct_rw,    // data writes: O_DIRECT where the filesystem supports it, created if missing
    buffered_rw,  // created if missing
    read_only,
};

// Maps an errno value to the log's error values (ENOSPC/EDQUOT → no_space, else io_error).
[[nodiscard]] errc errno_to_errc(int err) noexcept;

class storage {
public:
    virtual ~storage() = default;

    // Control plane.
    [[nodiscard]] virtual errc make_dirs(const std::string& path) = 0;
    [[nodiscard]] virtual result<std::vector<std::string>> list(const std::string& dir) = 0;
    [[nodiscard]] virtual bool exists(const std::string& path) = 0;
    [[nodiscard]] virtual errc remove(const std::string& path) = 0;      // a file
    [[nodiscard]] virtual errc remove_all(const std::string& path) = 0;  // a tree
    // Renames a file or a whole tree (open files stay open and usable); `to` must not exist.
    [[nodiscard]] virtual errc rename(const std::string& from, const std::string& to) = 0;
    // Write a small file atomically and durably (temp file, fsync, rename, fsync dir).
    [[nodiscard]] virtual errc write_atomic(const std::string& path, bytes_view data) = 0;
    [[nodiscard]] virtual result<std::string> read_all(const std::string& path) = 0;

    [[nodiscard]] virtual result<int> open(const std::string& path, open_mode mode) = 0;
    virtual void close(int fd) = 0;
    [[nodiscard]] virtual result<std::uint64_t> size(int fd) = 0;
    [[nodiscard]] virtual errc truncate(int fd, std::uint64_t size_bytes) = 0;
    [[nodiscard]] virtual errc allocate(int fd, std::uint64_t pos, std::uint64_t len) = 0;
    [[nodiscard]] virtual errc sync(int fd) = 0;
    // Synchronous positional read; short at end of file.
    [[nodiscard]] virtual result<std::size_t> read(int fd, std::uint64_t pos, mutable_bytes out) = 0;

    // Data path (writer thread only). Writes to direct_rw files: pos, data.size() and the
    // buffer address are multiples of alignment(). `link_next` orders the next submitted
    // operation after this one (it fails with -ECANCELED if this one fails or is short).
    [[nodiscard]] virtual std::size_t alignment() const noexcept = 0;
    [[nodiscard]] virtual errc submit_write(int fd, std::uint64_t pos, bytes_view data,
                                            std::uint64_t user, bool link_next = false) = 0;
    [[nodiscard]] virtual errc submit_fsync(int fd, std::uint64_t user) = 0;
    // Submits what was queued and reaps up to out.size() completions, waiting up to wait_ns for
    // the first one when none is ready (0 = do not wait).
    [[nodiscard]] virtual std::size_t reap(std::span<io_completion> out, std::int64_t wait_ns) = 0;
    // Operations submitted and not yet reaped.
    [[nodiscard]] virtual std::size_t pending() const noexcept = 0;
    // Writer thread, once at its start, before any submit: keeps the kernel threads that run
    // this thread's operations asynchronously (io_uring io-wq workers: fdatasync and fallocate
    // are punted to them) on `cpu`, as the writer itself, so they stay off pipeline cores.
    // errc::ok when set or when the backend has no such threads; unsupported / invalid_argument
    // when the kernel refused (callers log it and go on: a placement hint, not a requirement).
    [[nodiscard]] virtual errc pin_io_workers(int cpu) {
        (void)cpu;
        return errc::ok;
    }
};

// Real files with io_uring. Returns null and sets `error` if io_uring cannot be set up.
[[nodiscard]] std::shared_ptr<storage> make_file_storage(std::string* error);

// In-memory backend with fault injection (see memory_storage.h).
class memory_storage;

}  // namespace sluice::log
