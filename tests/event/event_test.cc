#include <sluice/event/event.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::event;

namespace {

compiled_rules rules_of(topic_rules r) {
    auto c = compiled_rules::make(r);
    EXPECT_TRUE(c.ok());
    return std::move(c).value();
}

std::string str(bytes_view b) { return std::string(as_chars(b)); }

struct run {
    std::vector<event_result> results;
    std::size_t overflow = 0;
};

// Parses `payload` from a buffer with `tailroom` bytes of readable padding after it.
run parse(event_parser& p, const std::string& payload, const compiled_rules& rules,
          std::size_t tailroom = 64, std::size_t out_size = 64, std::int64_t ingest = 777) {
    // The backing store outlives the spans only for the duration of the call site; tests
    // compare immediately, so keep it in a static ring of buffers.
    static std::array<std::vector<char>, 4> store;
    static std::size_t next = 0;
    auto& buf = store[next++ % store.size()];
    buf.assign(payload.size() + tailroom, ' ');
    std::copy(payload.begin(), payload.end(), buf.begin());
    std::vector<event_result> out(out_size);
    const std::size_t n = p.parse_datagram(
        bytes_view(reinterpret_cast<const std::byte*>(buf.data()), payload.size()), tailroom,
        rules, ingest, out);
    out.resize(n);
    return {out, p.last_overflow()};
}

reject_reason one(event_parser& p, const std::string& payload, const compiled_rules& rules,
                  std::size_t tailroom = 64) {
    auto r = parse(p, payload, rules, tailroom);
    EXPECT_EQ(r.results.size(), 1u) << payload;
    return r.results.empty() ? reject_reason::none : r.results[0].reason;
}

const compiled_rules& plain() {
    static compiled_rules r = rules_of({});
    return r;
}

}  // namespace

TEST(event_rules, compile_and_reject_bad_pointers) {
    EXPECT_TRUE(compiled_rules::make({.key_pointer = "/a/b~1c~0d"}).ok());
    EXPECT_FALSE(compiled_rules::make({.key_pointer = "a"}).ok());
    EXPECT_FALSE(compiled_rules::make({.key_pointer = "/a~2"}).ok());
    EXPECT_FALSE(compiled_rules::make({.key_pointer = "/a~"}).ok());
    EXPECT_FALSE(compiled_rules::make({.require_pointers = {""}}).ok());
    auto c = compiled_rules::make(
        {.key_pointer = "/id", .require_pointers = {"/id", "/x"}, .timestamp_pointer = "/t"});
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->pointers().size(), 3u);  // /id shared by key and require
    EXPECT_EQ(c->pointers()[0].tokens, std::vector<std::string>{"id"});
    topic_rules many;
    for (int i = 0; i < 40; ++i) many.require_pointers.push_back("/f" + std::to_string(i));
    EXPECT_FALSE(compiled_rules::make(many).ok());
}

TEST(event_reason, stable_names) {
    EXPECT_EQ(to_string(reject_reason::not_json), "not_json");
    EXPECT_EQ(to_string(reject_reason::not_object), "not_object");
    EXPECT_EQ(to_string(reject_reason::too_large), "too_large");
    EXPECT_EQ(to_string(reject_reason::missing_field), "missing_field");
    EXPECT_EQ(to_string(reject_reason::bad_timestamp), "bad_timestamp");
    EXPECT_EQ(to_string(reject_reason::empty), "empty");
    EXPECT_EQ(to_errc(reject_reason::not_json), errc::not_json);
}

TEST(event_parse, accepts_valid_objects) {
    event_parser p;
    for (const char* s : {
             R"({})", R"({"a":1})", R"( {"a" : [1, 2.5, -3e10, true, false, null, "x"]} )",
             R"({"a":{"b":{"c":[[],{}]}}})", R"({"s":"\u00e9\n\"\\\/\b\f\r\t"})",
             R"({"emoji":"😀", "u":"\ud83d\ude00"})", R"({"big":123456789012345678901234567890})",
             R"({"huge":1e400, "tiny":-1e-400, "z":-0.0E+0})", R"({"a":1,"a":2})",
         }) {
        EXPECT_EQ(one(p, s, plain()), reject_reason::none) << s;
    }
}

