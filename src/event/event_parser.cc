// Event framing (one object or NDJSON lines), full validation and field extraction with
// simdjson (DOM fast path, on-demand full walk as the exact fallback), error-code API only.

#include <sluice/base/assert.h>
#include <sluice/event/event.h>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include <emmintrin.h>  // SSE2: part of every x86-64 baseline
#if defined(__AVX2__) || defined(__BMI2__)
#include <immintrin.h>
#endif

namespace sluice::event {

static_assert(json_padding == simdjson::SIMDJSON_PADDING);
// On-demand uses the kernel chosen at compile time; meson adds -mpclmul so it is haswell+.
#if !defined(SIMDJSON_FUZZ_BUILD) && defined(__AVX2__) && !defined(__PCLMUL__)
#warning "simdjson on-demand falls back to its portable kernel: build with -mpclmul"
#endif

namespace od = simdjson::ondemand;

// ---------------------------------------------------------------------------------------------
// compiled_rules

namespace {

// RFC 6901: "" or "/tok/tok"; '~0' -> '~', '~1' -> '/'.
bool split_pointer(std::string_view p, std::vector<std::string>& tokens) {
    tokens.clear();
    if (p.empty() || p[0] != '/') return false;
    std::string cur;
    for (std::size_t i = 1; i <= p.size(); ++i) {
        if (i == p.size() || p[i] == '/') {
            tokens.push_back(cur);
            cur.clear();
            continue;
        }
        if (p[i] == '~') {
            if (i + 1 >= p.size()) return false;
            if (p[i + 1] == '0') cur.push_back('~');
            else if (p[i + 1] == '1') cur.push_back('/');
            else return false;
            ++i;
            continue;
        }
        cur.push_back(p[i]);
    }
    return true;
}

// Canonical array index ("0", "17"; not "01", "-1", "+1"), else -1.
std::int64_t token_index(std::string_view t) {
    if (t.empty() || t.size() > 9) return -1;
    if (t.size() > 1 && t[0] == '0') return -1;
    std::int64_t v = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

result<compiled_rules> compiled_rules::make(const topic_rules& rules) {
    compiled_rules c;
    c._rules = rules;
    std::vector<std::string> tokens;
    // Adds (or finds) a pointer; returns its index, or -2 if malformed / too many.
    auto add = [&](const std::string& p) -> std::int32_t {
        if (!split_pointer(p, tokens)) return -2;
        for (std::size_t i = 0; i < c._pointers.size(); ++i) {
            if (c._pointers[i].tokens == tokens) return static_cast<std::int32_t>(i);
        }
        if (c._pointers.size() >= max_pointers) return -2;
        pointer ptr;
        ptr.tokens = tokens;
        for (const auto& t : tokens) ptr.indexes.push_back(token_index(t));
        c._pointers.push_back(std::move(ptr));
        return static_cast<std::int32_t>(c._pointers.size() - 1);
    };
    if (!rules.key_pointer.empty()) {
        c._key = add(rules.key_pointer);
        if (c._key < 0) return errc::invalid_argument;
    }
    if (!rules.timestamp_pointer.empty()) {
        c._timestamp = add(rules.timestamp_pointer);
        if (c._timestamp < 0) return errc::invalid_argument;
    }
    for (const auto& r : rules.require_pointers) {
        const std::int32_t i = add(r);
        if (i < 0) return errc::invalid_argument;
        c._required.push_back(i);
        c._required_mask |= 1u << i;
    }
    if (rules.max_event_bytes == 0) return errc::invalid_argument;
    c._pointers_n = c._pointers.size();
    return c;
}

// ---------------------------------------------------------------------------------------------
// event_parser_impl

namespace {

enum class kind : std::uint8_t { string, number, boolean, null, object, array };

// Pointer i's value, valid while bit i of event_parser_impl::_found is set.
struct capture {
    kind k = kind::null;
    const char* start = nullptr;  // first byte of the value in the parse buffer
    std::string_view token;       // scalars: raw token without trailing whitespace
    std::string_view unescaped;   // strings: content, in simdjson's string buffer
};

constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_right(std::string_view s) noexcept {
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  (any magnitude)
constexpr bool is_digit(char c) noexcept { return static_cast<unsigned char>(c - '0') < 10; }
bool valid_number(std::string_view s) noexcept {
    const char* p = s.data();
    const char* const e = p + s.size();
    if (p < e && *p == '-') ++p;
    if (p == e || !is_digit(*p)) return false;
    if (*p++ != '0') {
        while (p < e && is_digit(*p)) ++p;
    }
    if (p < e && *p == '.') {
        if (++p == e || !is_digit(*p)) return false;
        while (++p < e && is_digit(*p)) {}
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        if (++p < e && (*p == '+' || *p == '-')) ++p;
        if (p == e || !is_digit(*p)) return false;
        while (++p < e && is_digit(*p)) {}
    }
    return p == e;
}

// End (one past) of the object/array starting at `p` in validated JSON ending before `end`.
const char* container_end(const char* p, const char* end) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (; p < end; ++p) {
        const char c = *p;
        if (in_string) {
            if (c == '\\') ++p;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return p + 1;
        }
    }
    return end;
}

// Structural fast path (see README "Validation"): decides from simdjson's stage-1 structural
// index alone that an event is certainly a valid JSON object, for the common shape: root object,
// nesting <= fast_depth_max, no backslash anywhere (so every string is its bytes between two
// quotes, and stage 1 already checked UTF-8, raw control characters and closed strings). The
// grammar over the structurals is checked exactly (members, commas, colons, matching brackets,
// nothing after the root); every scalar token (to the next structural, trailing whitespace
// removed, as the walk's raw_json_token) must be exactly true/false/null or match the number
// grammar; after a string's closing quote only whitespace may precede the next structural.
// "true" means the exact path would accept the event too; "false" means nothing: the exact
// path (DOM, then the walk) decides, so rejections are unchanged by construction.
constexpr std::size_t fast_depth_max = 64;
constexpr std::size_t fast_members_max = 32;  // depth-1 members remembered for pointer lookup

// First byte at or after `p` that is not an ASCII digit, or `e`. Reads 8 bytes at a time and
// may read up to 7 bytes past `e` (the fast path's buffer has SIMDJSON_PADDING after the event).
const char* digit_run_end(const char* p, const char* e) noexcept {
    while (p < e) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        // Per byte: zero iff '0'..'9' (high nibble 3, low nibble + 6 does not carry into bit 4).
        const std::uint64_t m = ((v & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull) |
                                (((v & 0x0f0f0f0f0f0f0f0full) + 0x0606060606060606ull) &
                                 0x1010101010101010ull);
        if (m != 0) {
            // High bit of each non-zero byte; the lowest one is the first non-digit.
            const std::uint64_t nz =
                (((m & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | m) & 0x8080808080808080ull;
            const char* q = p + (__builtin_ctzll(nz) >> 3);
            return q < e ? q : e;
        }
        p += 8;
    }
    return e;
}

// valid_number for the fast path (same grammar; digit runs 8 bytes at a time, padded buffer).
bool valid_number_padded(const char* p, const char* e) noexcept {
    if (p < e && *p == '-') ++p;
    if (p == e || !is_digit(*p)) return false;
    p = *p == '0' ? p + 1 : digit_run_end(p + 1, e);
    if (p < e && *p == '.') {
        if (++p == e || !is_digit(*p)) return false;
        p = digit_run_end(p + 1, e);
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        if (++p < e && (*p == '+' || *p == '-')) ++p;
        if (p == e || !is_digit(*p)) return false;
        p = digit_run_end(p + 1, e);
    }
    return p == e;
}

// The number grammar over a token of at most 16 bytes whose digits are the bits of `digits`
// and whose other bytes are the bits of `others`: each digit run ends at the lowest bit of
// `stop` at or above its start.
bool valid_number_bits(const char* p, std::uint32_t len, std::uint32_t digits,
                       std::uint32_t others) noexcept {
    const std::uint32_t stop = others | (1u << len);
    auto run_end = [stop](std::uint32_t k) {
        return static_cast<std::uint32_t>(__builtin_ctz(stop >> k)) + k;
    };
    std::uint32_t k = p[0] == '-' ? 1 : 0;
    if (((digits >> k) & 1) == 0) return false;
    k = p[k] == '0' ? k + 1 : run_end(k + 1);
    if (k == len) return true;
    if (p[k] == '.') {
        if (((digits >> (k + 1)) & 1) == 0) return false;
        k = run_end(k + 2);
        if (k == len) return true;
    }
    if ((p[k] | 0x20) == 'e') {
        ++k;
        if (k < len && (p[k] == '+' || p[k] == '-')) ++k;
        if (((digits >> k) & 1) == 0) return false;
        k = run_end(k + 1);
    }
    return k == len;
}

// Non-digits of a 16-byte block in one signed compare: adding digit_shift moves '0'..'9' to
// 0x76..0x7f, the top of the signed byte range, and every other byte value below 0x76 (wrapping
// past 0x7f into the negatives, or staying low): x is not a digit iff x + digit_shift < 0x76.
struct digit_bounds {
    __m128i shift;  // digit_shift in every byte
    __m128i limit;  // 0x76
};
inline constexpr char digit_shift = static_cast<char>(0x80 - ('9' + 1));
// Made once per object and hidden from the optimiser by an empty asm, so they stay in two
// vector registers: left visible, GCC rebuilt both per number (three instructions each).
inline digit_bounds make_digit_bounds() noexcept {
    digit_bounds b{_mm_set1_epi8(digit_shift), _mm_set1_epi8(static_cast<char>('0' + digit_shift))};
    asm("" : "+x"(b.shift), "+x"(b.limit));
    return b;
}
// Bits [0, len) of `m` (len <= 16): BMI2 bzhi where the ISA has it (x86-64-v3).
inline std::uint32_t low_bits(std::uint32_t m, std::uint32_t len) noexcept {
#if defined(__BMI2__)
    return _bzhi_u32(m, len);
#else
    return m & ((1u << len) - 1);
#endif
}

bool scalar_valid(const char* buf, std::uint32_t pos, std::uint32_t next) noexcept;

// The scalar at p, its token (to the next structural) `len` bytes (1..16) with trailing
// whitespace still in it, from one 16-byte load (the fast path's buffer is padded) classified at
// once: digits only, and digits '.' digits, are decided here (such a token has no whitespace to
// trim and cannot be a literal); anything else goes to scalar_valid's full checks, or to
// valid_number_bits for another number shape without trailing whitespace.
[[gnu::always_inline]] inline bool scalar_valid_short(const char* p, std::uint32_t len,
                                                      const digit_bounds& db) noexcept {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i non_digit = _mm_cmpgt_epi8(db.limit, _mm_add_epi8(x, db.shift));
    const std::uint32_t others =
        low_bits(static_cast<std::uint32_t>(_mm_movemask_epi8(non_digit)), len);
    if (others == 0) return p[0] != '0' || len == 1;
    if ((others & (others - 1)) == 0) {
        const auto dot = static_cast<std::uint32_t>(__builtin_ctz(others));
        if (p[dot] == '.' && dot != 0 && dot + 1 < len && (p[0] != '0' || dot == 1)) return true;
    }
    if ((is_digit(p[0]) || p[0] == '-') && static_cast<unsigned char>(p[len - 1]) > ' ')
        return valid_number_bits(p, len, ~others & ((1u << len) - 1), others);
    return scalar_valid(p, 0, len);
}

// `pos`: an opening quote; `next`: the next structural. No backslash in the event, so the string
// ends at the first quote after `pos`; stage 1 puts no structural inside a string, so that quote
// is the last non-whitespace byte before `next`. Returns the closing quote's position, or 0.
std::uint32_t string_close(const char* buf, std::uint32_t pos, std::uint32_t next) noexcept {
    // Common case first: the quote right before the next structural (no whitespace scan).
    if (buf[next - 1] == '"' && next - 1 > pos) return next - 1;
    std::uint32_t q = next;
    while (q > pos + 1 && is_ws(buf[q - 1])) --q;
    return q > pos + 1 && buf[q - 1] == '"' ? q - 1 : 0;
}

// Whether the scalar at `pos` (its token: to the next structural, trailing whitespace removed,
// as the walk's raw_json_token) is exactly true/false/null or a JSON number.
bool scalar_valid(const char* buf, std::uint32_t pos, std::uint32_t next) noexcept {
    std::uint32_t e = next;
    // Whitespace is below '!': one compare for the common token that ends at the structural.
    if (static_cast<unsigned char>(buf[e - 1]) <= ' ') {
        while (e > pos && is_ws(buf[e - 1])) --e;
    }
    switch (buf[pos]) {
        case 't': return e - pos == 4 && std::memcmp(buf + pos, "true", 4) == 0;
        case 'f': return e - pos == 5 && std::memcmp(buf + pos, "false", 5) == 0;
        case 'n': return e - pos == 4 && std::memcmp(buf + pos, "null", 4) == 0;
        default: return valid_number_padded(buf + pos, buf + e);
    }
}

// scalar_valid, short tokens (every number of a typical event) by scalar_valid_short.
[[gnu::always_inline]] inline bool scalar_valid_number_first(const char* buf, std::uint32_t pos,
                                                             std::uint32_t next,
                                                             const digit_bounds& db) noexcept {
    if (next - pos <= 16) return scalar_valid_short(buf + pos, next - pos, db);
    return scalar_valid(buf, pos, next);
}

// memcmp(a, b, n) == 0 with names of up to 16 bytes compared inline (two overlapping loads per
// side, within [a, a + n) and [b, b + n)).
inline bool equal_bytes(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 8 && n <= 16) {
        std::uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a, 8);
        std::memcpy(&a1, a + n - 8, 8);
        std::memcpy(&b0, b, 8);
        std::memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
        std::uint32_t a0, a1, b0, b1;
        std::memcpy(&a0, a, 4);
        std::memcpy(&a1, a + n - 4, 4);
        std::memcpy(&b0, b, 4);
        std::memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return std::memcmp(a, b, n) == 0;
}

// A member of the root object: its name is structural name_i, the ':' name_i + 1, the value
// name_i + 2. Only the index is stored (one 4-byte store per member in the check's loop instead
// of three fields); capture_fast reads the positions back from the structural index.
struct root_member {
    std::uint32_t name_i;
};

// Validates as described above, with idx[0] the root '{' and idx[0..n) the structurals that
// follow it (`len`: where the last one's token ends). Returns how many structurals the root
// object spans (its closing '}' is idx[result - 1]), 0 if not certainly valid: the caller checks
// what follows. Records the root object's first fast_members_max members in `members`
// (`members_out`, set on success; more than that: fast_members_max + 1). The count lives in a
// local until then: stores to `members` could alias it, which kept it in memory.
std::uint32_t structurally_valid_object(const char* buf, std::uint32_t len,
                                        const std::uint32_t* idx, std::uint32_t n,
                                        root_member* members, std::size_t& members_out) noexcept {
    std::size_t members_n = 0;
    if (n < 2 || buf[idx[0]] != '{') return 0;
    const digit_bounds db = make_digit_bounds();
    auto next_pos = [&](std::uint32_t i) { return i + 1 < n ? idx[i + 1] : len; };
    std::uint64_t arrays = 0;  // bit d: the container at depth d is an array
    // The root '{' (the `value` state below, done here): depth 1, idx[1] closes it or names
    // its first member.
    std::size_t depth = 1;
    std::uint32_t i = 1;
    // The flat member loop below takes four structurals and records one member per pass, so
    // its two bounds (i + 3 < n, members_n < fast_members_max) fold into one on i, set when
    // `key` is entered at depth 1: here (i = 1, no member yet: constants) and after a ',' in
    // the root, the only two ways there.
    const std::uint32_t n3 = n > 3 ? n - 3 : 0;  // i < n3: i + 3 < n
    auto flat_bound = [&] {
        if (members_n >= fast_members_max || i >= n3) return i;
        const auto room = static_cast<std::uint32_t>(4 * (fast_members_max - members_n));
        return n3 - i > room ? i + room : n3;
    };
    // flat_bound() at i = 1 with no member yet, spelled out (GCC did not fold it).
    constexpr std::uint32_t first_room = 1 + 4 * fast_members_max;
    std::uint32_t flat_end = std::max<std::uint32_t>(1, std::min(n3, first_room));
    if (buf[idx[1]] == '}') goto close;
    goto key;
value:  // idx[i]: first structural of a value
    {
        const char c = buf[idx[i]];
        if (c == '{' || c == '[') {
            if (depth == fast_depth_max) return 0;
            const bool arr = c == '[';
            arrays = arr ? (arrays | (std::uint64_t{1} << depth)) : (arrays & ~(std::uint64_t{1} << depth));
            ++depth;
            if (++i >= n) return 0;
            if (buf[idx[i]] == (arr ? ']' : '}')) goto close;
            if (arr) goto value;
            goto key;
        }
        if (depth == 0) return 0;
        if (c == '"' ? string_close(buf, idx[i], next_pos(i)) == 0
                     : !scalar_valid(buf, idx[i], next_pos(i)))
            return 0;
        if (++i >= n) return 0;
        goto after;
    }
key:  // idx[i]: a member name
    if (depth == 1) {
        // Members of the root object, four structurals each (name, ':', value, ',' or '}'),
        // while all four are in range: the same checks as the generic states below, in one
        // pass without the state changes; a container value goes on in the generic states.
        // Up to fast_members_max members here (recorded unconditionally); more go on below.
        while (i < flat_end) {  // see flat_bound
            const std::uint32_t* const at = idx + i;
            const std::uint32_t name = at[0];
            const std::uint32_t colon = at[1];
            const std::uint32_t v = at[2];
            const std::uint32_t sep = at[3];
            if (buf[name] != '"') return 0;
            // The name's closing quote right before the ':' (the common case) in one compare of
            // both bytes; else the checks one by one. That quote is not the one at `name`:
            // stage 1 indexes a string's opening quote and nothing up to its closing one, so a
            // structural ':' never directly follows a structural '"' (colon - 1 > name).
            std::uint16_t quote_colon;
            std::memcpy(&quote_colon, buf + colon - 1, 2);
            if (quote_colon != (std::uint16_t{':'} << 8 | '"')) {
                if (buf[colon] != ':' || string_close(buf, name, colon) == 0) return 0;
            }
            members[members_n++] = {i};  // < fast_members_max (loop bound)
            const char c = buf[v];
            if (c == '{' || c == '[') {
                i += 2;
                goto value;
            }
            if (c == '"' ? string_close(buf, v, sep) == 0
                         : !scalar_valid_number_first(buf, v, sep, db))
                return 0;
            i += 3;
            if (buf[sep] == '}') {  // the root closes
                members_out = members_n;
                return i + 1;
            }
            if (buf[sep] != ',') return 0;
            ++i;  // in range when the loop goes on; checked below when it does not
        }
        if (i >= n) return 0;
    }
    {
        if (buf[idx[i]] != '"') return 0;
        if (string_close(buf, idx[i], next_pos(i)) == 0) return 0;
        if (depth == 1 && members_n <= fast_members_max) {
            if (members_n < fast_members_max) members[members_n] = {i};
            ++members_n;
        }
        if (++i >= n || buf[idx[i]] != ':') return 0;
        if (++i >= n) return 0;
        goto value;
    }
after:  // idx[i] follows a complete value inside the container at depth - 1
    {
        const char c = buf[idx[i]];
        const bool arr = ((arrays >> (depth - 1)) & 1) != 0;
        if (c == ',') {
            if (++i >= n) return 0;
            if (arr) goto value;
            if (depth == 1) flat_end = flat_bound();
            goto key;
        }
        if (c != (arr ? ']' : '}')) return 0;
    }
close:  // idx[i] closes the container at depth - 1
    if (--depth == 0) {
        members_out = members_n;
        return i + 1;
    }
    if (++i >= n) return 0;
    goto after;
}

}  // namespace

// Bit 0: a backslash in [p, p + n); bit 1: a '\n' there. Reads [p, p + n) rounded up to 32
// bytes (the caller's buffer is padded).
inline unsigned backslash_newline(const char* p, std::size_t n) noexcept {
#if defined(__AVX2__)
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i newline = _mm256_set1_epi8('\n');
    std::uint32_t bs = 0, nl = 0;
    // Whole blocks without a mask; only the last, partial one is cut to [p, p + n).
    std::size_t i = 0;
    for (; n - i >= 32; i += 32) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        bs |= static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, backslash)));
        nl |= static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, newline)));
    }
    if (i < n) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        const std::uint32_t in = (1u << (n - i)) - 1;  // n - i < 32
        bs |= static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, backslash))) & in;
        nl |= static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, newline))) & in;
    }
