// Real-file storage: control operations as plain syscalls, data writes and fdatasync through one
// io_uring owned by the writer thread.

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <sluice/base/assert.h>
#include <sluice/log/storage.h>

#include <spdlog/spdlog.h>

namespace sluice::log {

errc errno_to_errc(int err) noexcept {
    if (err < 0) err = -err;
    if (err == ENOSPC || err == EDQUOT) return errc::no_space;
    if (err == ENOENT) return errc::not_found;
    return errc::io_error;
}

namespace {

constexpr unsigned ring_entries = 256;

class file_storage final : public storage {
public:
    file_storage() = default;
    ~file_storage() override {
        if (_ring_ok) io_uring_queue_exit(&_ring);
    }

    bool init(std::string* error) {
        int rc = io_uring_queue_init(ring_entries, &_ring, 0);
        if (rc < 0) {
            if (error) *error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
            return false;
        }
        _ring_ok = true;
        return true;
    }

    errc make_dirs(const std::string& path) override {
        std::error_code ec;
        std::filesystem::create_directories(path, ec);
        return ec ? errno_to_errc(ec.value()) : errc::ok;
    }

    result<std::vector<std::string>> list(const std::string& dir) override {
        DIR* d = ::opendir(dir.c_str());
        if (!d) return errno_to_errc(errno);
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(std::move(n));
        }
        ::closedir(d);
        return names;
    }

    bool exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

    errc remove(const std::string& path) override {
        return ::unlink(path.c_str()) == 0 ? errc::ok : errno_to_errc(errno);
    }

    errc remove_all(const std::string& path) override {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        return ec ? errno_to_errc(ec.value()) : errc::ok;
    }

    errc rename(const std::string& from, const std::string& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0) return errno_to_errc(errno);
        // Make the new name durable: fsync the parent directory.
        const std::string parent = std::filesystem::path(to).parent_path().string();
        int dfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return errno_to_errc(errno);
        const int rc = ::fsync(dfd);
        const int err = errno;
        ::close(dfd);
        return rc == 0 ? errc::ok : errno_to_errc(err);
    }

    errc write_atomic(const std::string& path, bytes_view data) override {
        std::string tmp = path + ".tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return errno_to_errc(errno);
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::write(fd, data.data() + done, data.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                ::close(fd);
                return errno_to_errc(err);
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fdatasync(fd) != 0) {
            int err = errno;
            ::close(fd);
            return errno_to_errc(err);
        }
        ::close(fd);
        if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_to_errc(errno);
        return sync_dir(std::filesystem::path(path).parent_path().string());
    }

    result<std::string> read_all(const std::string& path) override {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno_to_errc(errno);
        std::string out;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                ::close(fd);
                return errno_to_errc(err);
            }
            if (n == 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        return out;
    }

    result<int> open(const std::string& path, open_mode mode) override {
        int flags = O_CLOEXEC;
        switch (mode) {
            case open_mode::direct_rw: flags |= O_RDWR | O_CREAT | O_DIRECT; break;
            case open_mode::buffered_rw: flags |= O_RDWR | O_CREAT; break;
            case open_mode::read_only: flags |= O_RDONLY; break;
        }
        int fd = ::open(path.c_str(), flags, 0644);
        if (fd < 0 && mode == open_mode::direct_rw && errno == EINVAL) {
            // The filesystem has no O_DIRECT (e.g. older tmpfs): buffered writes; durability is
            // still given by fdatasync.
            fd = ::open(path.c_str(), (flags & ~O_DIRECT), 0644);
        }
        if (fd < 0) return errno_to_errc(errno);
        if (mode != open_mode::read_only) {
            // A new file's directory entry must be durable before we rely on it.
            (void)sync_dir(std::filesystem::path(path).parent_path().string());
        }
        return fd;
    }

    void close(int fd) override { ::close(fd); }

    result<std::uint64_t> size(int fd) override {
        struct stat st;
        if (::fstat(fd, &st) != 0) return errno_to_errc(errno);
        return static_cast<std::uint64_t>(st.st_size);
    }

    errc truncate(int fd, std::uint64_t size_bytes) override {
        return ::ftruncate(fd, static_cast<off_t>(size_bytes)) == 0 ? errc::ok : errno_to_errc(errno);
    }

    errc allocate(int fd, std::uint64_t pos, std::uint64_t len) override {
        int rc = ::fallocate(fd, 0, static_cast<off_t>(pos), static_cast<off_t>(len));
        if (rc == 0) return errc::ok;
        if (errno == EOPNOTSUPP) return errc::ok;  // filesystem without fallocate: writes extend
        return errno_to_errc(errno);
    }

