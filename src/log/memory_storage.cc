// In-memory storage with fault injection, for recovery and fault tests.

#include <sluice/log/memory_storage.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sluice/base/assert.h>

namespace sluice::log {

struct memory_storage::file {
    std::string path;
    std::vector<std::byte> data;     // what reads see now
    std::vector<std::byte> durable;  // what survives a crash
    std::uint64_t allocated = 0;
    struct pending_write {
        std::uint64_t pos;
        std::vector<std::byte> bytes;
    };
    std::vector<pending_write> unsynced;  // writes since the last successful fsync
    bool size_dirty = false;              // truncate since last fsync
};

struct memory_storage::op {
    bool is_write = false;
    std::shared_ptr<file> f;
    std::uint64_t pos = 0;
    std::vector<std::byte> bytes;
    std::uint64_t user = 0;
    bool link_next = false;
};

memory_storage::memory_storage() = default;
memory_storage::~memory_storage() = default;

void memory_storage::set_capacity_bytes(std::uint64_t bytes) {
    std::lock_guard lk(_mu);
    _capacity = bytes;
}
void memory_storage::fail_next_fsyncs(int n) {
    std::lock_guard lk(_mu);
    _fail_fsyncs = n;
}
void memory_storage::fail_next_writes(int n) {
    std::lock_guard lk(_mu);
    _fail_writes = n;
}
void memory_storage::short_next_writes(int n) {
    std::lock_guard lk(_mu);
    _short_writes = n;
}

std::uint64_t memory_storage::used_locked() const {
    std::uint64_t used = 0;
    for (auto& [p, f] : _files) used += std::max<std::uint64_t>(f->data.size(), f->allocated);
    return used;
}

std::uint64_t memory_storage::used_bytes() const {
    std::lock_guard lk(_mu);
    return used_locked();
}

std::vector<std::string> memory_storage::files() const {
    std::lock_guard lk(_mu);
    std::vector<std::string> out;
    for (auto& [p, f] : _files) out.push_back(p);
    return out;
}

std::string memory_storage::contents(const std::string& path) const {
    std::lock_guard lk(_mu);
    auto it = _files.find(path);
    if (it == _files.end()) return {};
    return std::string(reinterpret_cast<const char*>(it->second->data.data()),
                       it->second->data.size());
}

void memory_storage::set_contents(const std::string& path, const std::string& data) {
    std::lock_guard lk(_mu);
    auto& f = _files[path];
    if (!f) {
        f = std::make_shared<file>();
        f->path = path;
    }
    const auto* b = reinterpret_cast<const std::byte*>(data.data());
    f->data.assign(b, b + data.size());
    f->durable = f->data;
    f->unsynced.clear();
}

void memory_storage::crash(std::uint64_t seed) {
    std::lock_guard lk(_mu);
    std::mt19937_64 rng(seed);
    for (auto& [p, f] : _files) {
        std::vector<std::byte> img = f->durable;
        if (!f->unsynced.empty()) {
            std::size_t keep = rng() % (f->unsynced.size() + 1);
            for (std::size_t i = 0; i < keep; ++i) {
                auto& w = f->unsynced[i];
                std::size_t len = w.bytes.size();
                if (i + 1 == keep && len > 0) len = rng() % (len + 1);  // torn
                if (img.size() < w.pos + len) img.resize(w.pos + len);
                std::memcpy(img.data() + w.pos, w.bytes.data(), len);
            }
        }
        f->data = img;
        f->durable = std::move(img);
        f->unsynced.clear();
    }
    _queue.clear();
    _done.clear();
}

errc memory_storage::make_dirs(const std::string& path) {
    std::lock_guard lk(_mu);
    std::string cur;
    std::size_t i = 0;
    while (i <= path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        cur = path.substr(0, j);
        if (!cur.empty()) _dirs[cur] = true;
        i = j + 1;
    }
    return errc::ok;
}

result<std::vector<std::string>> memory_storage::list(const std::string& dir) {
    std::lock_guard lk(_mu);
    if (!_dirs.count(dir)) return errc::not_found;
    std::string prefix = dir + "/";
    std::vector<std::string> out;
    auto add = [&](const std::string& p) {
        if (p.rfind(prefix, 0) != 0) return;
        std::string rest = p.substr(prefix.size());
        if (rest.empty() || rest.find('/') != std::string::npos) return;
        out.push_back(rest);
    };
    for (auto& [p, f] : _files) add(p);
    for (auto& [d, v] : _dirs) add(d);
    return out;
}

bool memory_storage::exists(const std::string& path) {
    std::lock_guard lk(_mu);
    return _files.count(path) || _dirs.count(path);
}

errc memory_storage::remove(const std::string& path) {
    std::lock_guard lk(_mu);
    return _files.erase(path) ? errc::ok : errc::not_found;
}

errc memory_storage::remove_all(const std::string& path) {
    std::lock_guard lk(_mu);
    std::string prefix = path + "/";
    std::erase_if(_files, [&](auto& kv) { return kv.first == path || kv.first.rfind(prefix, 0) == 0; });
    std::erase_if(_dirs, [&](auto& kv) { return kv.first == path || kv.first.rfind(prefix, 0) == 0; });
    return errc::ok;
}

errc memory_storage::rename(const std::string& from, const std::string& to) {
    std::lock_guard lk(_mu);
    if (_files.count(to) || _dirs.count(to)) return errc::invalid_argument;
    const std::string prefix = from + "/";
    bool any = false;
    // Re-keys every entry at `from` or below it; `fix` sees each moved node.
    auto move_tree = [&](auto& map, auto&& fix) {
        std::vector<std::string> keys;
        for (auto& kv : map)
            if (kv.first == from || kv.first.rfind(prefix, 0) == 0) keys.push_back(kv.first);
        for (auto& k : keys) {
            auto node = map.extract(k);
            node.key() = to + k.substr(from.size());
            fix(node);
            map.insert(std::move(node));
            any = true;
        }
    };
    move_tree(_files, [](auto& node) { node.mapped()->path = node.key(); });
    move_tree(_dirs, [](auto&) {});
    return any ? errc::ok : errc::not_found;
}

errc memory_storage::write_atomic(const std::string& path, bytes_view data) {
    std::lock_guard lk(_mu);
    std::uint64_t old = 0;
    if (auto it = _files.find(path); it != _files.end()) old = it->second->data.size();
    if (used_locked() - old + data.size() > _capacity) return errc::no_space;
    auto f = std::make_shared<file>();
    f->path = path;
    f->data.assign(data.begin(), data.end());
    f->durable = f->data;
    _files[path] = f;
    return errc::ok;
}

result<std::string> memory_storage::read_all(const std::string& path) {
    std::lock_guard lk(_mu);
    auto it = _files.find(path);
    if (it == _files.end()) return errc::not_found;
    return std::string(reinterpret_cast<const char*>(it->second->data.data()),
                       it->second->data.size());
}

result<int> memory_storage::open(const std::string& path, open_mode mode) {
    std::lock_guard lk(_mu);
    auto it = _files.find(path);
    if (it == _files.end()) {
        if (mode == open_mode::read_only) return errc::not_found;
        auto f = std::make_shared<file>();
        f->path = path;
        it = _files.emplace(path, f).first;
    }
    int fd = _next_fd++;
    _fds[fd] = it->second;
    return fd;
}

void memory_storage::close(int fd) {
    std::lock_guard lk(_mu);
    _fds.erase(fd);
}

result<std::uint64_t> memory_storage::size(int fd) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    return static_cast<std::uint64_t>(it->second->data.size());
}