#else
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i newline = _mm_set1_epi8('\n');
    std::uint32_t bs = 0, nl = 0;
    for (std::size_t i = 0; i < n; i += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        const std::uint32_t in = n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1;
        bs |= static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, backslash))) & in;
        nl |= static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, newline))) & in;
    }
#endif
    return (bs != 0 ? 1u : 0u) | (nl != 0 ? 2u : 0u);
}

// memcpy(dst, src, n) and backslash_newline(dst, n) in one pass: the bytes scanned are those
// just loaded for the copy (a library call and a second pass over the copy otherwise). For
// n >= 32 with AVX2: whole 32-byte blocks, then the last 32 bytes once more (overlapping the
// previous block), so nothing past src + n is read and nothing past dst + n is written.
inline unsigned copy_backslash_newline(char* dst, const std::byte* src, std::size_t n) noexcept {
#if defined(__AVX2__)
    if (n >= 32) {
        const __m256i backslash = _mm256_set1_epi8('\\');
        const __m256i newline = _mm256_set1_epi8('\n');
        __m256i bs = _mm256_setzero_si256();
        __m256i nl = _mm256_setzero_si256();
        const auto block = [&](std::size_t at) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + at));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + at), x);
            bs = _mm256_or_si256(bs, _mm256_cmpeq_epi8(x, backslash));
            nl = _mm256_or_si256(nl, _mm256_cmpeq_epi8(x, newline));
        };
        std::size_t i = 0;
        for (; n - i >= 32; i += 32) block(i);
        if (i < n) block(n - 32);
        return (_mm256_testz_si256(bs, bs) ? 0u : 1u) | (_mm256_testz_si256(nl, nl) ? 0u : 2u);
    }
    // Shorter: two overlapping moves of the largest power of two <= n, inline (a memcpy call
    // here made the whole gather loop spill its registers around it).
    const auto two = [&](auto word) {
        using word_t = decltype(word);
        word_t a, b;
        std::memcpy(&a, src, sizeof a);
        std::memcpy(&b, src + n - sizeof b, sizeof b);
        std::memcpy(dst, &a, sizeof a);
        std::memcpy(dst + n - sizeof b, &b, sizeof b);
    };
    if (n >= 16) two(__m128i{});
    else if (n >= 8) two(std::uint64_t{});
    else if (n >= 4) two(std::uint32_t{});
    else for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<char>(src[i]);
