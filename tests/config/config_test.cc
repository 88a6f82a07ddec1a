#include <sluice/config/config.h>

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace sluice::config;

namespace {

// Parses `text`, expects failure, returns the message.
std::string error_of(const std::string& text) {
    std::string err;
    auto c = parse_config(text, &err, "test.toml");
    EXPECT_FALSE(c.has_value()) << "config unexpectedly accepted:\n" << text;
    return err;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

#define EXPECT_ERROR(text, prefix, fragment)                                        \
    do {                                                                            \
        const std::string e_ = error_of(text);                                      \
        EXPECT_TRUE(starts_with(e_, prefix)) << "message: " << e_;                  \
        EXPECT_NE(e_.find(fragment), std::string::npos) << "message: " << e_;       \
    } while (0)

std::uint32_t v4(const char* s) {
    in_addr a{};
    EXPECT_EQ(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

}  // namespace

TEST(config_defaults, embedded_default_matches_design) {
    const appliance_config c = default_config();
    EXPECT_EQ(c.data_dir, "data");
    EXPECT_EQ(c.ingest.backend, ingest_backend::socket);
    EXPECT_EQ(c.ingest.address, "127.0.0.1");
    EXPECT_EQ(c.ingest.cores, 1u);
    ASSERT_EQ(c.ingest.allow.text().size(), 1u);
    EXPECT_EQ(c.ingest.allow.text()[0], "0.0.0.0/0");
    EXPECT_TRUE(c.ingest.allow.allows_all_v4());
    EXPECT_EQ(c.ingest.dpdk_profile, "dpdk-config/af_packet.toml");
    EXPECT_TRUE(c.ingest.eal_args.empty());
    EXPECT_EQ(c.ingest.rate_limit_per_source, 0u);
    EXPECT_EQ(c.flush.interval_ms, 5u);
    EXPECT_EQ(c.flush.bytes, 1048576u);
    EXPECT_EQ(c.kafka.listen, (endpoint{"127.0.0.1", 9092}));
    EXPECT_FALSE(c.kafka.advertised.has_value());
    EXPECT_EQ(c.kafka.advertised_or_listen().to_string(), "127.0.0.1:9092");
    EXPECT_EQ(c.admin.listen, (endpoint{"127.0.0.1", 9644}));
    ASSERT_EQ(c.topics.size(), 1u);
    const topic_config& t = c.topics[0];
    EXPECT_EQ(t.name, "events");
    EXPECT_EQ(t.port, 5140);
    EXPECT_EQ(t.partitions, 8);
    EXPECT_EQ(t.key, "");
    EXPECT_TRUE(t.require.empty());
    EXPECT_EQ(t.timestamp, "");
    EXPECT_EQ(t.retention_bytes, -1);
    EXPECT_EQ(t.retention_ms, 604800000);
    EXPECT_EQ(t.segment_bytes, 1073741824);
    EXPECT_EQ(t.dlq_name(), "events.dlq");
    EXPECT_EQ(validate(c), "");
    EXPECT_EQ(c.topic_by_port(5140), &c.topics[0]);
    EXPECT_EQ(c.topic_by_port(5141), nullptr);
    EXPECT_EQ(c.topic_by_name("events"), &c.topics[0]);
}

TEST(config_defaults, empty_text_equals_default) {
    std::string err;
    auto c = parse_config("", &err);
    ASSERT_TRUE(c) << err;
    EXPECT_EQ(to_toml(*c), to_toml(default_config()));
}

TEST(config_defaults, design_example_parses_to_default) {
    const char* text = R"(
data_dir = "data"
[ingest]
backend = "socket"
address = "127.0.0.1"
cores = 1
allow = ["0.0.0.0/0"]
dpdk_profile = "dpdk-config/af_packet.toml"
eal_args = []
[flush]
interval_ms = 5
bytes = 1048576
[kafka]
listen = "127.0.0.1:9092"
advertised = ""
[admin]
listen = "127.0.0.1:9644"
[[topic]]
name = "events"
port = 5140
partitions = 8
key = ""
require = []
timestamp = ""
retention_bytes = -1
retention_ms = 604800000
segment_bytes = 1073741824
)";
    std::string err;
    auto c = parse_config(text, &err);
    ASSERT_TRUE(c) << err;
    EXPECT_EQ(to_toml(*c), to_toml(default_config()));
}

TEST(config_parse, full_config_and_roundtrip) {
    const char* text = R"(
data_dir = "/var/lib/sluice"
[ingest]
backend = "dpdk"
address = "169.254.1.2"
cores = "auto"
allow = ["10.0.0.0/8", "fd00::/8", "192.168.1.7"]
eal_args = ["--no-huge", "-m", "256"]
rate_limit_per_source = 1000
[kafka]
listen = "[::1]:0"
advertised = "box.example:19092"
[[topic]]
name = "sensors"
port = 5141
partitions = 3
key = "/sensor_id"
require = ["/sensor_id", "/value"]
timestamp = "/ts"
[[topic]]
name = "orders"
port = 5142
retention_bytes = 0
)";
    std::string err;
    auto c = parse_config(text, &err);
    ASSERT_TRUE(c) << err;
    EXPECT_EQ(c->data_dir, "/var/lib/sluice");
    EXPECT_EQ(c->ingest.backend, ingest_backend::dpdk);
    EXPECT_EQ(c->ingest.cores, 0u);
    EXPECT_EQ(c->ingest.eal_args.size(), 3u);
    EXPECT_EQ(c->ingest.rate_limit_per_source, 1000u);
    EXPECT_EQ(c->kafka.listen, (endpoint{"::1", 0}));
    EXPECT_EQ(c->kafka.listen.to_string(), "[::1]:0");
    ASSERT_TRUE(c->kafka.advertised);
    EXPECT_EQ(c->kafka.advertised_or_listen().to_string(), "box.example:19092");
    ASSERT_EQ(c->topics.size(), 2u);
    EXPECT_EQ(c->topics[0].key, "/sensor_id");
    EXPECT_EQ(c->topics[0].require.size(), 2u);
    EXPECT_EQ(c->topics[1].partitions, 8);  // per-topic default
    EXPECT_EQ(c->topics[1].retention_bytes, 0);
    auto again = parse_config(to_toml(*c), &err);
    ASSERT_TRUE(again) << err << "\n" << to_toml(*c);
    EXPECT_EQ(to_toml(*again), to_toml(*c));
}

TEST(config_parse, load_from_file_and_missing_file) {
    char path[] = "/tmp/sluice_config_testXXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string body = "data_dir = \"x\"\n";
    ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    close(fd);
    std::string err;
    auto c = load_config(path, &err);
    ASSERT_TRUE(c) << err;
    EXPECT_EQ(c->data_dir, "x");
    unlink(path);
    EXPECT_FALSE(load_config(path, &err));
    EXPECT_NE(err.find("cannot read config file"), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST(config_errors, syntax_error_names_file_and_line) {
    EXPECT_ERROR("data_dir = \n", "test.toml:1:", "TOML syntax error");
}

TEST(config_errors, unknown_keys) {
    EXPECT_ERROR("colour = 1\n", "colour: unknown setting", "data_dir");
    EXPECT_ERROR("[ingest]\nbackedn = \"socket\"\n", "ingest.backedn: unknown setting", "backend");
    EXPECT_ERROR("[flush]\nms = 1\n", "flush.ms: unknown setting", "(line 2)");
    EXPECT_ERROR("[kafka]\nport = 1\n", "kafka.port: unknown setting", "listen");
    EXPECT_ERROR("[admin]\nport = 1\n", "admin.port: unknown setting", "listen");
    EXPECT_ERROR("[[topic]]\nname = \"a\"\n[[topic]]\nname = \"b\"\nport = 1\nkeys = \"/k\"\n",
                 "topic[1].keys: unknown setting", "(line 6)");
}

TEST(config_errors, type_errors) {
    EXPECT_ERROR("data_dir = 3\n", "data_dir: expected a string, got an integer", "(line 1)");
    EXPECT_ERROR("ingest = 1\n", "ingest: expected a table", "");
    EXPECT_ERROR("[flush]\ninterval_ms = \"5\"\n", "flush.interval_ms: expected an integer", "");
    EXPECT_ERROR("[ingest]\ncores = 1.5\n", "ingest.cores: expected an integer or \"auto\"", "");
    EXPECT_ERROR("[ingest]\ncores = \"many\"\n", "ingest.cores: \"many\" is neither", "");
    EXPECT_ERROR("[ingest]\nallow = \"0.0.0.0/0\"\n", "ingest.allow: expected an array", "");
    EXPECT_ERROR("[ingest]\neal_args = [1]\n", "ingest.eal_args[0]: expected a string", "");
    EXPECT_ERROR("[[topic]]\nrequire = \"/a\"\n", "topic[0].require: expected an array", "");
    EXPECT_ERROR("topic = 5\n", "topic: expected [[topic]] tables", "");
}

TEST(config_errors, invalid_values) {
    EXPECT_ERROR("[[topic]]\nname = \"a\"\nport = 70000\n",
                 "topic[0].port: 70000 is out of range 1..65535", "(line 3)");
    EXPECT_ERROR("[[topic]]\nname = \"a\"\n[[topic]]\nname = \"b\"\nport = 70000\n",
                 "topic[1].port: 70000 is out of range 1..65535", "");
    EXPECT_ERROR("[[topic]]\nport = 0\n", "topic[0].port: 0 is out of range 1..65535", "");
    EXPECT_ERROR("[[topic]]\npartitions = 0\n", "topic[0].partitions: 0 is out of range 1..", "");
    EXPECT_ERROR("[[topic]]\nsegment_bytes = 10\n", "topic[0].segment_bytes: 10 is out of range", "");
    EXPECT_ERROR("[[topic]]\nretention_ms = -2\n", "topic[0].retention_ms: -2 is out of range", "");
    EXPECT_ERROR("[[topic]]\nretention_bytes = -5\n", "topic[0].retention_bytes: -5 is out of range", "");
    EXPECT_ERROR("[ingest]\nbackend = \"netmap\"\n", "ingest.backend: \"netmap\" is not one of", "");
    EXPECT_ERROR("[ingest]\naddress = \"localhost\"\n", "ingest.address: \"localhost\" is not an IP", "");
    EXPECT_ERROR("[ingest]\nbackend = \"dpdk\"\naddress = \"::1\"\n", "ingest.address:", "IPv4");
    EXPECT_ERROR("[ingest]\ncores = 0\n", "ingest.cores: 0 is out of range 1..1024", "");
    EXPECT_ERROR("[ingest]\nrate_limit_per_source = -1\n", "ingest.rate_limit_per_source: -1", "");
    EXPECT_ERROR("[flush]\ninterval_ms = 0\n", "flush.interval_ms: 0 is out of range 1..60000", "");
    EXPECT_ERROR("[flush]\nbytes = 10\n", "flush.bytes: 10 is out of range", "");
    EXPECT_ERROR("data_dir = \"\"\n", "data_dir: must not be empty", "");
    EXPECT_ERROR("topic = []\n", "topic: at least one", "");
}

TEST(config_errors, bad_cidr) {
    EXPECT_ERROR("[ingest]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n", "ingest.allow[1]:",
                 "prefix > 32");
    EXPECT_ERROR("[ingest]\nallow = [\"10.0.0.1/8\"]\n", "ingest.allow[0]:", "did you mean 10.0.0.0/8");
    EXPECT_ERROR("[ingest]\nallow = [\"banana\"]\n", "ingest.allow[0]:", "not a valid CIDR");
    EXPECT_ERROR("[ingest]\nallow = [\"fd00::/129\"]\n", "ingest.allow[0]:", "prefix > 128");
    EXPECT_ERROR("[ingest]\nallow = [\"10.0.0.0/\"]\n", "ingest.allow[0]:", "bad prefix length");
    EXPECT_ERROR("[ingest]\nallow = []\n", "ingest.allow: must list at least one CIDR", "");
}

TEST(config_errors, bad_host_port) {
    EXPECT_ERROR("[kafka]\nlisten = \"127.0.0.1\"\n", "kafka.listen:", "missing ':port'");
    EXPECT_ERROR("[kafka]\nlisten = \"127.0.0.1:99999\"\n", "kafka.listen:", "out of range 0..65535");
    EXPECT_ERROR("[kafka]\nlisten = \"127.0.0.1:x\"\n", "kafka.listen:", "bad port");
    EXPECT_ERROR("[kafka]\nlisten = \"::1:9092\"\n", "kafka.listen:", "brackets");
    EXPECT_ERROR("[kafka]\nlisten = \"[zz]:9092\"\n", "kafka.listen:", "bad IPv6");
    EXPECT_ERROR("[kafka]\nadvertised = \"host:0\"\n", "kafka.advertised:", "out of range 1..65535");
    EXPECT_ERROR("[admin]\nlisten = \"bad host:1\"\n", "admin.listen:", "bad host");
    EXPECT_ERROR("[admin]\nlisten = \"127.0.0.1:9092\"\n", "admin.listen:", "also kafka.listen");
}

TEST(config_errors, json_pointers) {
    EXPECT_ERROR("[[topic]]\nkey = \"sensor_id\"\n", "topic[0].key: \"sensor_id\" is not a JSON pointer", "");
    EXPECT_ERROR("[[topic]]\ntimestamp = \"ts\"\n", "topic[0].timestamp:", "JSON pointer");
    EXPECT_ERROR("[[topic]]\nrequire = [\"/a\", \"\"]\n", "topic[0].require[1]:", "JSON pointer");
}

TEST(config_errors, topic_names) {
    EXPECT_ERROR("[[topic]]\nname = \"bad name\"\n", "topic[0].name:", "not a valid Kafka topic name");
    EXPECT_ERROR("[[topic]]\nname = \"..\"\n", "topic[0].name:", "not a valid Kafka topic name");
    EXPECT_ERROR("[[topic]]\nname = \"\"\n", "topic[0].name:", "not a valid Kafka topic name");
    EXPECT_ERROR("[[topic]]\nname = \"" + std::string(250, 'a') + "\"\n", "topic[0].name:",
                 "not a valid Kafka topic name");
    EXPECT_ERROR("[[topic]]\nname = \"" + std::string(247, 'a') + "\"\n", "topic[0].name:",
                 "dead-letter");
    EXPECT_ERROR("[[topic]]\nname = \"a\"\nport = 1\n[[topic]]\nname = \"a\"\nport = 2\n",
                 "topic[1].name: \"a\" is already the name of topic[0]", "");
    EXPECT_ERROR("[[topic]]\nname = \"a\"\nport = 1\n[[topic]]\nname = \"b\"\nport = 1\n",
                 "topic[1].port: 1 is already the port of topic[0]", "\"a\"");
    EXPECT_ERROR("[[topic]]\nname = \"a.dlq\"\nport = 1\n[[topic]]\nname = \"a\"\nport = 2\n",
                 "topic[0].name: \"a.dlq\" conflicts with the dead-letter topic of topic[1]", "");
    // A .dlq name without its base topic is fine.
    std::string err;
    EXPECT_TRUE(parse_config("[[topic]]\nname = \"x.dlq\"\n", &err)) << err;
}

TEST(config_validate, catches_code_built_errors) {
    appliance_config c = default_config();
    c.topics.push_back(c.topics[0]);
    c.topics[1].name = "other";
    EXPECT_NE(validate(c).find("topic[1].port: 5140 is already the port of topic[0]"),
              std::string::npos);
    c.topics[1].port = 5141;
    EXPECT_EQ(validate(c), "");
    c.data_dir = "";
    EXPECT_EQ(validate(c), "data_dir: must not be empty");
}

TEST(allow_list, v4_matching) {
    allow_list a;
    std::string err;
    ASSERT_TRUE(a.add("10.0.0.0/8", &err)) << err;
    ASSERT_TRUE(a.add("192.168.1.7", &err)) << err;
    EXPECT_FALSE(a.allows_all_v4());
    EXPECT_TRUE(a.allowed_v4(v4("10.1.2.3")));
    EXPECT_TRUE(a.allowed_v4(v4("10.255.255.255")));
    EXPECT_FALSE(a.allowed_v4(v4("11.0.0.0")));
    EXPECT_TRUE(a.allowed_v4(v4("192.168.1.7")));
    EXPECT_FALSE(a.allowed_v4(v4("192.168.1.8")));

    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = v4("10.9.9.9");
    EXPECT_TRUE(a.allowed(reinterpret_cast<const sockaddr*>(&sin)));
    sin.sin_addr.s_addr = v4("9.9.9.9");
    EXPECT_FALSE(a.allowed(reinterpret_cast<const sockaddr*>(&sin)));
    EXPECT_FALSE(a.allowed(nullptr));

    // v4-mapped IPv6 sources (dual-stack sockets) match the v4 list.
    sockaddr_in6 s6{};
    s6.sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.1.1.1", &s6.sin6_addr), 1);
    EXPECT_TRUE(a.allowed(reinterpret_cast<const sockaddr*>(&s6)));
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:11.1.1.1", &s6.sin6_addr), 1);
    EXPECT_FALSE(a.allowed(reinterpret_cast<const sockaddr*>(&s6)));
    ASSERT_EQ(inet_pton(AF_INET6, "fd00::1", &s6.sin6_addr), 1);
    EXPECT_FALSE(a.allowed(reinterpret_cast<const sockaddr*>(&s6)));  // no v6 entries

    {
        sockaddr other{};
        other.sa_family = AF_UNIX;
        EXPECT_FALSE(a.allowed(&other));
    }
}

TEST(allow_list, v6_prefixes) {
    allow_list a;
    std::string err;
    EXPECT_FALSE(a.add("fd00::/7", &err));  // host bit set beyond /7
    EXPECT_NE(err.find("host bits"), std::string::npos) << err;
    ASSERT_TRUE(a.add("fc00::/7", &err)) << err;
    ASSERT_TRUE(a.add("2001:db8:8000::/33", &err)) << err;
    in6_addr x{};
    auto ok = [&](const char* s) {
        EXPECT_EQ(inet_pton(AF_INET6, s, &x), 1);
        return a.allowed_v6(x.s6_addr);
    };
    EXPECT_TRUE(ok("fd12::1"));
    EXPECT_TRUE(ok("fc00::"));
    EXPECT_FALSE(ok("fe80::1"));
    EXPECT_TRUE(ok("2001:db8:8000::1"));
    EXPECT_TRUE(ok("2001:db8:ffff::1"));
    EXPECT_FALSE(ok("2001:db8:7fff::1"));
    EXPECT_FALSE(a.allows_all_v6());
    ASSERT_TRUE(a.add("::/0", &err)) << err;
    EXPECT_TRUE(a.allows_all_v6());
    EXPECT_TRUE(ok("fe80::1"));
}

TEST(allow_list, all_v4) {
    allow_list a;
    std::string err;
    ASSERT_TRUE(a.add("0.0.0.0/0", &err));
    EXPECT_TRUE(a.allows_all_v4());
    EXPECT_TRUE(a.allowed_v4(v4("1.2.3.4")));
    EXPECT_TRUE(a.allowed_v4(v4("255.255.255.255")));
}

TEST(endpoint, parse) {
    endpoint e;
    std::string err;
    ASSERT_TRUE(parse_endpoint("localhost:80", false, &e, &err)) << err;
    EXPECT_EQ(e.host, "localhost");
    EXPECT_EQ(e.port, 80);
    EXPECT_FALSE(parse_endpoint("localhost:0", false, &e, &err));
    EXPECT_TRUE(parse_endpoint("localhost:0", true, &e, &err));
    EXPECT_FALSE(parse_endpoint(":80", false, &e, &err));
    EXPECT_FALSE(parse_endpoint("[::1:80", false, &e, &err));
}