TEST(event_parse, rejects_malformed_json) {
    event_parser p;
    for (const char* s : {
             R"({"a":1)",          // truncated
             R"({"a":)",           // truncated
             R"({"a)",             // unterminated string
             R"({"a":1}x)",        // trailing garbage
             R"({"a":1}})",        // trailing brace
             R"({"a":1} {"b":2})", // two documents on one line
             R"({"a":1,})",        // trailing comma
             R"({"a" 1})",         // missing colon
             R"({"a":1 "b":2})",   // missing comma
             R"({a:1})",           // unquoted key
             R"({'a':1})",         // single quotes
             R"({"a":"\x"})",      // bad escape
             R"({"a":"\u12"})",    // short unicode escape
             R"({"a":"\ud800"})",  // lone surrogate
             R"({"\q":1})",        // bad escape in a key
             R"({"a":tru})",       // bad literal
             R"({"a":nul})",       // bad literal
             R"({"a":truex})",     // bad literal
             R"({"a":01})",        // leading zero
             R"({"a":1.})",        // bad fraction
             R"({"a":.5})",        // bad number
             R"({"a":-})",         // bad number
             R"({"a":1e})",        // bad exponent
             R"({"a":+1})",        // plus sign
             R"({"a":NaN})",       // not JSON
             R"({"a":[1,2})",      // unbalanced
             R"({"a":[1,,2]})",    // empty element
             R"({"deep":{"x":[1,{"y":bad}]}})",  // malformed deep inside
             "{\"a\":\"tab\there\"}",             // raw control character in a string
             "{\"a\tb\":1}",                     // raw control character in a key
             "{\"a\":\"\xff\"}",                  // invalid UTF-8
             "{\"a\":\"\xc3\"}",                  // truncated UTF-8 sequence
             "{\"a\":\"\xed\xa0\x80\"}",          // UTF-8 encoded surrogate
             "{\"a\":1}\x01",                     // trailing control byte
         }) {
        EXPECT_EQ(one(p, s, plain()), reject_reason::not_json) << s;
    }
}

TEST(event_parse, rejects_deep_nesting) {
    event_parser p;
    std::string ok = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
    EXPECT_EQ(one(p, ok, plain()), reject_reason::none);
    std::string deep = "{\"a\":" + std::string(2000, '[') + std::string(2000, ']') + "}";
    EXPECT_EQ(one(p, deep, plain()), reject_reason::not_json);
    std::string deep_obj;
    for (int i = 0; i < 500; ++i) deep_obj += "{\"a\":";
    deep_obj += "1" + std::string(500, '}');
    EXPECT_EQ(one(p, deep_obj, plain()), reject_reason::not_json);
}

TEST(event_parse, non_objects) {
    event_parser p;
    for (const char* s : {"[1,2]", "42", "\"str\"", "true", "null", "[]", "-1.5e3"}) {
        EXPECT_EQ(one(p, s, plain()), reject_reason::not_object) << s;
    }
    for (const char* s : {"[1,2", "4 2", "\"str", "tru", "[1]]", "\"a\" 1"}) {
        EXPECT_EQ(one(p, s, plain()), reject_reason::not_json) << s;
    }
}

TEST(event_parse, required_fields) {
    event_parser p;
    auto rules = rules_of({.require_pointers = {"/id", "/meta/src", "/list/1"}});
    EXPECT_EQ(one(p, R"({"id":1,"meta":{"src":"a"},"list":[0,5]})", rules), reject_reason::none);
    EXPECT_EQ(one(p, R"({"id":0,"meta":{"src":false},"list":[0,{}]})", rules),
              reject_reason::none);
    EXPECT_EQ(one(p, R"({"meta":{"src":"a"},"list":[0,5]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":null,"meta":{"src":"a"},"list":[0,5]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":1,"meta":{"src":null},"list":[0,5]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":1,"meta":{"other":1},"list":[0,5]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":1,"meta":"src","list":[0,5]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":1,"meta":{"src":"a"},"list":[0]})", rules),
              reject_reason::missing_field);
    EXPECT_EQ(one(p, R"({"id":1,"meta":{"src":"a"},"list":{"1":3}})", rules),
              reject_reason::none);  // RFC 6901: "1" also names an object member
    // Malformed JSON wins over a missing field.
    EXPECT_EQ(one(p, R"({"x":1,)", rules), reject_reason::not_json);
}

TEST(event_parse, pointer_escapes) {
    event_parser p;
    auto rules = rules_of({.key_pointer = "/a~1b/c~0d"});
    auto r = parse(p, R"({"a/b":{"c~d":"k"}})", rules);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_TRUE(r.results[0].has_key);
    EXPECT_EQ(str(r.results[0].key), "k");
    // Escaped key names in the document match too.
    r = parse(p, R"({"a\/b":{"c\u007ed":"k2"}})", rules);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(str(r.results[0].key), "k2");
}

TEST(event_parse, key_extraction) {
    event_parser p;
    auto rules = rules_of({.key_pointer = "/k"});
    struct tc {
        std::string in;
        bool has;
        std::string key;
        bool points_into_input;
    };
    for (const tc& t : std::vector<tc>{
             {R"({"k":"abc"})", true, "abc", true},
             {R"({"k":""})", true, "", true},
             {R"({"k":42})", true, "42", true},
             {R"({"k" : -4.5e3 , "x":1})", true, "-4.5e3", true},
             {R"({"k":true})", true, "true", true},
             {R"({"k":null})", false, "", false},
             {R"({"x":1})", false, "", false},
             {R"({"k":"a\"b\\c\u00e9"})", true, "a\"b\\c\xc3\xa9", false},
             {R"({"k":{"a": [1, "}"]} })", true, R"({"a": [1, "}"]})", true},
             {R"({"k":[1,2]})", true, "[1,2]", true},
             {R"({"k":"first","k":"second"})", true, "first", true},
             {R"({"x":{"k":1},"k":"top"})", true, "top", true},
         }) {
        auto r = parse(p, t.in, rules);
        ASSERT_EQ(r.results.size(), 1u) << t.in;
        const auto& e = r.results[0];
        EXPECT_TRUE(e.accepted()) << t.in;
        EXPECT_EQ(e.has_key, t.has) << t.in;
        EXPECT_EQ(str(e.key), t.key) << t.in;
        if (t.points_into_input && !t.key.empty()) {
            EXPECT_GE(e.key.data(), e.raw.data()) << t.in;
            EXPECT_LE(e.key.data() + e.key.size(), e.raw.data() + e.raw.size()) << t.in;
        }
    }
}