#else
    std::memcpy(dst, src, n);
#endif
    return backslash_newline(dst, n);
}

class event_parser_impl {
public:
    explicit event_parser_impl(const parser_options& o)
        : _capacity(o.max_datagram_bytes),
          _structural_fast_path(o.structural_fast_path),
          _scratch(new char[o.max_datagram_bytes + simdjson::SIMDJSON_PADDING]()),
          _keys(new std::byte[o.max_datagram_bytes]()) {
        const std::size_t capacity = _capacity;
        if (_structural_fast_path && o.gather_bytes > 0 && o.gather_payloads_max > 0 &&
            o.gather_payload_bytes_max > 0) {
            _g_bytes = std::min<std::size_t>(o.gather_bytes, 0xffff'0000u);
            _g_payload_max = std::min(o.gather_payload_bytes_max, _g_bytes - 1);
            _g.resize(o.gather_payloads_max);
            _g_max = _g.size();
            _gbuf.reset(new char[_g_bytes + simdjson::SIMDJSON_PADDING]());
            const auto gerr = _gdom.allocate(_g_bytes, max_depth);
            SLUICE_ASSERT(gerr == simdjson::SUCCESS, "simdjson burst parser allocation failed");
        }
        const auto err = _parser.allocate(capacity, max_depth + 2);
        SLUICE_ASSERT(err == simdjson::SUCCESS, "simdjson parser allocation failed");
        // DOM nesting limit = containers (root included); max_depth + 1 nested containers is
        // accepted by the walk only when the innermost is empty: DEPTH_ERROR takes the walk.
        const auto derr = _dom.allocate(capacity, max_depth);
        SLUICE_ASSERT(derr == simdjson::SUCCESS, "simdjson DOM parser allocation failed");
    }

    // Per datagram: its rules (the same for all its events) and a fresh key buffer.
    void begin_datagram(const compiled_rules& rules) noexcept {
        _keys_used = 0;
        _ptrs = rules.pointers();
    }

    // Payload-level stage 1 (structural fast path, several events per datagram): one stage-1
    // pass over the whole payload instead of one per event (simdjson's per-call cost is about
    // as large as the scan of a 100-byte event). Only for a payload without any backslash,
    // within capacity, with SIMDJSON_PADDING readable after it, that stage 1 accepts (UTF-8,
    // control characters, closed strings). Each event then takes its structurals from the
    // payload's index (payload_line); until the first event that needs the per-event path.
    void end_payload() noexcept {
        _pl_base = nullptr;
        _pl_burst = false;
    }
    void begin_payload(const char* base, std::size_t len, std::size_t tailroom) noexcept {
        if (_pl_burst) return;  // the burst's index covers this payload
        _pl_base = nullptr;
        if (_structural_fast_path && tailroom >= simdjson::SIMDJSON_PADDING &&
            std::memchr(base, '\\', len) == nullptr)
            (void)index(base, len);
    }

    // Burst gathering (event_parser::gather). The copies lie in _gbuf in gather order, a '\n'
    // after each: after a successful stage 1 no '\n' is inside a string (a raw control
    // character there is a stage-1 error), so each copy starts outside a string and its
    // structurals are exactly those a stage-1 pass over it alone would find (and it is valid
    // UTF-8 by itself: no multi-byte sequence spans an ASCII byte).
    void begin_burst() noexcept {
        _gn = 0;
        _gused = 0;
        _gcursor = 0;
        _g_scursor = 0;
    }
    // gather() of n payloads at `p`, `stride` bytes apart; the table's state stays in
    // registers across the copies (memcpy is a call: members would be loaded again after it).
    void gather_strided(const std::byte* p, std::size_t stride, std::size_t n) noexcept {
        std::size_t gn = _gn;
        std::size_t gused = _gused;
        const std::size_t g_max = _g_max;
        const std::size_t payload_max = _g_payload_max;
        const std::size_t g_bytes = _g_bytes;
        char* const gbuf = _gbuf.get();
        gathered_payload* const table = _g.data();
        for (std::size_t i = 0; i < n; ++i, p += stride) {
            const bytes_view payload = *reinterpret_cast<const bytes_view*>(p);
            const std::size_t len = payload.size();
            if (gn == g_max || len > payload_max || len + 1 > g_bytes - gused) continue;
            char* const dst = gbuf + gused;
            const unsigned found = copy_backslash_newline(dst, payload.data(), len);
            if ((found & 1) != 0) continue;  // a backslash: the fast path takes none
            dst[len] = '\n';
            table[gn++] = {payload.data(), static_cast<std::uint32_t>(len),
                           static_cast<std::uint32_t>(gused), (found & 2) == 0};
            gused += len + 1;
        }
        _gn = gn;
        _gused = gused;
    }
    void index_burst() noexcept {
        if (_gn == 0) return;
        if (!stage1(_gdom, _gbuf.get(), _gused, _g_idx, _g_n)) _gn = 0;  // all per datagram
    }
    // The gathered copy of the payload [p, p + n) (its next one in gather order), or null.
    // Found: the burst's index serves this payload's events (until one needs the per-event
    // path) and `tailroom` is the readable bytes after the copy.
    const char* take_gathered(const std::byte* p, std::size_t n, std::size_t& tailroom,
                              bool& one_line) noexcept {
        for (std::size_t j = _gcursor; j < _gn; ++j) {
            if (_g[j].src != p || _g[j].size != n) continue;
            _gcursor = j + 1;
            const std::uint32_t off = _g[j].offset;
            _pl_base = _gbuf.get();
            _pl_idx = _g_idx;
            _pl_n = _g_n;
            // payload_line skips forward from here to the event's first structural: usually
            // none to skip (the previous payload's events ended right before this one).
            _pl_cursor = _g_scursor;
            _pl_burst = true;
            tailroom = _g_bytes + simdjson::SIMDJSON_PADDING - (off + n);
            one_line = _g[j].one_line;
            return _gbuf.get() + off;
        }
        return nullptr;
    }
    // After a gathered payload: where the next one's structurals start (or before).
    void end_gathered() noexcept {
        if (_pl_base != nullptr) _g_scursor = _pl_cursor;
    }

    // Parses one event [ev, ev+len) into `r`, reading its bytes from `text` (ev itself, or the
    // same bytes in a gathered copy) with `after` readable bytes following them there; r's
    // spans point into [ev, ev+len).
    // The common case (an event of an indexed payload that the structural check accepts) is
    // inlined into parse_datagram; everything else is parse_other.
    [[gnu::always_inline]] void parse(const char* ev, const char* text, std::size_t len,
                                      std::size_t after, const compiled_rules& rules,
                                      std::int64_t ingest_ms, parser_stats& stats,
                                      event_result& r) noexcept {
        r = event_result{};
        r.raw = bytes_view(reinterpret_cast<const std::byte*>(ev), len);
        r.timestamp_ms = ingest_ms;
        if (len > rules.max_event_bytes() || len > _capacity) {
            r.reason = reject_reason::too_large;
            return;
        }
        // An indexed payload has SIMDJSON_PADDING after every event (begin_payload, gather):
        // parsed in place.
        if (_pl_base != nullptr && after >= simdjson::SIMDJSON_PADDING) {
            reset_captures();
            if (payload_line(text, len)) {
                finish(r, ev, text, len, rules, true);
                return;
            }
            _pl_base = nullptr;  // per event from now (the index buffer is reused)
        }
        parse_other(ev, text, len, after, rules, stats, r);
    }

private:
    // parse() without its result set-up and size check.
    void parse_other(const char* ev, const char* text, std::size_t len, std::size_t after,
                     const compiled_rules& rules, parser_stats& stats, event_result& r) noexcept;
    // Every capture path sets all the fields its kind uses: only the found bits need
    // resetting (one store per event instead of a loop over the pointers).
    void reset_captures() noexcept {
        _found = 0;
        _present = 0;
    }
    [[nodiscard]] bool found(std::size_t i) const noexcept { return ((_found >> i) & 1) != 0; }
    enum class find_status : std::uint8_t { found, absent, slow };
    // Fast path: DOM-validated event; navigates the raw text to each pointer.
    find_status find(const char* p, const char* end, std::size_t ptr, std::size_t depth) noexcept;
    // Slow path: the on-demand full walk (validates and captures in one pass).
    bool walk_event(const char* buf, std::size_t len, std::size_t buf_cap, std::uint32_t all,
                    od::json_type& t) noexcept;
    // `no_backslash`: the event has none (the structural fast path checked), so no key needs
    // unescaping.
    // Inlined into parse (its only caller): -29 instructions/event under callgrind.
    [[gnu::always_inline]] void finish(event_result& r, const char* ev, const char* buf,
                                       std::size_t len, const compiled_rules& rules,
                                       bool no_backslash) noexcept;
    bool walk(od::value& v, std::size_t depth, std::uint32_t match) noexcept;
    bool walk_object(od::object& obj, std::size_t depth, std::uint32_t match) noexcept;
    bool walk_array(od::array& arr, std::size_t depth, std::uint32_t match) noexcept;
    bool scalar(od::value& v, od::json_type t, kind& k, std::string_view& tok,
                std::string_view& str) noexcept;
    void record(std::uint32_t targets, kind k, const char* start, std::string_view tok,
                std::string_view str) noexcept;

    // Splits `match` into pointers that end at `depth` (targets) and those that go deeper.
    void split(std::uint32_t match, std::size_t depth, std::uint32_t& targets,
               std::uint32_t& deeper) const noexcept {
        targets = 0;
        deeper = 0;
        while (match != 0) {
            const int i = __builtin_ctz(match);
            match &= match - 1;
            if (_ptrs[static_cast<std::size_t>(i)].tokens.size() == depth) targets |= 1u << i;
            else deeper |= 1u << i;
        }
    }

    // Fast path: pointers of one token from the recorded root members, others by find().
    // Inlined into its one caller (payload_line): -15 instructions/event under callgrind.
    [[gnu::always_inline]] void capture_fast(const char* buf, std::uint32_t len,
                                             const std::uint32_t* idx) noexcept;

    std::size_t _capacity;
    bool _structural_fast_path;
    std::array<root_member, fast_members_max> _members{};
    std::size_t _members_n = 0;
    // Payload-level stage 1 (begin_payload); _pl_base null = per event.
    // Stage 1 over [base, base + len) (padded, no backslash) into the structural index.
    bool index(const char* base, std::size_t len) noexcept {
        if (len > _capacity || len > 0xffffffffu) return false;
        if (!stage1(_dom, base, len, _pl_idx, _pl_n)) return false;
        _pl_base = base;
        _pl_cursor = 0;
        return true;
    }
    // simdjson's stage 1 of `parser` over [base, base + len) (padded): its structural index
    // into idx[0..n), or false (nothing set).
    static bool stage1(simdjson::dom::parser& parser, const char* base, std::size_t len,
                       const std::uint32_t*& idx, std::uint32_t& n) noexcept {
        simdjson::internal::dom_parser_implementation& st1 = *parser.implementation;
        if (st1.stage1(reinterpret_cast<const std::uint8_t*>(base), len,
                       simdjson::stage1_mode::regular) != simdjson::SUCCESS)
            return false;
        idx = st1.structural_indexes.get();
        n = st1.n_structural_indexes;
        return true;
    }
    // Fast path for one event at `buf` (padded): from the payload's index if there is one,
    // else from a stage-1 pass over the event alone. False: the exact path decides.
    bool fast_event(const char* buf, std::size_t len) noexcept {
        if (_pl_base != nullptr) {
            if (payload_line(buf, len)) return true;
            _pl_base = nullptr;  // per event from now (the index buffer is reused)
        }
        if (!_structural_fast_path || std::memchr(buf, '\\', len) != nullptr || !index(buf, len))
            return false;
        const bool ok = payload_line(buf, len);
        _pl_base = nullptr;
        return ok;
    }
    bool payload_line(const char* ev, std::size_t len) noexcept;
    const char* _pl_base = nullptr;
    bool _pl_burst = false;  // _pl_* is the burst's index (take_gathered)
    const std::uint32_t* _pl_idx = nullptr;
    std::uint32_t _pl_n = 0;
    std::uint32_t _pl_cursor = 0;
    od::parser _parser;
    simdjson::dom::parser _dom;
    // Burst gathering: copies, their table, and a stage-1 parser of its own (the per-event
    // path reuses _dom's index while later payloads of the burst still need this one).
    struct gathered_payload {
        const std::byte* src;
        std::uint32_t size;
        std::uint32_t offset;  // in _gbuf
        bool one_line;         // no '\n' in it
    };
    std::vector<gathered_payload> _g;  // size: gather_payloads_max (0: gathering off)
    std::size_t _g_max = 0;            // _g.size() (a division by the entry size otherwise)
    std::size_t _gn = 0;
    std::size_t _gcursor = 0;
    std::size_t _gused = 0;
    std::size_t _g_bytes = 0;
    std::size_t _g_payload_max = 0;
    std::unique_ptr<char[]> _gbuf;
    simdjson::dom::parser _gdom;
    const std::uint32_t* _g_idx = nullptr;
    std::uint32_t _g_n = 0;
    std::uint32_t _g_scursor = 0;
    std::unique_ptr<char[]> _scratch;
    std::unique_ptr<std::byte[]> _keys;
    std::size_t _keys_used = 0;
    std::span<const compiled_rules::pointer> _ptrs;
    std::array<capture, max_pointers> _caps{};
    std::uint32_t _found = 0;  // bit i: _caps[i] holds pointer i's value
    std::uint32_t _present = 0;  // bit i: ... and it is not null
    static_assert(max_pointers <= 32, "_found has a bit per pointer");
};

void event_parser_impl::record(std::uint32_t targets, kind k, const char* start,
                               std::string_view tok, std::string_view str) noexcept {
    while (targets != 0) {
        const int i = __builtin_ctz(targets);
        targets &= targets - 1;
        capture& c = _caps[static_cast<std::size_t>(i)];
        if (found(static_cast<std::size_t>(i))) continue;  // duplicates: the first one wins
        _found |= 1u << i;
        if (k != kind::null) _present |= 1u << i;
        c.k = k;
        c.start = start;
        c.token = tok;
        c.unescaped = str;
    }
}

bool event_parser_impl::scalar(od::value& v, od::json_type t, kind& k, std::string_view& tok,
                               std::string_view& str) noexcept {
    tok = trim_right(v.raw_json_token());
    switch (t) {
        case od::json_type::string: {
            k = kind::string;
            // Raw control characters and bad UTF-8 were rejected by stage 1; this checks escapes.
            return v.get_string().get(str) == simdjson::SUCCESS;
        }
        case od::json_type::number: k = kind::number; return valid_number(tok);
        case od::json_type::boolean: k = kind::boolean; return tok == "true" || tok == "false";
        case od::json_type::null: k = kind::null; return tok == "null";
        default: return false;
    }
}

bool event_parser_impl::walk(od::value& v, std::size_t depth, std::uint32_t match) noexcept {
    if (depth > max_depth) return false;
    od::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) return false;
    std::uint32_t targets, deeper;
    split(match, depth, targets, deeper);
    if (t == od::json_type::object) {
        if (targets != 0) record(targets, kind::object, v.raw_json_token().data(), {}, {});
        od::object obj;
        if (v.get_object().get(obj) != simdjson::SUCCESS) return false;
        return walk_object(obj, depth, deeper);
    }
    if (t == od::json_type::array) {
        if (targets != 0) record(targets, kind::array, v.raw_json_token().data(), {}, {});
        od::array arr;
        if (v.get_array().get(arr) != simdjson::SUCCESS) return false;
        return walk_array(arr, depth, deeper);
    }
    kind k;
    std::string_view tok, str;
    if (!scalar(v, t, k, tok, str)) return false;
    if (targets != 0) record(targets, k, tok.data(), tok, str);
    return true;
}

