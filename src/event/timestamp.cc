// Timestamp conversions: epoch numbers by magnitude, RFC 3339 strings.

#include <sluice/event/event.h>

#include <cmath>
#include <limits>

namespace sluice::event {

namespace {

constexpr double sec_limit = 1e11;   // below: seconds (up to year 5138)
constexpr double ms_limit = 1e14;    // below: milliseconds
constexpr double us_limit = 1e17;    // below: microseconds; else nanoseconds

// Floor division for a positive divisor.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t q = a / b;
    if ((a % b != 0) && (a < 0)) --q;
    return q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr bool is_leap(std::int64_t y) noexcept {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
    constexpr unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

// Reads exactly n digits at s[i..i+n).
bool digits(std::string_view s, std::size_t i, std::size_t n, unsigned& out) noexcept {
    if (i + n > s.size()) return false;
    unsigned v = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const char c = s[i + k];
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    out = v;
    return true;
}

}  // namespace

result<std::int64_t> epoch_number_to_ms(double v) noexcept {
    if (!std::isfinite(v)) return errc::bad_timestamp;
    const double a = std::fabs(v);
    double ms;
    if (a < sec_limit) ms = v * 1e3;
    else if (a < ms_limit) ms = v;
    else if (a < us_limit) ms = v / 1e3;
    else ms = v / 1e6;
    ms = std::floor(ms);
    // 9.2e18 is the int64 bound; stay well inside so the conversion is defined.
    if (!(ms > -9.0e18 && ms < 9.0e18)) return errc::bad_timestamp;
    return static_cast<std::int64_t>(ms);
}

result<std::int64_t> epoch_integer_to_ms(std::int64_t v) noexcept {
    if (v == std::numeric_limits<std::int64_t>::min()) return errc::bad_timestamp;
    const std::int64_t a = v < 0 ? -v : v;
    if (a < 100'000'000'000LL) return v * 1000;
    if (a < 100'000'000'000'000LL) return v;
    if (a < 100'000'000'000'000'000LL) return floor_div(v, 1000);
    return floor_div(v, 1'000'000);
}

result<std::int64_t> rfc3339_to_ms(std::string_view s) noexcept {
    // YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|(+|-)HH[:]MM)
    unsigned year, month, day, hour, minute, second;
    if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, month) ||
        s[7] != '-' || !digits(s, 8, 2, day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, hour) ||
        s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second)) {
        return errc::bad_timestamp;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60) {
        return errc::bad_timestamp;
    }
    std::size_t i = 19;
    std::int64_t frac_ms = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t n = 0;
        std::int64_t scale = 100;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 3) {
                frac_ms += (s[i] - '0') * scale;
                scale /= 10;
            }
            ++n;
            ++i;
            if (n > 18) return errc::bad_timestamp;  // bound the loop on hostile input
        }
        if (n == 0) return errc::bad_timestamp;
    }
    if (i >= s.size()) return errc::bad_timestamp;  // the offset is mandatory
    std::int64_t offset_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        ++i;
    } else if (s[i] == '+' || s[i] == '-') {
        const bool neg = s[i] == '-';
        unsigned oh, om;
        if (!digits(s, i + 1, 2, oh)) return errc::bad_timestamp;
        std::size_t j = i + 3;
        if (j < s.size() && s[j] == ':') ++j;
        if (!digits(s, j, 2, om) || oh > 23 || om > 59) return errc::bad_timestamp;
        offset_min = static_cast<std::int64_t>(oh) * 60 + om;
        if (neg) offset_min = -offset_min;
        i = j + 2;
    } else {
        return errc::bad_timestamp;
    }
    if (i != s.size()) return errc::bad_timestamp;
    const std::int64_t days = days_from_civil(year, month, day);
    const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    return secs * 1000 + frac_ms;
}

}  // namespace sluice::event
