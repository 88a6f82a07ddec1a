// CRC-32C through ISA-L. ISA-L's crc32_iscsi neither pre- nor post-inverts: it takes the raw
// register value and returns the raw register. The standard CRC-32C is
// ~crc32_iscsi(data, ~0), so extending a finished CRC means feeding ~crc back in.

#include <sluice/log/crc32c.h>

#include <climits>
#include <cstddef>

#include <isa-l/crc.h>

namespace sluice::log {
namespace {

// crc32_iscsi takes an int length; feed larger inputs in chunks.
std::uint32_t raw_crc(std::uint32_t reg, bytes_view data) noexcept {
    constexpr std::size_t chunk_bytes_max = std::size_t{1} << 30;
    // crc32_iscsi takes a non-const pointer but only reads through it.
    auto* p = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(data.data()));
    std::size_t left = data.size();
    while (left > 0) {
        const std::size_t n = left < chunk_bytes_max ? left : chunk_bytes_max;
        reg = crc32_iscsi(p, static_cast<int>(n), reg);
        p += n;
        left -= n;
    }
    return reg;
}

}  // namespace

std::uint32_t crc32c(bytes_view data) noexcept {
    return ~raw_crc(0xffff'ffffu, data);
}

std::uint32_t crc32c_extend(std::uint32_t crc, bytes_view data) noexcept {
    return ~raw_crc(~crc, data);
}

}  // namespace sluice::log