bool event_parser_impl::walk_object(od::object& obj, std::size_t depth,
                                    std::uint32_t deeper) noexcept {
    for (auto field_r : obj) {
        od::field field;
        if (std::move(field_r).get(field) != simdjson::SUCCESS) return false;
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) return false;
        std::uint32_t child = 0;
        for (std::uint32_t m = deeper; m != 0; m &= m - 1) {
            const int i = __builtin_ctz(m);
            if (_ptrs[static_cast<std::size_t>(i)].tokens[depth] == key) child |= 1u << i;
        }
        if (!walk(field.value(), depth + 1, child)) return false;
    }
    return true;
}

bool event_parser_impl::walk_array(od::array& arr, std::size_t depth,
                                   std::uint32_t deeper) noexcept {
    std::int64_t index = 0;
    for (auto elem_r : arr) {
        od::value elem;
        if (std::move(elem_r).get(elem) != simdjson::SUCCESS) return false;
        std::uint32_t child = 0;
        for (std::uint32_t m = deeper; m != 0; m &= m - 1) {
            const int i = __builtin_ctz(m);
            if (_ptrs[static_cast<std::size_t>(i)].indexes[depth] == index) child |= 1u << i;
        }
        if (!walk(elem, depth + 1, child)) return false;
        ++index;
    }
    return true;
}