TEST(event_parse, escaped_keys_of_one_datagram_stay_valid) {
    event_parser p;
    auto rules = rules_of({.key_pointer = "/k"});
    auto r = parse(p, "{\"k\":\"a\\u0041\"}\n{\"k\":\"b\\u0042\"}\n{\"k\":\"plain\"}\n", rules);
    ASSERT_EQ(r.results.size(), 3u);
    EXPECT_EQ(str(r.results[0].key), "aA");
    EXPECT_EQ(str(r.results[1].key), "bB");
    EXPECT_EQ(str(r.results[2].key), "plain");
}

TEST(event_parse, key_from_scratch_copy_points_into_input) {
    event_parser p;
    auto rules = rules_of({.key_pointer = "/k"});
    auto r = parse(p, R"({"k":"abc"})", rules, /*tailroom=*/0);
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(str(r.results[0].key), "abc");
    EXPECT_EQ(r.results[0].key.data(), r.results[0].raw.data() + 6);
    EXPECT_EQ(p.stats().scratch_copies, 1u);
}

TEST(event_parse, timestamps) {
    event_parser p;
    auto rules = rules_of({.timestamp_pointer = "/t"});
    struct tc {
        std::string t;
        std::int64_t ms;
    };
    for (const tc& c : std::vector<tc>{
             {"1551136074", 1551136074000},              // seconds
             {"1551136074.5", 1551136074500},            // fractional seconds
             {"1551136074123", 1551136074123},           // ms
             {"1551136074123456", 1551136074123},        // µs
             {"1551136074123456789", 1551136074123},     // ns
             {"0", 0},
             {"-1", -1000},                              // before the epoch
             {"1.5e9", 1500000000000},
             {"\"2021-03-01T12:00:00Z\"", 1614600000000},
             {"\"2021-03-01t12:00:00z\"", 1614600000000},
             {"\"2021-03-01 12:00:00Z\"", 1614600000000},
             {"\"2021-03-01T12:00:00.123Z\"", 1614600000123},
             {"\"2021-03-01T12:00:00.123456789Z\"", 1614600000123},
             {"\"2021-03-01T14:00:00+02:00\"", 1614600000000},
             {"\"2021-03-01T07:30:00-04:30\"", 1614600000000},
             {"\"2021-03-01T14:00:00+0200\"", 1614600000000},
             {"\"2020-02-29T00:00:00Z\"", 1582934400000},
             {"\"1970-01-01T00:00:00Z\"", 0},
             {"\"1969-12-31T23:59:59Z\"", -1000},
         }) {
        auto r = parse(p, "{\"t\":" + c.t + "}", rules);
        ASSERT_EQ(r.results.size(), 1u);
        EXPECT_TRUE(r.results[0].accepted()) << c.t;
        EXPECT_TRUE(r.results[0].timestamp_from_event) << c.t;
        EXPECT_EQ(r.results[0].timestamp_ms, c.ms) << c.t;
    }
    for (const char* bad : {"\"yesterday\"", "\"2021-02-29T00:00:00Z\"", "\"2021-13-01T00:00:00Z\"",
                            "\"2021-03-01T24:00:00Z\"", "\"2021-03-01T12:00:00\"",
                            "\"2021-03-01T12:00:00.Z\"", "\"2021-03-01T12:00:00Zjunk\"",
                            "\"2021-03-01\"", "\"\"", "true", "{}", "[1]", "1e400",
                            "-1e300"}) {
        EXPECT_EQ(one(p, std::string("{\"t\":") + bad + "}", rules), reject_reason::bad_timestamp)
            << bad;
    }
    // Missing or null: ingest time.
    for (const char* s : {R"({"x":1})", R"({"t":null})"}) {
        auto r = parse(p, s, rules, 64, 4, /*ingest=*/12345);
        ASSERT_EQ(r.results.size(), 1u);
        EXPECT_TRUE(r.results[0].accepted());
        EXPECT_FALSE(r.results[0].timestamp_from_event);
        EXPECT_EQ(r.results[0].timestamp_ms, 12345);
    }
}