errc memory_storage::truncate(int fd, std::uint64_t size_bytes) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    auto& f = *it->second;
    if (size_bytes > f.data.size() && used_locked() + (size_bytes - f.data.size()) > _capacity)
        return errc::no_space;
    f.data.resize(size_bytes);
    f.allocated = std::min<std::uint64_t>(f.allocated, std::max<std::uint64_t>(size_bytes, 0));
    // Truncation is a metadata change: model it as durable only after the next fsync, but
    // shrinking the durable image right away is the pessimistic choice for readers of a crash.
    if (f.durable.size() > size_bytes) f.durable.resize(size_bytes);
    std::erase_if(f.unsynced, [&](auto& w) { return w.pos >= size_bytes; });
    return errc::ok;
}

errc memory_storage::allocate(int fd, std::uint64_t pos, std::uint64_t len) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    auto& f = *it->second;
    std::uint64_t want = pos + len;
    if (want <= f.allocated) return errc::ok;
    std::uint64_t cur = std::max<std::uint64_t>(f.data.size(), f.allocated);
    if (want > cur && used_locked() + (want - cur) > _capacity) return errc::no_space;
    f.allocated = want;
    if (f.data.size() < want) f.data.resize(want);  // fallocate mode 0 extends the size (zeros)
    if (f.durable.size() < want) f.durable.resize(want);
    return errc::ok;
}