namespace {

const char* skip_ws(const char* p, const char* end) noexcept {
    while (p < end && is_ws(*p)) ++p;
    return p;
}

// `p` at the opening quote of a validated string: one past its closing quote.
const char* string_end(const char* p, const char* end, bool& escaped) noexcept {
    escaped = false;
    for (++p; p < end; ++p) {
        if (*p == '"') return p + 1;
        if (*p == '\\') {
            escaped = true;
            ++p;
        }
    }
    return end;
}

// `p` at the first byte of a validated value: one past its last byte.
const char* value_end(const char* p, const char* end) noexcept {
    if (*p == '"') {
        bool escaped;
        return string_end(p, end, escaped);
    }
    if (*p == '{' || *p == '[') return container_end(p, end);
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p)) ++p;
    return p;
}

}  // namespace

// `p` at the first byte of a value (validated by DOM) at `depth` of pointer `ptr`. Duplicate
// member names: the first occurrence that holds the rest of the pointer wins (like the walk).
event_parser_impl::find_status event_parser_impl::find(const char* p, const char* end,
                                                       std::size_t ptr,
                                                       std::size_t depth) noexcept {
    const compiled_rules::pointer& ptr_def = _ptrs[ptr];
    if (p >= end) return find_status::absent;
    if (depth == ptr_def.tokens.size()) {
        capture& c = _caps[ptr];
        _found |= 1u << ptr;
        if (*p != 'n') _present |= 1u << ptr;  // validated: only null starts with 'n'
        c.start = p;
        switch (*p) {
            case '{': c.k = kind::object; return find_status::found;
            case '[': c.k = kind::array; return find_status::found;
            case '"': {
                bool escaped;
                const char* e = string_end(p, end, escaped);
                if (escaped) return find_status::slow;  // needs unescaping: the walk does it
                c.k = kind::string;
                c.token = std::string_view(p, static_cast<std::size_t>(e - p));
                c.unescaped = c.token.substr(1, c.token.size() - 2);
                return find_status::found;
            }
            case 't':
            case 'f': c.k = kind::boolean; break;
            case 'n': c.k = kind::null; break;
            default: c.k = kind::number; break;
        }
        c.token = std::string_view(p, static_cast<std::size_t>(value_end(p, end) - p));
        return find_status::found;
    }
    if (*p == '{') {
        const std::string_view want = ptr_def.tokens[depth];
        p = skip_ws(p + 1, end);
        if (p >= end || *p == '}') return find_status::absent;
        while (p < end) {
            bool escaped;
            const char* ke = string_end(p, end, escaped);
            if (escaped) return find_status::slow;  // member name needs unescaping
            const std::string_view key(p + 1, static_cast<std::size_t>(ke - p - 2));
            p = skip_ws(ke, end);
            p = skip_ws(p + 1, end);  // ':'
            if (key == want) {
                const find_status st = find(p, end, ptr, depth + 1);
                if (st != find_status::absent) return st;
            }
            p = skip_ws(value_end(p, end), end);
            if (p >= end || *p != ',') return find_status::absent;
            p = skip_ws(p + 1, end);
        }
        return find_status::absent;
    }
    if (*p == '[') {
        const std::int64_t want = ptr_def.indexes[depth];
        if (want < 0) return find_status::absent;
        p = skip_ws(p + 1, end);
        if (p >= end || *p == ']') return find_status::absent;
        for (std::int64_t i = 0; p < end; ++i) {
            if (i == want) return find(p, end, ptr, depth + 1);
            p = skip_ws(value_end(p, end), end);
            if (p >= end || *p != ',') return find_status::absent;
            p = skip_ws(p + 1, end);
        }
        return find_status::absent;
    }
    return find_status::absent;
}