    errc sync(int fd) override { return ::fdatasync(fd) == 0 ? errc::ok : errno_to_errc(errno); }

    result<std::size_t> read(int fd, std::uint64_t pos, mutable_bytes out) override {
        std::size_t done = 0;
        while (done < out.size()) {
            ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                                static_cast<off_t>(pos + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno_to_errc(errno);
            }
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        return done;
    }

    std::size_t alignment() const noexcept override { return 4096; }

    errc submit_write(int fd, std::uint64_t pos, bytes_view data, std::uint64_t user,
                      bool link_next) override {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return errc::full;
        io_uring_prep_write(sqe, fd, data.data(), static_cast<unsigned>(data.size()), pos);
        io_uring_sqe_set_data64(sqe, user);
        if (link_next) sqe->flags |= IOSQE_IO_LINK;
        ++_pending;
        return errc::ok;
    }

    errc submit_fsync(int fd, std::uint64_t user) override {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return errc::full;
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, user);
        ++_pending;
        return errc::ok;
    }

    std::size_t reap(std::span<io_completion> out, std::int64_t wait_ns) override {
        if (io_uring_sq_ready(&_ring) > 0) {
            int rc = io_uring_submit(&_ring);
            SLUICE_ASSERT(rc >= 0 || rc == -EBUSY || rc == -EAGAIN || rc == -EINTR,
                          "io_uring_submit failed");
        }
        std::size_t n = collect(out);
        if (n == 0 && wait_ns > 0 && _pending > 0) {
            __kernel_timespec ts{};
            ts.tv_sec = wait_ns / 1'000'000'000;
            ts.tv_nsec = wait_ns % 1'000'000'000;
            io_uring_cqe* cqe = nullptr;
            int rc = io_uring_wait_cqe_timeout(&_ring, &cqe, &ts);
            if (rc == 0) n = collect(out);
        } else if (n == 0 && wait_ns > 0) {
            timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                        static_cast<long>(wait_ns % 1'000'000'000)};
            ::nanosleep(&ts, nullptr);
        }
        return n;
    }

    std::size_t pending() const noexcept override { return _pending; }

    errc pin_io_workers(int cpu) override {
        if (cpu < 0 || cpu >= CPU_SETSIZE) return errc::invalid_argument;
        cpu_set_t mask;
        CPU_ZERO(&mask);
        CPU_SET(cpu, &mask);
        int rc = io_uring_register_iowq_aff(&_ring, sizeof mask, &mask);
        if (rc == -EINVAL && _pending == 0) {
            // io-wq is per submitting thread, created at its first submission: this thread
            // (not the one that set the ring up) has none yet. One NOP creates it.
            if (io_uring_sqe* sqe = io_uring_get_sqe(&_ring)) {
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data64(sqe, 0);
                io_uring_cqe* cqe = nullptr;
                if (io_uring_submit_and_wait(&_ring, 1) >= 0 && io_uring_wait_cqe(&_ring, &cqe) == 0)
                    io_uring_cqe_seen(&_ring, cqe);
                rc = io_uring_register_iowq_aff(&_ring, sizeof mask, &mask);
            }
        }
        if (rc == 0) return errc::ok;
        spdlog::debug("log: io_uring io-wq workers not pinned to cpu {}: {}", cpu,
                      std::strerror(-rc));
        return rc == -EINVAL ? errc::invalid_argument : errc::unsupported;
    }

private:
    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&_ring);
        if (!sqe) {
            (void)io_uring_submit(&_ring);
            sqe = io_uring_get_sqe(&_ring);
        }
        return sqe;
    }

    std::size_t collect(std::span<io_completion> out) {
        std::size_t n = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&_ring, head, cqe) {
            if (n == out.size()) break;
            out[n].user = io_uring_cqe_get_data64(cqe);
            out[n].res = cqe->res;
            ++n;
        }
        io_uring_cq_advance(&_ring, static_cast<unsigned>(n));
        _pending -= n;
        return n;
    }

    static errc sync_dir(const std::string& dir) {
        int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return errno_to_errc(errno);
        int rc = ::fsync(fd);
        int err = errno;
        ::close(fd);
        return rc == 0 ? errc::ok : errno_to_errc(err);
    }

    io_uring _ring{};
    bool _ring_ok = false;
    std::size_t _pending = 0;
};

}  // namespace

std::shared_ptr<storage> make_file_storage(std::string* error) {
    auto s = std::make_shared<file_storage>();
    if (!s->init(error)) return nullptr;
    return s;
}

}  // namespace sluice::log