int memory_storage::do_fsync_locked(file& f) {
    if (_fail_fsyncs > 0) {
        --_fail_fsyncs;
        // Fsyncgate: after a failed fsync the dirty data may be gone; keep it in the page cache
        // (data) but never make it durable.
        f.unsynced.clear();
        return -EIO;
    }
    f.durable = f.data;
    f.unsynced.clear();
    return 0;
}

errc memory_storage::sync(int fd) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    int rc = do_fsync_locked(*it->second);
    return rc == 0 ? errc::ok : errc::io_error;
}

result<std::size_t> memory_storage::read(int fd, std::uint64_t pos, mutable_bytes out) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    auto& f = *it->second;
    if (pos >= f.data.size()) return std::size_t{0};
    std::size_t n = std::min<std::size_t>(out.size(), f.data.size() - pos);
    std::memcpy(out.data(), f.data.data() + pos, n);
    return n;
}

int memory_storage::do_write_locked(file& f, std::uint64_t pos, bytes_view data) {
    if (_fail_writes > 0) {
        --_fail_writes;
        return -EIO;
    }
    std::size_t len = data.size();
    if (_short_writes > 0) {
        --_short_writes;
        len = (len / 2) / alignment() * alignment();
    }
    std::uint64_t end = pos + len;
    std::uint64_t cur = std::max<std::uint64_t>(f.data.size(), f.allocated);
    if (end > cur && used_locked() + (end - cur) > _capacity) return -ENOSPC;
    if (f.data.size() < end) f.data.resize(end);
    std::memcpy(f.data.data() + pos, data.data(), len);
    f.unsynced.push_back({pos, std::vector<std::byte>(data.begin(), data.begin() + len)});
    return static_cast<int>(len);
}

errc memory_storage::submit_write(int fd, std::uint64_t pos, bytes_view data, std::uint64_t user,
                                  bool link_next) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    SLUICE_ASSERT(pos % alignment() == 0 && data.size() % alignment() == 0, "unaligned write");
    op o;
    o.is_write = true;
    o.f = it->second;
    o.pos = pos;
    o.bytes.assign(data.begin(), data.end());  // the kernel reads the buffer at submit time
    o.user = user;
    o.link_next = link_next;
    _queue.push_back(std::move(o));
    return errc::ok;
}

errc memory_storage::submit_fsync(int fd, std::uint64_t user) {
    std::lock_guard lk(_mu);
    auto it = _fds.find(fd);
    if (it == _fds.end()) return errc::invalid_argument;
    op o;
    o.f = it->second;
    o.user = user;
    _queue.push_back(std::move(o));
    return errc::ok;
}

std::size_t memory_storage::reap(std::span<io_completion> out, std::int64_t wait_ns) {
    std::unique_lock lk(_mu);
    bool cancel_next = false;
    for (auto& o : _queue) {
        int res;
        if (cancel_next) {
            res = -ECANCELED;
        } else if (o.is_write) {
            res = do_write_locked(*o.f, o.pos, o.bytes);
        } else {
            res = do_fsync_locked(*o.f);
        }
        bool failed = res < 0 || (o.is_write && static_cast<std::size_t>(res) < o.bytes.size());
        cancel_next = o.link_next && failed;
        _done.push_back({o.user, res});
    }
    _queue.clear();
    std::size_t n = std::min(out.size(), _done.size());
    std::copy_n(_done.begin(), n, out.begin());
    _done.erase(_done.begin(), _done.begin() + static_cast<std::ptrdiff_t>(n));
    lk.unlock();
    if (n == 0 && wait_ns > 0) {
        timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                    static_cast<long>(wait_ns % 1'000'000'000)};
        ::nanosleep(&ts, nullptr);
    }
    return n;
}

std::size_t memory_storage::pending() const noexcept {
    std::lock_guard lk(_mu);
    return _queue.size() + _done.size();
}

}  // namespace sluice::log