inline void event_parser_impl::capture_fast(const char* buf, std::uint32_t len,
                                            const std::uint32_t* idx) noexcept {
    const char* const p = buf + idx[0];  // the root '{'
    for (std::size_t pi = 0; pi < _ptrs.size(); ++pi) {
        const compiled_rules::pointer& ptr = _ptrs[pi];
        if (ptr.tokens.size() != 1 || _members_n > fast_members_max) {
            // No backslash in the event: find() never asks for the walk.
            (void)find(p, buf + len, pi, 0);
            continue;
        }
        const std::string_view want = ptr.tokens[0];
        for (std::size_t m = 0; m < _members_n; ++m) {
            const std::uint32_t name_i = _members[m].name_i;
            const std::uint32_t name_pos = idx[name_i];
            // Validated: the name's closing quote is the last non-whitespace byte before ':'.
            const std::uint32_t name_close = string_close(buf, name_pos, idx[name_i + 1]);
            if (name_close - name_pos - 1 != want.size() ||
                !equal_bytes(buf + name_pos + 1, want.data(), want.size()))
                continue;
            // The first member of that name wins, whatever its value (as find()).
            capture& c = _caps[pi];
            // A root member's value is followed by a ',' or the root's '}', both within the
            // n structurals the root spans: `next` is always in the index.
            const std::uint32_t v = idx[name_i + 2];
            const std::uint32_t next = idx[name_i + 3];
            _found |= 1u << pi;
            if (buf[v] != 'n') _present |= 1u << pi;  // validated: only null starts with 'n'
            c.start = buf + v;
            switch (buf[v]) {
                case '{': c.k = kind::object; break;
                case '[': c.k = kind::array; break;
                case '"': {
                    const std::uint32_t q = string_close(buf, v, next);
                    c.k = kind::string;
                    c.token = std::string_view(buf + v, q + 1 - v);
                    c.unescaped = c.token.substr(1, c.token.size() - 2);
                    break;
                }
                default: {
                    // Validated: a number starts with '-' or a digit (below 'a'), a literal
                    // with 'n', 't' or 'f'.
                    c.k = static_cast<unsigned char>(buf[v]) < 'a' ? kind::number
                          : buf[v] == 'n'                          ? kind::null
                                                                   : kind::boolean;
                    std::uint32_t e = next;  // validated: the token up to trailing whitespace
                    if (static_cast<unsigned char>(buf[e - 1]) <= ' ') {
                        while (is_ws(buf[e - 1])) --e;
                    }
                    c.token = std::string_view(buf + v, e - v);
                    break;
                }
            }
            break;
        }
    }
}