TEST(event_time, helpers) {
    EXPECT_EQ(*epoch_integer_to_ms(99'999'999'999), 99'999'999'999'000);
    EXPECT_EQ(*epoch_integer_to_ms(100'000'000'000), 100'000'000'000);
    EXPECT_EQ(*epoch_integer_to_ms(-1'500'000'000'000'000), -1'500'000'000'000);
    EXPECT_EQ(*epoch_integer_to_ms(-1'500'000'000'000'001), -1'500'000'000'001);  // floor
    EXPECT_EQ(*epoch_number_to_ms(1.0009), 1000);
    EXPECT_FALSE(epoch_number_to_ms(1e300).ok());
    EXPECT_EQ(*rfc3339_to_ms("2000-01-01T00:00:00Z"), 946684800000);
    EXPECT_FALSE(rfc3339_to_ms("2000-01-01T00:00:00+24:00").ok());
}

TEST(event_framing, ndjson_lines) {
    event_parser p;
    auto r = parse(p, "\n{\"a\":1}\r\n\r\n   \n{\"a\":2}\n\n{\"a\":3}\n", plain());
    ASSERT_EQ(r.results.size(), 3u);
    EXPECT_EQ(str(r.results[0].raw), "{\"a\":1}");
    EXPECT_EQ(str(r.results[1].raw), "{\"a\":2}");
    EXPECT_EQ(str(r.results[2].raw), "{\"a\":3}");
    for (auto& e : r.results) EXPECT_TRUE(e.accepted());
    // No trailing newline; a bad line only rejects itself.
    r = parse(p, "{\"a\":1}\n{\"a\":\n{\"a\":3}", plain());
    ASSERT_EQ(r.results.size(), 3u);
    EXPECT_TRUE(r.results[0].accepted());
    EXPECT_EQ(r.results[1].reason, reject_reason::not_json);
    EXPECT_EQ(str(r.results[1].raw), "{\"a\":");
    EXPECT_TRUE(r.results[2].accepted());
}

TEST(event_framing, pretty_printed_single_document) {
    event_parser p;
    const std::string doc = "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}";
    auto r = parse(p, "\n" + doc + "\r\n", plain());
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_TRUE(r.results[0].accepted());
    EXPECT_EQ(str(r.results[0].raw), doc);
    r = parse(p, "{\"a\": 1,\n \"b\": 2}\n", plain());
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_TRUE(r.results[0].accepted());
}

TEST(event_framing, empty_payloads) {
    event_parser p;
    for (const char* s : {"", "\n", "\r\n", "  \n\t\n"}) {
        auto r = parse(p, s, plain());
        ASSERT_EQ(r.results.size(), 1u) << s;
        EXPECT_EQ(r.results[0].reason, reject_reason::empty);
    }
    EXPECT_EQ(p.stats().rejected_by_reason[static_cast<int>(reject_reason::empty)], 4u);
}

TEST(event_framing, overflow_is_counted) {
    event_parser p;
    auto r = parse(p, "{}\n{}\n{}\n{}\n{}\n", plain(), 64, /*out_size=*/2);
    EXPECT_EQ(r.results.size(), 2u);
    EXPECT_EQ(r.overflow, 3u);
    EXPECT_EQ(p.stats().overflow_events, 3u);
    r = parse(p, "{}\n", plain(), 64, 0);
    EXPECT_EQ(r.results.size(), 0u);
    EXPECT_EQ(r.overflow, 1u);
}

TEST(event_framing, oversize_events) {
    event_parser p(parser_options{.max_datagram_bytes = 4096});
    auto rules = rules_of({.max_event_bytes = 100});
    const std::string big = "{\"a\":\"" + std::string(200, 'x') + "\"}";
    auto r = parse(p, "{\"a\":1}\n" + big + "\n{\"b\":2}", rules);
    ASSERT_EQ(r.results.size(), 3u);
    EXPECT_TRUE(r.results[0].accepted());
    EXPECT_EQ(r.results[1].reason, reject_reason::too_large);
    EXPECT_EQ(r.results[1].raw.size(), big.size());
    EXPECT_TRUE(r.results[2].accepted());
    // Bigger than the parser's capacity, even if the topic allows it.
    const std::string huge = "{\"a\":\"" + std::string(5000, 'x') + "\"}";
    EXPECT_EQ(one(p, huge, plain()), reject_reason::too_large);
    // Exactly at the limit is fine.
    const std::string at = "{\"a\":\"" + std::string(100 - 8, 'x') + "\"}";
    ASSERT_EQ(at.size(), 100u);
    EXPECT_EQ(one(p, at, rules), reject_reason::none);
}

TEST(event_framing, scratch_copies_counted) {
    event_parser p;
    // Enough tailroom: in place, no copies.
    (void)parse(p, "{\"a\":1}\n{\"a\":2}", plain(), 64);
    EXPECT_EQ(p.stats().scratch_copies, 0u);
    // No tailroom: only the last event lacks padding (the first is followed by >= 64 bytes).
    const std::string second = "{\"a\":\"" + std::string(80, 'y') + "\"}";
    auto r = parse(p, "{\"a\":1}\n" + second, plain(), 0);
    ASSERT_EQ(r.results.size(), 2u);
    EXPECT_TRUE(r.results[0].accepted());
    EXPECT_TRUE(r.results[1].accepted());
    EXPECT_EQ(p.stats().scratch_copies, 1u);
    EXPECT_EQ(str(r.results[1].raw), second);
    // Short lines near the end are all copied.
    (void)parse(p, "{\"a\":1}\n{\"a\":2}", plain(), 0);
    EXPECT_EQ(p.stats().scratch_copies, 3u);
    // Errors from a scratch copy are still detected.
    EXPECT_EQ(one(p, "{\"a\":1", plain(), 0), reject_reason::not_json);
    EXPECT_EQ(one(p, "{\"a\":1}x", plain(), 0), reject_reason::not_json);
}

TEST(event_framing, stats) {
    event_parser p;
    (void)parse(p, "{}\n[]\n{\n", plain());
    EXPECT_EQ(p.stats().datagrams, 1u);
    EXPECT_EQ(p.stats().events_accepted, 1u);
    EXPECT_EQ(p.stats().events_rejected, 2u);
    EXPECT_EQ(p.stats().rejected_by_reason[static_cast<int>(reject_reason::not_object)], 1u);
    EXPECT_EQ(p.stats().rejected_by_reason[static_cast<int>(reject_reason::not_json)], 1u);
}

namespace {

std::filesystem::path shared_data() {
    if (const char* env = std::getenv("SLUICE_SHARED_DATA"); env && *env) return env;
#ifdef SLUICE_SHARED_DATA_DIR
    for (const char* d : {SLUICE_SHARED_DATA_DIR, SLUICE_SHARED_DATA_DIR_ALT}) {
        if (std::filesystem::is_directory(d)) return d;
    }
#endif
    return {};
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

TEST(event_golden, temp_readings) {
    const auto dir = shared_data();
    if (dir.empty() || !std::filesystem::exists(dir / "temp_readings.ndjson")) {
        GTEST_SKIP() << "shared data folder not found (set SLUICE_SHARED_DATA)";
    }
    const std::string input = read_file(dir / "temp_readings.ndjson");
    const std::string expected = read_file(dir / "temp_clean.expected.ndjson");
    std::vector<std::string> expected_lines;
    {
        std::istringstream s(expected);
        for (std::string l; std::getline(s, l);) {
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (!l.empty()) expected_lines.push_back(l);
        }
    }
    ASSERT_FALSE(expected_lines.empty());
    auto rules = rules_of(
        {.key_pointer = "/sensor_id", .require_pointers = {"/sensor_id"},
         .timestamp_pointer = "/time_epoch"});
    event_parser p;
    for (std::size_t tail : {std::size_t{0}, std::size_t{64}}) {
        auto r = parse(p, input, rules, tail);
        std::vector<std::string> accepted;
        std::size_t rejected = 0;
        for (const auto& e : r.results) {
            if (e.accepted()) {
                accepted.push_back(str(e.raw));
                EXPECT_TRUE(e.has_key);
                EXPECT_EQ(str(e.key), "42");
                EXPECT_TRUE(e.timestamp_from_event);
                EXPECT_GT(e.timestamp_ms, 1'500'000'000'000);
            } else {
                ++rejected;
                EXPECT_EQ(e.reason, reject_reason::missing_field);
                EXPECT_NE(str(e.raw).find("\"sensor_id\":null"), std::string::npos);
            }
        }
        EXPECT_EQ(accepted, expected_lines);
        EXPECT_EQ(rejected, 1u);
    }
    // Also one event per datagram, as a sender would do it.
    std::istringstream s(input);
    std::vector<std::string> accepted;
    std::size_t rejected = 0;
    for (std::string l; std::getline(s, l);) {
        auto r = parse(p, l, rules, 0);
        ASSERT_EQ(r.results.size(), 1u);
        if (r.results[0].accepted()) accepted.push_back(str(r.results[0].raw));
        else ++rejected;
    }
    EXPECT_EQ(accepted, expected_lines);
    EXPECT_EQ(rejected, 1u);
}

// Pointer lookup on the DOM-validated text must match the full walk's semantics, including the
// cases that fall back to it (escaped member names / key strings, unrepresentable numbers,
// nesting at the limit).
TEST(event_parse, pointer_lookup_edge_cases) {
    event_parser p;
    {
        // Duplicate member: the first occurrence that holds the rest of the pointer wins.
        auto rules = rules_of({.key_pointer = "/a/b"});
        auto r = parse(p, R"({"a":{"x":1},"a":{"b":2},"a":{"b":3}})", rules);
        ASSERT_EQ(r.results.size(), 1u);
        EXPECT_TRUE(r.results[0].has_key);
        EXPECT_EQ(str(r.results[0].key), "2");
    }
    {
        // Escaped member name on the path; escaped key string (unescaped into the key buffer).
        auto rules = rules_of({.key_pointer = "/x~1y", .require_pointers = {"/n"}});
        auto r = parse(p, "{\"n\":1,\"x\\/y\":\"a\\nb\"}\n{\"n\":[1],\"x/y\":\"plain\"}", rules);
        ASSERT_EQ(r.results.size(), 2u);
        EXPECT_EQ(str(r.results[0].key), "a\nb");
        EXPECT_EQ(str(r.results[1].key), "plain");
    }
    {
        // Array index, containers and numbers as keys (raw text), big numbers (walk only).
        auto rules = rules_of({.key_pointer = "/a/1"});
        auto r = parse(p,
                       "{\"a\":[0, {\"k\": [1, 2]} ,3]}\n{\"a\":[0,-1.50e+3]}\n"
                       "{\"a\":[0,123456789012345678901234567890]}\n{\"a\":[0]}\n"
                       "{\"a\":[0,1e400 ]}",
                       rules);
        ASSERT_EQ(r.results.size(), 5u);
        EXPECT_EQ(str(r.results[0].key), "{\"k\": [1, 2]}");
        EXPECT_EQ(str(r.results[1].key), "-1.50e+3");
        EXPECT_EQ(str(r.results[2].key), "123456789012345678901234567890");
        EXPECT_TRUE(r.results[3].accepted());
        EXPECT_FALSE(r.results[3].has_key);
        EXPECT_EQ(str(r.results[4].key), "1e400");
    }
    {
        // max_depth + 1 nested containers pass only when the innermost one is empty.
        const std::string ok = "{\"a\":" + std::string(max_depth, '[') +
                               std::string(max_depth, ']') + "}";
        EXPECT_EQ(one(p, ok, plain()), reject_reason::none);
        const std::string deep = "{\"a\":" + std::string(max_depth, '[') + "1" +
                                 std::string(max_depth, ']') + "}";
        EXPECT_EQ(one(p, deep, plain()), reject_reason::not_json);
        const std::string deeper = "{\"a\":" + std::string(max_depth + 1, '[') +
                                   std::string(max_depth + 1, ']') + "}";
        EXPECT_EQ(one(p, deeper, plain()), reject_reason::not_json);
    }
    {
        // Timestamp as integer / fraction / string; malformed content elsewhere rejected.
        auto rules = rules_of({.timestamp_pointer = "/t"});
        auto r = parse(p,
                       "{\"t\":1614600000}\n{\"t\":1614600000123.9}\n"
                       "{\"t\":\"2021-03-01T12:00:00Z\"}\n{\"t\":1,\"x\":01}\n"
                       "{\"t\":1,\"x\":\"\\q\"}",
                       rules);
        ASSERT_EQ(r.results.size(), 5u);
        EXPECT_EQ(r.results[0].timestamp_ms, 1614600000000);
        EXPECT_EQ(r.results[1].timestamp_ms, 1614600000123);
        EXPECT_EQ(r.results[2].timestamp_ms, 1614600000000);
        EXPECT_EQ(r.results[3].reason, reject_reason::not_json);
        EXPECT_EQ(r.results[4].reason, reject_reason::not_json);
    }
}

namespace {

// Rules and inputs of the fast-path differential tests: seeds covering the sensor shape,
// nesting, every scalar kind and pointer kinds, alone and as NDJSON payloads of several lines;
// every single-byte deletion, duplication and replacement by a JSON-significant byte of each.
std::array<compiled_rules, 3> differential_rules() {
    return {
        rules_of({.key_pointer = "/sensor_id", .require_pointers = {"/sensor_id"},
                  .timestamp_pointer = "/ts"}),
        rules_of({.key_pointer = "/a/0/b", .require_pointers = {"/a", "/s"},
                  .timestamp_pointer = "/m/t"}),
        rules_of({.key_pointer = "/s", .timestamp_pointer = "/t"}),
    };
}

std::vector<std::string> differential_inputs() {
    const std::vector<std::string> seeds = {
        R"({"sensor_id":17,"seq":42,"ts":1700000000042,"temp":15.42,"hum":30.5,"site":"plant-07"})",
        R"({ "s" : "x y" , "t" : "2024-01-02T03:04:05Z" , "n" : null , "b" : [ true , false ] })",
        R"({"a":[{"b":"k1"},{"b":2}],"m":{"t":1.5e3},"s":-0.0E+0,"e":{},"f":[]})",
        R"({"s":{"x":[1,[2,[3]]]},"t":12345678901234567890123,"u":"\u00e9\n"})",
        R"({"sensor_id":"abc","ts":"not a time","x":1e400})",
        R"({"sensor_id":null,"ts":null})",
        // Number shapes around the 16-byte classification (digits only, one '.', exponents,
        // leading zeros, signs) and flat members before and after a nested value.
        R"({"a":0,"b":-0.5,"c":10.25,"d":1E-7,"e":-12e+3,"ts":0.0,"g":1234567890123456,)"
        R"("h":12345678901234567,"i":-123456789012345,"j":[1.5],"l":true,"m":false})",
        // Root-level numbers and literals followed by whitespace before the separator.
        "{ \"a\" : 12 , \"b\":-0.5\t, \"c\" : 1e2 , \"d\" : 0 ,\"e\":7 ,\"f\":true }",
        // Empty and one-member roots (the root object's opening is special-cased).
        "{}", " { } ", R"({"s":{}})", R"({"a":[]})",
        // Empty names and strings: a name's closing quote right after its opening one, before
        // the ':' (the flat loop's quote-colon test), and mutations that leave a lone quote
        // next to a ':' or ','.
        R"({"":1,"s":"","t":"","":{"":[""]},"a":[]})",
    };
    const std::string alphabet = "{}[]:,\" \\0-1.eE+tfnux\t\x01\xff";
    // NDJSON payloads: the payload-level stage 1 must hand each line exactly its structurals,
    // also when a mutation leaves a quote open across lines or breaks one line only.
    std::vector<std::string> payloads = seeds;
    {
        // More root members than the fast path records (32): the pointers' members come after
        // the 32nd, one after a nested value.
        std::string wide = "{";
        for (int k = 0; k < 40; ++k) {
            if (k == 20) wide += R"("n":{"a":[1,{"b":2}]},)";
            wide += "\"m" + std::to_string(k) + "\":" + std::to_string(k * 7) + ",";
        }
        wide += R"("ts":1700000000000,"sensor_id":"late","s":"x","t":5})";
        payloads.push_back(wide);
    }
    payloads.push_back(seeds[0] + "\n" + seeds[1] + "\r\n\n  " + seeds[2] + "\n");
    payloads.push_back(seeds[5] + "\n" + seeds[0] + "\n" + seeds[3]);
    std::vector<std::string> inputs;
    for (const std::string& s : payloads) {
        inputs.push_back(s);
        for (std::size_t i = 0; i < s.size(); ++i) {
            inputs.push_back(s.substr(0, i) + s.substr(i + 1));
            inputs.push_back(s.substr(0, i + 1) + s.substr(i));
            for (char c : alphabet) {
                if (s[i] == c) continue;
                std::string m = s;
                m[i] = c;
                inputs.push_back(m);
            }
        }
    }
    return inputs;
}

}  // namespace

// The structural fast path must give exactly the exact path's results (it only short-cuts
// events it can prove valid; everything else goes the DOM / on-demand way). Seeds cover the
// sensor shape, nesting, every scalar kind and pointer kinds, alone and as NDJSON payloads of
// several lines; every single-byte deletion,
// duplication and replacement by a JSON-significant byte of each seed is compared on reason,
// raw span, key and timestamp, in place and from the scratch copy.
TEST(event_parse, structural_fast_path_matches_exact_path) {
    event_parser fast;
    event_parser exact(parser_options{.max_datagram_bytes = 65536, .structural_fast_path = false});
    const std::array<compiled_rules, 3> rules = differential_rules();
    const std::vector<std::string> inputs = differential_inputs();
    std::size_t accepted = 0;
    for (const std::string& in : inputs) {
        for (const compiled_rules& r : rules) {
            for (std::size_t tail : {std::size_t{64}, std::size_t{0}}) {
                const run a = parse(fast, in, r, tail);
                const run b = parse(exact, in, r, tail);
                ASSERT_EQ(a.results.size(), b.results.size()) << in;
                for (std::size_t k = 0; k < a.results.size(); ++k) {
                    const event_result& x = a.results[k];
                    const event_result& y = b.results[k];
                    ASSERT_EQ(x.reason, y.reason) << in;
                    ASSERT_EQ(str(x.raw), str(y.raw)) << in;
                    ASSERT_EQ(x.has_key, y.has_key) << in;
                    ASSERT_EQ(str(x.key), str(y.key)) << in;
                    ASSERT_EQ(x.timestamp_from_event, y.timestamp_from_event) << in;
                    ASSERT_EQ(x.timestamp_ms, y.timestamp_ms) << in;
                    accepted += x.accepted();
                }
            }
        }
    }
    // The mutations must exercise both outcomes (not a vacuous comparison).
    EXPECT_GT(accepted, inputs.size() / 4);
    EXPECT_LT(accepted, inputs.size() * 3 * 2 * 3);
}

// Burst gathering (event_parser::gather) must give exactly the per-datagram results, with every
// span pointing into the payload it came from (not into the gathered copy). Bursts of up to 7
// consecutive differential inputs, so a burst mixes good events with mutations that break
// stage 1 for the whole burst (bad UTF-8, an unclosed string, a raw control character) or only
// one event; some payloads are not gathered (a backslash, longer than the gather bound), some
// gathered ones are skipped (never parsed, as the pipeline skips a datagram its allow-list
// drops), and the payloads lie in one buffer without padding after the last.
TEST(event_parse, burst_gathering_matches_per_datagram_parsing) {
    event_parser burst(parser_options{.max_datagram_bytes = 65536, .gather_payload_bytes_max = 160});
    event_parser single(parser_options{.max_datagram_bytes = 65536, .gather_bytes = 0});
    event_parser exact(parser_options{.max_datagram_bytes = 65536, .structural_fast_path = false});
    const std::array<compiled_rules, 3> rules = differential_rules();
    const std::vector<std::string> inputs = differential_inputs();
    std::size_t compared = 0, accepted = 0, skipped = 0;
    for (std::size_t first = 0; first < inputs.size(); first += 7) {
        const std::size_t count = std::min<std::size_t>(1 + first % 7, inputs.size() - first);
        // All payloads of the burst back to back in one buffer sized exactly to them.
        std::string all;
        std::vector<std::pair<std::size_t, std::size_t>> at;  // offset, size
        for (std::size_t k = 0; k < count; ++k) {
            at.emplace_back(all.size(), inputs[first + k].size());
            all += inputs[first + k];
        }
        std::vector<char> buf(all.begin(), all.end());
        auto view = [&](std::size_t k) {
            return bytes_view(reinterpret_cast<const std::byte*>(buf.data()) + at[k].first,
                              at[k].second);
        };
        const compiled_rules& r = rules[first % rules.size()];
        burst.begin_burst();
        for (std::size_t k = 0; k < count; ++k) burst.gather(view(k));
        burst.index_burst();
        for (std::size_t k = 0; k < count; ++k) {
            if ((first + k) % 11 == 5) {  // skipped: the burst's later payloads still match
                ++skipped;
                continue;
            }
            const bytes_view p = view(k);
            const std::size_t tail = buf.size() - (at[k].first + at[k].second);
            std::array<event_result, 16> x{}, y{}, z{};
            const std::size_t nx = burst.parse_datagram(p, tail, r, 777, x);
            const std::size_t ny = single.parse_datagram(p, tail, r, 777, y);
            const std::size_t nz = exact.parse_datagram(p, tail, r, 777, z);
            const std::string in = str(p);
            ASSERT_EQ(nx, ny) << in;
            ASSERT_EQ(nx, nz) << in;
            ASSERT_EQ(burst.last_overflow(), single.last_overflow()) << in;
            for (std::size_t e = 0; e < nx; ++e) {
                for (const event_result* o : {&y[e], &z[e]}) {
                    ASSERT_EQ(x[e].reason, o->reason) << in;
                    ASSERT_EQ(x[e].raw.data(), o->raw.data()) << in;  // same span of the payload
                    ASSERT_EQ(x[e].raw.size(), o->raw.size()) << in;
                    ASSERT_EQ(x[e].has_key, o->has_key) << in;
                    ASSERT_EQ(str(x[e].key), str(o->key)) << in;
                    ASSERT_EQ(x[e].timestamp_from_event, o->timestamp_from_event) << in;
                    ASSERT_EQ(x[e].timestamp_ms, o->timestamp_ms) << in;
                }
                if (x[e].has_key && x[e].key.data() != y[e].key.data()) {
                    // Only an unescaped key may live outside the payload (gathered payloads
                    // have no backslash, so never theirs).
                    ASSERT_NE(str(p).find('\\'), std::string::npos) << in;
                }
                ++compared;
                accepted += x[e].accepted();
            }
        }
    }
    EXPECT_GT(skipped, 0u);
    EXPECT_GT(accepted, compared / 8);
    EXPECT_LT(accepted, compared);
    // Most datagrams went the burst way (not a comparison of two per-datagram parsers), and
    // some did not (stage-1 rejections, backslashes, long payloads).
    EXPECT_GT(burst.stats().gathered, burst.stats().datagrams / 4);
    EXPECT_LT(burst.stats().gathered, burst.stats().datagrams);
    EXPECT_EQ(single.stats().gathered, 0u);
}

// A burst of small sensor datagrams takes one stage-1 pass; a payload with a backslash and one
// that breaks stage 1 are each handled the per-datagram way with the same outcome.
TEST(event_parse, burst_gathering_counts_and_falls_back) {
    event_parser p;
    const compiled_rules r =
        rules_of({.key_pointer = "/sensor_id", .require_pointers = {"/sensor_id"}});
    std::vector<std::string> good;
    for (int i = 0; i < 32; ++i)
        good.push_back(R"({"sensor_id":"s-)" + std::to_string(i) + R"(","seq":)" +
                       std::to_string(i) + "}");
    auto run_burst = [&](const std::vector<std::string>& ps) {
        p.begin_burst();
        for (const auto& s : ps) p.gather(bytes_view(reinterpret_cast<const std::byte*>(s.data()), s.size()));
        p.index_burst();
        std::vector<reject_reason> reasons;
        for (const auto& s : ps) {
            std::array<event_result, 4> out{};
            const std::size_t n = p.parse_datagram(
                bytes_view(reinterpret_cast<const std::byte*>(s.data()), s.size()), 0, r, 1, out);
            EXPECT_EQ(n, 1u) << s;
            reasons.push_back(out[0].reason);
            if (out[0].accepted()) {
                EXPECT_EQ(str(out[0].raw), s);
            }
        }
        return reasons;
    };
    auto before = p.stats();
    for (const auto why : run_burst(good)) EXPECT_EQ(why, reject_reason::none);
    EXPECT_EQ(p.stats().gathered - before.gathered, 32u);
    EXPECT_EQ(p.stats().scratch_copies - before.scratch_copies, 0u);  // tailroom 0: still padded

    std::vector<std::string> mixed = good;
    mixed[3] = R"({"sensor_id":"a\"b","seq":3})";  // backslash: not gathered, accepted
    mixed[7] = R"({"sensor_id":"s-7","seq":7)";     // missing '}': not_json, burst unaffected
    before = p.stats();
    auto reasons = run_burst(mixed);
    EXPECT_EQ(reasons[3], reject_reason::none);
    EXPECT_EQ(reasons[7], reject_reason::not_json);
    EXPECT_EQ(p.stats().gathered - before.gathered, 31u);

    mixed[9] = "{\"sensor_id\":\"s-\xff\",\"seq\":9}";  // bad UTF-8: stage 1 fails the burst
    before = p.stats();
    reasons = run_burst(mixed);
    EXPECT_EQ(reasons[9], reject_reason::not_json);
    EXPECT_EQ(reasons[0], reject_reason::none);
    EXPECT_EQ(reasons[31], reject_reason::none);
    EXPECT_EQ(p.stats().gathered - before.gathered, 0u);
}
