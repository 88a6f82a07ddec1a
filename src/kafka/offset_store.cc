// Durable committed offsets; see include/sluice/kafka/offset_store.h.
// Entry: u32 payload_bytes | u32 crc32c(payload) | payload, big-endian; payload =
//   i16 group_len group | i16 topic_len topic | i32 partition | i64 offset | i32 leader_epoch |
//   i64 commit_timestamp_ms | i16 metadata_len (-1 = null) metadata

#include <sluice/kafka/offset_store.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <sluice/kafka/codec.h>
#include <sluice/log/crc32c.h>

namespace sluice::kafka {

namespace {

constexpr const char* journal_name = "offsets.journal";
constexpr std::uint32_t entry_payload_max = 1 << 20;
constexpr std::uint64_t compact_floor_bytes = 4 << 20;

void encode_entry(std::vector<std::byte>& out, std::string_view group, std::string_view topic,
                  std::int32_t partition, const committed_offset& v) {
    std::size_t start = out.size();
    writer w(out);
    w.i32(0);
    w.i32(0);
    w.string(group);
    w.string(topic);
    w.i32(partition);
    w.i64(v.offset);
    w.i32(v.leader_epoch);
    w.i64(v.commit_timestamp_ms);
    w.nullable_string(v.metadata ? std::optional<std::string_view>(*v.metadata) : std::nullopt);
    auto payload = bytes_view(out).subspan(start + 8);
    store_be(out.data() + start, static_cast<std::uint32_t>(payload.size()));
    store_be(out.data() + start + 4, log::crc32c(payload));
}

bool write_all(int fd, const std::vector<std::byte>& buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void sync_dir(const std::string& dir) {
    int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        (void)::fsync(d);
        ::close(d);
    }
}

}  // namespace

std::unique_ptr<offset_store> offset_store::open(const std::string& dir, std::string* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        if (error) *error = "cannot create " + dir + ": " + ec.message();
        return nullptr;
    }
    std::unique_ptr<offset_store> s(new offset_store());
    s->_dir = dir;
    std::string path = dir + "/" + journal_name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (error) *error = "cannot open " + path + ": " + std::strerror(errno);
        return nullptr;
    }
    // Replay.
    std::vector<std::byte> data;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
        data.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < data.size()) {
            ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        data.resize(got);
    }
    ::close(fd);
    std::size_t pos = 0;
    while (data.size() - pos >= 8) {
        auto len = load_be<std::uint32_t>(data.data() + pos);
        auto crc = load_be<std::uint32_t>(data.data() + pos + 4);
        if (len > entry_payload_max || data.size() - pos - 8 < len) break;
        bytes_view payload(data.data() + pos + 8, len);
        if (log::crc32c(payload) != crc) break;
        reader r(payload);
        std::string group(r.string());
        std::string topic(r.string());
        std::int32_t partition = r.i32();
        committed_offset v;
        v.offset = r.i64();
        v.leader_epoch = r.i32();
        v.commit_timestamp_ms = r.i64();
        auto md = r.nullable_string();
        if (!r.ok()) break;
        if (md) v.metadata = std::string(*md);
        s->_offsets[key{std::move(group), std::move(topic), partition}] = std::move(v);
        pos += 8 + len;
    }
    // Rewrite a compact journal (this also drops any torn tail).
    if (errc e = s->compact(); e != errc::ok) {
        if (error) *error = "cannot write " + path + ": " + std::string(to_string(e));
        return nullptr;
    }
    return s;
}

offset_store::~offset_store() {
    if (_fd >= 0) ::close(_fd);
}

errc offset_store::compact() {
    std::vector<std::byte> buf;
    for (const auto& [k, v] : _offsets) {
        encode_entry(buf, std::get<0>(k), std::get<1>(k), std::get<2>(k), v);
    }
    std::string path = _dir + "/" + journal_name;
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno == ENOSPC ? errc::no_space : errc::io_error;
    if (!write_all(fd, buf) || ::fdatasync(fd) != 0) {
        errc e = errno == ENOSPC ? errc::no_space : errc::io_error;
        ::close(fd);
        return e;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return errc::io_error;
    sync_dir(_dir);
    if (_fd >= 0) ::close(_fd);
    _fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (_fd < 0) return errc::io_error;
    _journal_bytes = buf.size();
    return errc::ok;
}

errc offset_store::commit(std::string_view group, const std::vector<offset_commit_entry>& entries) {
    if (entries.empty()) return errc::ok;
    if (_fd < 0) return errc::closed;
    std::vector<std::byte> buf;
    for (const auto& e : entries) encode_entry(buf, group, e.topic, e.partition, e.value);
    if (!write_all(_fd, buf) || ::fdatasync(_fd) != 0) {
        return errno == ENOSPC ? errc::no_space : errc::io_error;
    }
    _journal_bytes += buf.size();
    {
        // Only the map update is under the lock (snapshot() readers); the write and the
        // fdatasync above are not.
        std::lock_guard lock(_mu);
        for (const auto& e : entries) {
            _offsets[key{std::string(group), e.topic, e.partition}] = e.value;
        }
    }
    if (_journal_bytes > compact_floor_bytes && _journal_bytes > 4 * 64 * _offsets.size()) {
        (void)compact();  // best effort; the journal stays valid if it fails
    }
    return errc::ok;
}

std::optional<committed_offset> offset_store::get(std::string_view group, std::string_view topic,
                                                  std::int32_t partition) const {
    auto it = _offsets.find(key{std::string(group), std::string(topic), partition});
    if (it == _offsets.end()) return std::nullopt;
    return it->second;
}

std::vector<offset_commit_entry> offset_store::list(std::string_view group) const {
    std::vector<offset_commit_entry> out;
    auto it = _offsets.lower_bound(key{std::string(group), std::string(), INT32_MIN});
    for (; it != _offsets.end() && std::get<0>(it->first) == group; ++it) {
        out.push_back({std::get<1>(it->first), std::get<2>(it->first), it->second});
    }
    return out;
}

std::vector<committed_offset_entry> offset_store::snapshot() const {
    std::vector<committed_offset_entry> out;
    std::lock_guard lock(_mu);
    out.reserve(_offsets.size());
    for (const auto& [k, v] : _offsets) {
        out.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), v.offset, v.commit_timestamp_ms});
    }
    return out;
}

std::vector<std::string> offset_store::groups() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : _offsets) {
        if (out.empty() || out.back() != std::get<0>(k)) out.push_back(std::get<0>(k));
    }
    return out;
}

}  // namespace sluice::kafka