// The event [ev, ev + len) of the payload begin_payload() indexed: its structurals are those at
// positions inside it (events come in payload order). The payload's quote parity is only right
// for this event if its first byte is outside a string; then (and only then) that byte, a '{',
// is a structural, which structurally_valid_object requires of the first one in range. Stage 1
// over the whole payload also covered this event's UTF-8 and its strings' control characters.
bool event_parser_impl::payload_line(const char* ev, std::size_t len) noexcept {
    const auto b = static_cast<std::uint32_t>(ev - _pl_base);
    const auto e = static_cast<std::uint32_t>(b + len);
    std::uint32_t i0 = _pl_cursor;
    while (i0 < _pl_n && _pl_idx[i0] < b) ++i0;  // structurals of events not parsed (too_large)
    const char* p = ev;
    while (p < ev + len && is_ws(*p)) ++p;
    if (i0 == _pl_n || _pl_base + _pl_idx[i0] != p) return false;
    const std::uint32_t used = structurally_valid_object(_pl_base, e, _pl_idx + i0, _pl_n - i0,
                                                         _members.data(), _members_n);
    // The root closes inside the event and nothing but whitespace follows it there.
    if (used == 0 || _pl_idx[i0 + used - 1] >= e) return false;
    if (i0 + used < _pl_n && _pl_idx[i0 + used] < e) return false;
    _pl_cursor = i0 + used;
    capture_fast(_pl_base, e, _pl_idx + i0);
    return true;
}

void event_parser_impl::parse_other(const char* ev, const char* text, std::size_t len,
                                    std::size_t after, const compiled_rules& rules,
                                    parser_stats& stats, event_result& r) noexcept {
    const char* buf = text;
    std::size_t buf_cap = len + after;
    if (after < simdjson::SIMDJSON_PADDING) {
        std::memcpy(_scratch.get(), text, len);
        buf = _scratch.get();
        buf_cap = len + simdjson::SIMDJSON_PADDING;
        ++stats.scratch_copies;
    }
    const std::size_t nptr = _ptrs.size();
    reset_captures();

    // Structural fast path (fast_event): accepts what it can prove valid. Otherwise simdjson's
    // DOM parser fully validates the event (stage 1: structure, UTF-8, raw control characters;
    // stage 2: every string unescaped, every number and literal checked, nesting, nothing after
    // the root); the pointers are then found by scanning the validated text. Events DOM cannot
    // decide like the walk does (numbers it cannot represent, nesting at the limit) or whose
    // pointer path needs unescaping take the on-demand walk.
    if (fast_event(buf, len)) {
        finish(r, ev, buf, len, rules, true);
        return;
    }
    bool slow = false;
    simdjson::dom::element root;
    const simdjson::error_code derr = _dom.parse(buf, len, false).get(root);
    if (derr == simdjson::SUCCESS) {
        if (root.type() != simdjson::dom::element_type::OBJECT) {
            r.reason = reject_reason::not_object;
            return;
        }
        const char* p = buf;
        while (is_ws(*p)) ++p;
        for (std::size_t i = 0; i < nptr && !slow; ++i) {
            slow = find(p, buf + len, i, 0) == find_status::slow;
        }
    } else if (derr == simdjson::NUMBER_ERROR ||
               derr == simdjson::NUMBER_OUT_OF_RANGE || derr == simdjson::DEPTH_ERROR) {
        slow = true;
    } else {
        r.reason = reject_reason::not_json;
        return;
    }
    if (slow) {
        reset_captures();
        const std::uint32_t all = nptr == 32 ? ~0u : ((1u << nptr) - 1);
        od::json_type t;
        if (!walk_event(buf, len, buf_cap, all, t)) {
            r.reason = reject_reason::not_json;
            return;
        }
        if (t != od::json_type::object) {
            r.reason = reject_reason::not_object;
            return;
        }
    }
    finish(r, ev, buf, len, rules, false);
}

bool event_parser_impl::walk_event(const char* buf, std::size_t len, std::size_t buf_cap,
                                   std::uint32_t all, od::json_type& t) noexcept {
    od::document doc;
    if (_parser.iterate(buf, len, buf_cap).get(doc) != simdjson::SUCCESS) return false;
    if (doc.type().get(t) != simdjson::SUCCESS) return false;
    bool ok;
    if (t == od::json_type::object) {
        od::object obj;
        ok = doc.get_object().get(obj) == simdjson::SUCCESS && walk_object(obj, 0, all);
    } else if (t == od::json_type::array) {
        od::array arr;
        ok = doc.get_array().get(arr) == simdjson::SUCCESS && walk_array(arr, 0, 0);
    } else {
        std::string_view tok;
        ok = doc.raw_json_token().get(tok) == simdjson::SUCCESS;
        if (ok) {
            tok = trim_right(tok);
            switch (t) {
                case od::json_type::string: {
                    std::string_view s;
                    ok = doc.get_string().get(s) == simdjson::SUCCESS;
                    break;
                }
                case od::json_type::number: ok = valid_number(tok); break;
                case od::json_type::boolean: ok = tok == "true" || tok == "false"; break;
                case od::json_type::null: ok = tok == "null"; break;
                default: ok = false; break;
            }
            // A root scalar token runs to the end of the input: nothing may follow it.
            ok = ok && tok.data() + tok.size() <= buf + len &&
                 trim_right(std::string_view(tok.data(), static_cast<std::size_t>(
                                                              buf + len - tok.data()))) == tok;
        }
    }
    if (ok && t != od::json_type::string && t != od::json_type::number &&
        t != od::json_type::boolean && t != od::json_type::null) {
        // Trailing content after the root container.
        ok = doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
    }
    return ok;
}

inline void event_parser_impl::finish(event_result& r, const char* ev, const char* buf,
                                      std::size_t len, const compiled_rules& rules,
                                      bool no_backslash) noexcept {
    // Pointers into `buf` map back to the payload by offset.
    auto to_input = [&](const char* p, std::size_t n) {
        return bytes_view(reinterpret_cast<const std::byte*>(ev + (p - buf)), n);
    };
    if ((_present & rules.required_mask()) != rules.required_mask()) {
        r.reason = reject_reason::missing_field;
        return;
    }

    if (rules.timestamp_index() != compiled_rules::none) {
        const capture& c = _caps[static_cast<std::size_t>(rules.timestamp_index())];
        if (((_present >> rules.timestamp_index()) & 1) != 0) {
            result<std::int64_t> ms = errc::bad_timestamp;
            if (c.k == kind::number) {
                const char* b = c.token.data();
                const char* e = b + c.token.size();
                const bool integral = c.token.find_first_of(".eE") == std::string_view::npos;
                std::int64_t iv;
                double dv;
                const auto fi = integral ? std::from_chars(b, e, iv)
                                         : std::from_chars_result{b, std::errc::invalid_argument};
                if (fi.ec == std::errc{} && fi.ptr == e) {
                    ms = epoch_integer_to_ms(iv);
                } else if (auto fc = std::from_chars(b, e, dv);
                           fc.ec == std::errc{} && fc.ptr == e) {
                    ms = epoch_number_to_ms(dv);
                }
            } else if (c.k == kind::string) {
                ms = rfc3339_to_ms(c.unescaped);
            }
            if (!ms) {
                r.reason = reject_reason::bad_timestamp;
                return;
            }
            r.timestamp_ms = *ms;
            r.timestamp_from_event = true;
        }
    }

    if (rules.key_index() != compiled_rules::none) {
        const capture& c = _caps[static_cast<std::size_t>(rules.key_index())];
        if (((_present >> rules.key_index()) & 1) != 0) {
            r.has_key = true;
            switch (c.k) {
                case kind::string: {
                    // token is "..." (validated); its content between the quotes:
                    const std::string_view content = c.token.substr(1, c.token.size() - 2);
                    if (no_backslash || content.find('\\') == std::string_view::npos) {
                        r.key = to_input(content.data(), content.size());
                    } else {
                        // Unescaped is never longer than the escaped form, and the escaped
                        // forms of one datagram's keys fit in its length <= capacity; but a
                        // payload longer than capacity may still run out: then too_large.
                        if (c.unescaped.size() > _capacity - _keys_used) {
                            r.has_key = false;
                            r.reason = reject_reason::too_large;
                            return;
                        }
                        std::byte* dst = _keys.get() + _keys_used;
                        std::memcpy(dst, c.unescaped.data(), c.unescaped.size());
                        _keys_used += c.unescaped.size();
                        r.key = bytes_view(dst, c.unescaped.size());
                    }
                    break;
                }
                case kind::object:
                case kind::array: {
                    const char* end = container_end(c.start, buf + len);
                    r.key = to_input(c.start, static_cast<std::size_t>(end - c.start));
                    break;
                }
                default: r.key = to_input(c.token.data(), c.token.size()); break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// event_parser

event_parser::event_parser(const parser_options& options)
    : _impl(std::make_unique<event_parser_impl>(options)),
      _capacity(options.max_datagram_bytes) {
    SLUICE_ASSERT(options.max_datagram_bytes > 0);
#if defined(__PCLMUL__)
    __builtin_cpu_init();
    SLUICE_ASSERT(__builtin_cpu_supports("pclmul"), "CPU lacks PCLMULQDQ (simdjson kernel)");
#endif
}
event_parser::~event_parser() = default;
void event_parser::begin_burst() noexcept { _impl->begin_burst(); }
void event_parser::gather(bytes_view payload) noexcept {
    gather_strided(&payload, 0, 1);
}
void event_parser::gather_strided(const bytes_view* first, std::size_t stride_bytes,
                                  std::size_t n) noexcept {
    _impl->gather_strided(reinterpret_cast<const std::byte*>(first), stride_bytes, n);
}
void event_parser::index_burst() noexcept { _impl->index_burst(); }
event_parser::event_parser(event_parser&&) noexcept = default;
event_parser& event_parser::operator=(event_parser&&) noexcept = default;

namespace {

// The first '\n' in [p, end), or null. `padded`: 32 bytes past `end` are readable, so whole
// 32-byte blocks may be loaded (an NDJSON line is ~100 bytes: a few compares instead of a
// library call each).
inline const char* find_newline(const char* p, const char* end, bool padded) noexcept {
#if defined(__AVX2__)
    if (padded) {
        const __m256i newline = _mm256_set1_epi8('\n');
        for (; p < end; p += 32) {
            const auto m = static_cast<std::uint32_t>(_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), newline)));
            if (m != 0) {
                const char* const q = p + __builtin_ctz(m);
                return q < end ? q : nullptr;
            }
        }
        return nullptr;
    }
#else
    (void)padded;
#endif
    return static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
}

bool blank(const char* b, const char* e) noexcept {
    for (; b < e; ++b) {
        if (*b != ' ' && *b != '\t' && *b != '\r') return false;
    }
    return true;
}

}  // namespace

std::size_t event_parser::parse_datagram(bytes_view payload, std::size_t tailroom,
                                         const compiled_rules& rules, std::int64_t ingest_ms,
                                         std::span<event_result> out) noexcept {
    ++_stats.datagrams;
    _last_overflow = 0;
    _impl->begin_datagram(rules);
    // A gathered payload is read from its copy (the burst's index covers it); the results'
    // spans point into the payload at the same offsets.
    const char* const input = reinterpret_cast<const char*>(payload.data());
    bool one_line = false;
    const char* const copy =
        _impl->take_gathered(payload.data(), payload.size(), tailroom, one_line);
    // Not gathered: per event unless the NDJSON branch below indexes the payload (a gathered
    // one's index state was just set by take_gathered).
    if (copy != nullptr) ++_stats.gathered;
    else _impl->end_payload();
    const char* const base = copy != nullptr ? copy : input;
    const char* const end = base + payload.size();
    std::size_t written = 0;

    // Inlined at each use (parse() inlines its common case): left to GCC, it became a call.
    auto emit = [&](const char* b, const char* e) __attribute__((always_inline)) {
        if (written == out.size()) {
            ++_last_overflow;
            return;
        }
        event_result& r = out[written++];
        _impl->parse(input + (b - base), b, static_cast<std::size_t>(e - b),
                     static_cast<std::size_t>(end - e) + tailroom, rules, ingest_ms, _stats, r);
        if (r.accepted()) {
            ++_stats.events_accepted;
        } else {
            ++_stats.events_rejected;
            ++_stats.rejected_by_reason[static_cast<std::size_t>(r.reason)];
        }
    };

    // A gathered payload without a '\n' that is not blank is one line, one event: what the
    // framing below comes to for it, without its scans. Its first byte above ' ' settles
    // "not blank" in one compare (the copy has a '\n' after it, so that byte is readable).
    if (one_line && (static_cast<unsigned char>(*base) > ' ' || !blank(base, end))) {
        emit(base, end[-1] == '\r' ? end - 1 : end);
        _stats.overflow_events += _last_overflow;
        _impl->end_gathered();
        return written;
    }

    // The first non-blank line decides the framing (see the header).
    const bool padded = tailroom >= 32;
    const char* line = base;
    const char* first_b = nullptr;
    const char* first_e = nullptr;
    while (line < end) {
        const char* const nl = find_newline(line, end, padded);
        const char* e = nl ? nl : end;
        if (!blank(line, e)) {
            first_b = line;
            first_e = e;
            break;
        }
        line = e + 1;
    }
    if (first_b == nullptr) {
        if (written < out.size()) {
            event_result r;
            r.reason = reject_reason::empty;
            r.raw = payload;
            r.timestamp_ms = ingest_ms;
            out[written++] = r;
            ++_stats.events_rejected;
            ++_stats.rejected_by_reason[static_cast<std::size_t>(reject_reason::empty)];
        } else {
            ++_last_overflow;
        }
        _stats.overflow_events += _last_overflow;
        return written;
    }
    bool multi_line_doc = false;
    {
        std::string_view first(first_b, static_cast<std::size_t>(first_e - first_b));
        first = trim_right(first);
        const char last = first.back();
        if ((last == '{' || last == '[' || last == ',' || last == ':') && first_e < end) {
            const char* p = first_e + 1;
            while (p < end && is_ws(*p)) ++p;
            multi_line_doc = p < end;
        }
    }
    if (multi_line_doc) {
        const char* b = first_b;
        while (is_ws(*b)) ++b;
        const char* e = end;
        while (e > b && is_ws(e[-1])) --e;
        emit(b, e);
    } else {
        // Several lines: one stage-1 pass over the payload serves them all (fast path).
        if (end - first_e > 1) _impl->begin_payload(base, payload.size(), tailroom);
        // The first line's end is known from the framing scan: search for newlines after it.
        line = first_b;
        const char* e = first_e;
        for (;;) {
            // A line is not blank if its first byte is not whitespace (the common case, one
            // compare); line < end, so that byte is readable ('\n' when the line is empty).
            if (static_cast<unsigned char>(*line) > ' ' || !blank(line, e)) {
                const char* ee = (e > line && e[-1] == '\r') ? e - 1 : e;
                emit(line, ee);
            }
            line = e + 1;
            if (line >= end) break;
            const char* const nl = find_newline(line, end, padded);
            e = nl ? nl : end;
        }
    }
    _stats.overflow_events += _last_overflow;
    if (copy != nullptr) _impl->end_gathered();
    return written;
}

}  // namespace sluice::event
