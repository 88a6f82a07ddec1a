// Unit tests of the kafka component: codec primitives, headers and every handler driven with
// byte-level requests against a real log_store in a temporary directory.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <sluice/base/clock.h>
#include <sluice/kafka/broker.h>
#include <sluice/kafka/codec.h>
#include <sluice/kafka/offset_store.h>
#include <sluice/kafka/protocol.h>
#include <sluice/log/log_store.h>
#include <sluice/log/record_batch.h>

namespace sluice::kafka {
namespace {

using bytes = std::vector<std::byte>;

// ---------------------------------------------------------------------------------------------
// Codec

TEST(KafkaCodec, ClassicRoundTrip) {
    bytes buf;
    writer w(buf);
    w.i8(-5);
    w.i16(-1234);
    w.i32(0x12345678);
    w.i64(-9'000'000'000'000LL);
    w.boolean(true);
    w.string("hello");
    w.nullable_string(std::nullopt);
    w.nullable_bytes(as_bytes("xyz"));
    w.nullable_bytes(std::nullopt);
    w.array_len(-1);
    reader r(buf);
    EXPECT_EQ(r.i8(), -5);
    EXPECT_EQ(r.i16(), -1234);
    EXPECT_EQ(r.i32(), 0x12345678);
    EXPECT_EQ(r.i64(), -9'000'000'000'000LL);
    EXPECT_TRUE(r.boolean());
    EXPECT_EQ(r.string(), "hello");
    EXPECT_FALSE(r.nullable_string().has_value());
    auto b = r.nullable_bytes();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(as_chars(*b), "xyz");
    EXPECT_FALSE(r.nullable_bytes().has_value());
    EXPECT_EQ(r.array_len(), -1);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    // Reading past the end is a sticky error with zero values.
    EXPECT_EQ(r.i32(), 0);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error(), errc::truncated);
    EXPECT_EQ(r.string(), "");
}

TEST(KafkaCodec, CompactAndTags) {
    bytes buf;
    writer w(buf);
    w.compact_string("abc");
    w.compact_nullable_string(std::nullopt);
    w.compact_array_len(3);
    w.compact_array_len(-1);
    w.uvarint(300);
    // A tag section with two fields: tag 0 (2 bytes), tag 7 (0 bytes).
    w.uvarint(2);
    w.uvarint(0);
    w.uvarint(2);
    w.i16(77);
    w.uvarint(7);
    w.uvarint(0);
    w.i8(42);
    EXPECT_EQ(static_cast<int>(buf[0]), 4);  // length + 1
    reader r(buf);
    EXPECT_EQ(r.compact_string(), "abc");
    EXPECT_FALSE(r.compact_nullable_string().has_value());
    EXPECT_EQ(r.compact_array_len(0), 3);
    EXPECT_EQ(r.compact_array_len(), -1);
    EXPECT_EQ(r.uvarint(), 300u);
    r.skip_tags();
    EXPECT_EQ(r.i8(), 42);
    EXPECT_TRUE(r.ok());
}

TEST(KafkaCodec, RejectsHostileLengths) {
    {
        bytes buf;
        writer w(buf);
        w.i16(100);  // string longer than the input
        w.raw(as_bytes("short"));
        reader r(buf);
        (void)r.string();
        EXPECT_EQ(r.error(), errc::truncated);
    }
    {
        bytes buf;
        writer w(buf);
        w.i32(1'000'000'000);  // array count cannot fit in what is left
        w.i32(1);
        reader r(buf);
        EXPECT_EQ(r.array_len(4), 0);
        EXPECT_FALSE(r.ok());
    }
    {
        bytes buf;
        writer w(buf);
        w.i32(-7);
        reader r(buf);
        (void)r.nullable_bytes();
        EXPECT_EQ(r.error(), errc::bad_length);
    }
    {
        bytes buf(6, std::byte{0xff});  // uvarint longer than 5 bytes
        reader r(buf);
        (void)r.uvarint();
        EXPECT_EQ(r.error(), errc::bad_varint);
    }
    {
        bytes buf;
        writer w(buf);
        w.uvarint(1);  // one tag
        w.uvarint(3);
        w.uvarint(1000);  // of 1000 bytes that are not there
        reader r(buf);
        r.skip_tags();
        EXPECT_EQ(r.error(), errc::truncated);
    }
}

TEST(KafkaCodec, RequestHeaders) {
    // v1 (Metadata v1).
    bytes buf;
    writer w(buf);
    w.i16(api::metadata);
    w.i16(1);
    w.i32(99);
    w.string("cli");
    w.i32(-1);
    reader r(buf);
    request_header h;
    ASSERT_EQ(parse_request_header(r, h), errc::ok);
    EXPECT_EQ(h.api_key, api::metadata);
    EXPECT_EQ(h.correlation_id, 99);
    EXPECT_EQ(h.client_id.value_or(""), "cli");
    EXPECT_FALSE(h.flexible);
    EXPECT_EQ(r.i32(), -1);
    // v2 (ApiVersions v3) with a null client id: the tag section must still be read (P3).
    buf.clear();
    w.i16(api::api_versions);
    w.i16(3);
    w.i32(7);
    w.nullable_string(std::nullopt);
    w.empty_tags();
    w.compact_string("x");
    reader r2(buf);
    ASSERT_EQ(parse_request_header(r2, h), errc::ok);
    EXPECT_TRUE(h.flexible);
    EXPECT_FALSE(h.client_id.has_value());
    EXPECT_EQ(r2.compact_string(), "x");
    // Truncated header.
    bytes shortbuf(5);
    reader r3(shortbuf);
    EXPECT_NE(parse_request_header(r3, h), errc::ok);
}

// ---------------------------------------------------------------------------------------------
// Broker fixture

class KafkaBroker : public ::testing::Test {
protected:
    void SetUp() override {
        _dir = std::filesystem::temp_directory_path() /
               ("sluice-kafka-test-" + std::to_string(::getpid()) + "-" + std::to_string(mono_ns()));
        open_all();
    }
    void TearDown() override {
        _broker.reset();
        if (_store) _store->stop();
        _store.reset();
        std::filesystem::remove_all(_dir);
    }
    void open_all(bool create_topic = true) {
        log::store_options so;
        so.data_dir = (_dir / "data").string();
        so.flush_interval_us = 200;
        so.leader_epoch = 3;
        std::string err;
        _store = log::log_store::open(so, &err);
        ASSERT_TRUE(_store) << err;
        if (create_topic && !_store->find_topic("t")) {
            log::topic_spec t;
            t.name = "t";
            t.partitions = 2;
            ASSERT_EQ(_store->create_topic(t, &err), errc::ok) << err;
        }
        _store->start();
        broker_options bo;
        bo.advertised_host = "broker.test";
        bo.advertised_port = 1234;
        bo.auto_create_partitions = 0;
        _broker = broker::create(*_store, bo, &err);
        ASSERT_TRUE(_broker) << err;
    }
    void restart() {
        _broker.reset();
        _store->stop();
        _store.reset();
        open_all(false);
    }

    // Builds a request frame (without size prefix).
    static bytes request(std::int16_t key, std::int16_t version, std::int32_t corr,
                         const std::function<void(writer&)>& body, bool flexible = false) {
        bytes buf;
        writer w(buf);
        w.i16(key);
        w.i16(version);
        w.i32(corr);
        w.string("unit-test");
        if (flexible) w.empty_tags();
        body(w);
        return buf;
    }

    outcome call(const bytes& frame, bytes& resp, std::uint64_t seq = 0) {
        request_context ctx{1, seq, "/127.0.0.1", _now};
        return _broker->handle(frame, ctx, resp);
    }

    // Polls until the response of `seq` arrives (bounded).
    bytes wait_for(std::uint64_t seq, int max_ms = 5000) {
        for (int i = 0; i < max_ms; ++i) {
            _broker->poll(_now, _done);
            for (auto it = _done.begin(); it != _done.end(); ++it) {
                if (it->seq == seq) {
                    bytes b = std::move(it->bytes);
                    _done.erase(it);
                    return b;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            _now += 1;
        }
        ADD_FAILURE() << "no response for seq " << seq;
        return {};
    }

    // Positions a reader after size and correlation id (response header v0).
    static reader body(const bytes& resp, std::int32_t corr) {
        reader r(resp);
        EXPECT_EQ(r.i32(), static_cast<std::int32_t>(resp.size() - 4));
        EXPECT_EQ(r.i32(), corr);
        return r;
    }

    static bytes make_batch(int first, int n) {
        bytes buf(64 * 1024);
        log::batch_builder b(buf);
        for (int i = 0; i < n; ++i) {
            std::string k = "k" + std::to_string(first + i), v = "v" + std::to_string(first + i);
            EXPECT_TRUE(b.append(1'700'000'000'000 + first + i, as_bytes(k), as_bytes(v)));
        }
        auto done = b.finish();
        return {done.begin(), done.end()};
    }

    bytes produce_req(std::int16_t version, std::int16_t acks, const bytes& records, std::int32_t partition = 0,
                      std::string_view topic = "t") {
        return request(api::produce, version, 11, [&](writer& w) {
            if (version >= 3) w.nullable_string(std::nullopt);
            w.i16(acks);
            w.i32(30000);
            w.array_len(1);
            w.string(topic);
            w.array_len(1);
            w.i32(partition);
            w.bytes(records);
        });
    }

    // Produces and returns (error, base offset).
    std::pair<std::int16_t, std::int64_t> produce(const bytes& records, std::int32_t partition = 0) {
        bytes resp;
        std::uint64_t seq = _seq++;
        outcome o = call(produce_req(7, -1, records, partition), resp, seq);
        if (o == outcome::deferred) resp = wait_for(seq);
        reader r = body(resp, 11);
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), partition);
        std::int16_t err = r.i16();
        std::int64_t base = r.i64();
        (void)r.i64();  // log append time
        (void)r.i64();  // log start
        EXPECT_EQ(r.i32(), 0);  // throttle
        EXPECT_TRUE(r.ok());
        return {err, base};
    }

    std::filesystem::path _dir;
    std::unique_ptr<log::log_store> _store;
    std::unique_ptr<broker> _broker;
    std::vector<completed_response> _done;
    std::int64_t _now = 1'000'000;
    std::uint64_t _seq = 100;
};

TEST_F(KafkaBroker, ApiVersionsV0AndV3) {
    for (std::int16_t v : {0, 3}) {
        bytes resp;
        ASSERT_EQ(call(request(api::api_versions, v, 5, [&](writer& w) {
                           if (v == 3) {
                               w.compact_string("test");
                               w.compact_string("1.0");
                               w.empty_tags();
                           }
                       }, v == 3), resp),
                  outcome::respond);
        reader r = body(resp, 5);  // header v0 even for v3
        EXPECT_EQ(r.i16(), error::none);
        std::int32_t n = v == 3 ? r.compact_array_len() : r.array_len();
        ASSERT_EQ(n, static_cast<std::int32_t>(supported_apis.size()));
        bool saw_produce = false;
        for (int i = 0; i < n; ++i) {
            std::int16_t key = r.i16(), lo = r.i16(), hi = r.i16();
            if (v == 3) r.skip_tags();
            if (key == api::produce) {
                saw_produce = true;
                EXPECT_EQ(lo, 0);  // notes P1: min 0 keeps librdkafka 2.0.2 compression
                EXPECT_EQ(hi, 8);
            }
            EXPECT_NE(key, 22) << "InitProducerId must not be advertised";
        }
        EXPECT_TRUE(saw_produce);
        if (v == 3) {
            EXPECT_EQ(r.i32(), 0);
            r.skip_tags();
        }
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.remaining(), 0u);
    }
}

TEST_F(KafkaBroker, ApiVersionsUnknownVersionAnswersError35WithList) {
    bytes resp;
    ASSERT_EQ(call(request(api::api_versions, 9, 6, [](writer& w) { w.raw(as_bytes("garbage")); }), resp),
              outcome::respond);
    reader r = body(resp, 6);
    EXPECT_EQ(r.i16(), error::unsupported_version);
    EXPECT_EQ(r.array_len(), static_cast<std::int32_t>(supported_apis.size()));
}

TEST_F(KafkaBroker, MetadataV1AndV8) {
    for (std::int16_t v : {1, 8}) {
        bytes resp;
        ASSERT_EQ(call(request(api::metadata, v, 8, [&](writer& w) {
                           w.array_len(2);
                           w.string("t");
                           w.string("nope");
                           if (v >= 4) w.boolean(true);
                           if (v >= 8) {
                               w.boolean(false);
                               w.boolean(false);
                           }
                       }), resp),
                  outcome::respond);
        reader r = body(resp, 8);
        if (v >= 3) {
            EXPECT_EQ(r.i32(), 0);
        }
        ASSERT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.string(), "broker.test");
        EXPECT_EQ(r.i32(), 1234);
        EXPECT_FALSE(r.nullable_string().has_value());
        if (v >= 2) (void)r.nullable_string();
        EXPECT_EQ(r.i32(), 0);  // controller
        ASSERT_EQ(r.array_len(), 2);
        EXPECT_EQ(r.i16(), error::none);
        EXPECT_EQ(r.string(), "t");
        EXPECT_FALSE(r.boolean());
        ASSERT_EQ(r.array_len(), 2);
        for (int p = 0; p < 2; ++p) {
            EXPECT_EQ(r.i16(), error::none);
            EXPECT_EQ(r.i32(), p);
            EXPECT_EQ(r.i32(), 0);                 // leader
            if (v >= 7) {
                EXPECT_EQ(r.i32(), 3);     // leader epoch = store option
            }
            EXPECT_EQ(r.array_len(), 1);
            EXPECT_EQ(r.i32(), 0);
            EXPECT_EQ(r.array_len(), 1);
            EXPECT_EQ(r.i32(), 0);
            if (v >= 5) {
                EXPECT_EQ(r.array_len(), 0);
            }
        }
        if (v >= 8) (void)r.i32();
        EXPECT_EQ(r.i16(), error::unknown_topic_or_partition);  // auto-create disabled
        EXPECT_EQ(r.string(), "nope");
        EXPECT_FALSE(r.boolean());
        EXPECT_EQ(r.array_len(), 0);
        if (v >= 8) {
            (void)r.i32();
            (void)r.i32();
        }
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.remaining(), 0u);
    }
}

TEST_F(KafkaBroker, ProduceWaitsForDurabilityAndFetchReturnsBatches) {
    auto b1 = make_batch(0, 10);
    auto [e1, o1] = produce(b1);
    EXPECT_EQ(e1, error::none);
    EXPECT_EQ(o1, 0);
    auto [e2, o2] = produce(make_batch(10, 5));
    EXPECT_EQ(e2, error::none);
    EXPECT_EQ(o2, 10);
    // Fetch v11 from offset 3: the whole first batch comes back, stamped.
    bytes resp;
    ASSERT_EQ(call(request(api::fetch, 11, 12, [](writer& w) {
                       w.i32(-1);
                       w.i32(100);
                       w.i32(1);
                       w.i32(1 << 20);
                       w.i8(1);
                       w.i32(0);
                       w.i32(-1);
                       w.array_len(1);
                       w.string("t");
                       w.array_len(1);
                       w.i32(0);
                       w.i32(3);   // current leader epoch
                       w.i64(3);
                       w.i64(-1);
                       w.i32(1 << 20);
                       w.array_len(0);
                       w.string("");
                   }), resp),
              outcome::respond);
    reader r = body(resp, 12);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_EQ(r.i32(), 0);
    ASSERT_EQ(r.array_len(), 1);
    EXPECT_EQ(r.string(), "t");
    ASSERT_EQ(r.array_len(), 1);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_EQ(r.i64(), 15);  // HWM
    EXPECT_EQ(r.i64(), 15);  // LSO = HWM
    EXPECT_EQ(r.i64(), 0);   // log start
    EXPECT_EQ(r.array_len(), 0);
    EXPECT_EQ(r.i32(), -1);
    auto records = r.nullable_bytes();
    ASSERT_TRUE(records.has_value());
    EXPECT_EQ(r.remaining(), 0u);
    log::batch_header h;
    ASSERT_EQ(log::validate_batch(records->first(b1.size()), &h), errc::ok);
    EXPECT_EQ(h.base_offset, 0);
    EXPECT_EQ(h.partition_leader_epoch, 3);
    EXPECT_EQ(h.records_count, 10);
    EXPECT_EQ(records->size(), b1.size() + make_batch(10, 5).size());
}

TEST_F(KafkaBroker, ProduceRejectsBadBatchesAndOldVersions) {
    auto b = make_batch(0, 3);
    b[b.size() - 1] ^= std::byte{0x01};  // CRC mismatch
    EXPECT_EQ(produce(b).first, error::corrupt_message);
    auto m1 = make_batch(0, 3);
    m1[log::batch_offset::magic] = std::byte{1};
    EXPECT_EQ(produce(m1).first, error::unsupported_for_message_format);
    EXPECT_EQ(produce(make_batch(0, 1), 7).first, error::unknown_topic_or_partition);
    // Produce v2: advertised (librdkafka compression check), answered with error 35.
    bytes resp;
    ASSERT_EQ(call(produce_req(2, 1, make_batch(0, 1)), resp), outcome::respond);
    reader r = body(resp, 11);
    EXPECT_EQ(r.array_len(), 1);
    (void)r.string();
    EXPECT_EQ(r.array_len(), 1);
    (void)r.i32();
    EXPECT_EQ(r.i16(), error::unsupported_version);
    EXPECT_EQ(_store->high_watermark(partition_index{0}), 0);
}

// acks=0: no answer and no pending slot (nothing completes later: the answers of the requests
// behind it on the connection are not held until its batch is durable), the batch is stored;
// an error closes the connection (Kafka's only signal to an acks=0 producer), after storing what
// was valid.
TEST_F(KafkaBroker, ProduceAcksZeroHasNoResponse) {
    bytes resp;
    EXPECT_EQ(call(produce_req(7, 0, make_batch(0, 4)), resp, _seq++), outcome::no_response);
    EXPECT_TRUE(resp.empty());
    for (int i = 0; i < 5000 && _store->high_watermark(partition_index{0}) < 4; ++i) {
        _broker->poll(_now, _done);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(_store->high_watermark(partition_index{0}), 4);
    _broker->poll(_now, _done);
    EXPECT_TRUE(_done.empty());  // nothing was deferred

    // Unknown partition, corrupt batch: the connection is closed.
    EXPECT_EQ(call(produce_req(7, 0, make_batch(4, 1), 7), resp, _seq++), outcome::close);
    auto bad = make_batch(4, 2);
    bad[bad.size() - 1] ^= std::byte{0x01};  // CRC mismatch
    EXPECT_EQ(call(produce_req(7, 0, bad), resp, _seq++), outcome::close);
    // A valid partition next to a bad one: the valid batch is still stored.
    bytes mixed = request(api::produce, 7, 11, [&](writer& w) {
        w.nullable_string(std::nullopt);
        w.i16(0);
        w.i32(30000);
        w.array_len(1);
        w.string("t");
        w.array_len(2);
        w.i32(1);
        w.bytes(make_batch(0, 3));
        w.i32(9);
        w.bytes(make_batch(0, 1));
    });
    EXPECT_EQ(call(mixed, resp, _seq++), outcome::close);
    for (int i = 0; i < 5000 && _store->high_watermark(partition_index{1}) < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(_store->high_watermark(partition_index{1}), 3);
    EXPECT_EQ(_store->high_watermark(partition_index{0}), 4);
    EXPECT_GE(_broker->stats().errors_by_code[error::unknown_topic_or_partition + 1], 2u);
}

// A Produce that times out while its batch waits behind a full ring (the log's writer is not
// running) is answered REQUEST_TIMED_OUT and its queued copy is dropped: the client resends it,
// so keeping it would store it twice (and grow the queue with every retry while the disk stalls).
TEST(KafkaBrokerBacklog, TimedOutProduceDropsItsQueuedBatch) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sluice-kafka-timeout-" + std::to_string(::getpid()) + "-" + std::to_string(mono_ns()));
    log::store_options so;
    so.data_dir = dir.string();
    so.ring_bytes = 128 << 10;  // batches up to 64 KiB; room for about three of the 41 KiB ones
    std::string err;
    auto store = log::log_store::open(so, &err);
    ASSERT_TRUE(store) << err;
    log::topic_spec t;
    t.name = "t";
    t.partitions = 1;
    ASSERT_EQ(store->create_topic(t, &err), errc::ok) << err;
    auto brk = broker::create(*store, broker_options{}, &err);
    ASSERT_TRUE(brk) << err;
    auto produce = [&](int first, std::int32_t corr) {
        bytes batch(64 << 10);
        log::batch_builder b(batch);
        const std::string value(1000, 'v');
        for (int i = 0; i < 40; ++i) EXPECT_TRUE(b.append(1'700'000'000'000 + first + i, std::nullopt, as_bytes(value)));
        auto done = b.finish();
        bytes req;
        writer w(req);
        w.i16(api::produce);
        w.i16(7);
        w.i32(corr);
        w.string("unit-test");
        w.nullable_string(std::nullopt);
        w.i16(1);     // acks
        w.i32(1000);  // timeout_ms
        w.array_len(1);
        w.string("t");
        w.array_len(1);
        w.i32(0);
        w.bytes(done);
        return req;
    };
    const std::int64_t now = 1'000'000;
    bytes resp;
    // Produce until one request no longer fits in the ring and is copied and queued.
    int in_ring = 0;
    for (; in_ring < 16 && brk->stats().append_backlog_bytes == 0; ++in_ring) {
        ASSERT_EQ(brk->handle(produce(40 * in_ring, in_ring), request_context{1, static_cast<std::uint64_t>(in_ring),
                                                                              "/127.0.0.1", now},
                              resp),
                  outcome::deferred);
    }
    --in_ring;  // the last one is queued
    ASSERT_GE(in_ring, 1);
    EXPECT_GT(brk->stats().append_backlog_bytes, 40'000u);
    std::vector<completed_response> done;
    brk->poll(now + 1000, done);
    ASSERT_EQ(done.size(), static_cast<std::size_t>(in_ring + 1));
    for (const auto& d : done) {
        reader r(d.bytes);
        (void)r.i32();
        (void)r.i32();  // correlation id
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.i16(), error::request_timed_out);
    }
    EXPECT_EQ(brk->stats().append_backlog_bytes, 0u);  // the timed-out batch is not kept
    EXPECT_FALSE(brk->backlogged());
    store->start();  // the batches already in the log's ring are stored; the queued one is not
    const auto p = *store->find_partition("t", 0);
    for (int i = 0; i < 5000 && store->high_watermark(p) < 40 * in_ring; ++i) {
        brk->poll(now + 1001 + i, done);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    brk->poll(now + 7000, done);
    EXPECT_EQ(store->high_watermark(p), 40 * in_ring);
    brk.reset();
    store->stop();
    store.reset();
    std::filesystem::remove_all(dir);
}

TEST_F(KafkaBroker, FetchLongPollsAndOffsetOutOfRange) {
    auto fetch = [&](std::int64_t offset, std::int32_t wait_ms) {
        return request(api::fetch, 4, 13, [=](writer& w) {
            w.i32(-1);
            w.i32(wait_ms);
            w.i32(1);
            w.i32(1 << 20);
            w.i8(0);
            w.array_len(1);
            w.string("t");
            w.array_len(1);
            w.i32(1);
            w.i64(offset);
            w.i32(1 << 20);
        });
    };
    bytes resp;
    std::uint64_t seq = _seq++;
    ASSERT_EQ(call(fetch(0, 500), resp, seq), outcome::deferred);
    // Data arriving wakes the long poll before its deadline.
    auto [err, base] = produce(make_batch(0, 2), 1);
    ASSERT_EQ(err, error::none);
    ASSERT_EQ(base, 0);
    bytes done = wait_for(seq, 400);
    ASSERT_FALSE(done.empty());
    EXPECT_LT(_now, 1'000'000 + 500);
    reader r = body(done, 13);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.array_len(), 1);
    (void)r.string();
    EXPECT_EQ(r.array_len(), 1);
    EXPECT_EQ(r.i32(), 1);
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_EQ(r.i64(), 2);
    // Past the high watermark: OFFSET_OUT_OF_RANGE at once.
    ASSERT_EQ(call(fetch(50, 500), resp), outcome::respond);
    reader r2 = body(resp, 13);
    (void)r2.i32();
    (void)r2.array_len();
    (void)r2.string();
    (void)r2.array_len();
    (void)r2.i32();
    EXPECT_EQ(r2.i16(), error::offset_out_of_range);
    // At the high watermark with nothing arriving: empty answer at the deadline.
    seq = _seq++;
    std::int64_t start = _now;
    ASSERT_EQ(call(fetch(2, 50), resp, seq), outcome::deferred);
    done = wait_for(seq, 1000);
    EXPECT_GE(_now - start, 50);
    reader r3 = body(done, 13);
    (void)r3.i32();
    (void)r3.array_len();
    (void)r3.string();
    (void)r3.array_len();
    (void)r3.i32();
    EXPECT_EQ(r3.i16(), error::none);
    (void)r3.i64();
    (void)r3.i64();
    (void)r3.array_len();
    EXPECT_EQ(r3.i32(), 0);  // no records
}

TEST_F(KafkaBroker, ListOffsetsEarliestLatestAndEpoch) {
    ASSERT_EQ(produce(make_batch(0, 7)).first, error::none);
    for (std::int64_t ts : {-2LL, -1LL}) {
        bytes resp;
        ASSERT_EQ(call(request(api::list_offsets, 4, 14, [&](writer& w) {
                           w.i32(-1);
                           w.i8(0);
                           w.array_len(1);
                           w.string("t");
                           w.array_len(1);
                           w.i32(0);
                           w.i32(-1);
                           w.i64(ts);
                       }), resp),
                  outcome::respond);
        reader r = body(resp, 14);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.string(), "t");
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 0);
        EXPECT_EQ(r.i16(), error::none);
        EXPECT_EQ(r.i64(), -1);
        EXPECT_EQ(r.i64(), ts == -2 ? 0 : 7);
        EXPECT_EQ(r.i32(), 3);
        EXPECT_TRUE(r.ok());
    }
}

// ListOffsets by timestamp answers with the record found (the earliest offset whose timestamp
// is >= the target) and that record's timestamp, not the requested one; -1/-2 are latest and
// earliest with timestamp -1; a target after the last record is offset -1, timestamp -1.
TEST_F(KafkaBroker, ListOffsetsByTimestampReturnsTheRecordFound) {
    constexpr std::int64_t t0 = 1'700'000'000'000;  // make_batch: record i has timestamp t0 + first + i
    ASSERT_EQ(produce(make_batch(0, 5)), std::make_pair(error::none, std::int64_t{0}));   // offsets 0-4: t0+0..4
    ASSERT_EQ(produce(make_batch(10, 5)), std::make_pair(error::none, std::int64_t{5}));  // offsets 5-9: t0+10..14
    struct expectation {
        std::int64_t target;
        std::int64_t offset;
        std::int64_t timestamp;
    };
    const expectation cases[] = {
        {0, 0, t0},               // before everything: the first record
        {t0, 0, t0},              // exact hit on the first record
        {t0 + 3, 3, t0 + 3},      // exact hit inside the first batch
        {t0 + 5, 5, t0 + 10},     // in the gap: the next record, with its own timestamp
        {t0 + 12, 7, t0 + 12},    // inside the second batch
        {t0 + 14, 9, t0 + 14},    // the last record
        {t0 + 15, -1, -1},        // after the last record
        {-1, 10, -1},             // latest: the high watermark
        {-2, 0, -1},              // earliest: log start
    };
    for (std::int16_t v : {1, 4}) {
        for (const auto& c : cases) {
            bytes resp;
            ASSERT_EQ(call(request(api::list_offsets, v, 21, [&](writer& w) {
                               w.i32(-1);           // replica_id
                               if (v >= 2) w.i8(0);  // isolation_level
                               w.array_len(1);
                               w.string("t");
                               w.array_len(1);
                               w.i32(0);
                               if (v >= 4) w.i32(-1);  // current_leader_epoch
                               w.i64(c.target);
                           }), resp),
                      outcome::respond);
            SCOPED_TRACE("v" + std::to_string(v) + " target " + std::to_string(c.target));
            reader r = body(resp, 21);
            if (v >= 2) {
                EXPECT_EQ(r.i32(), 0);  // throttle
            }
            EXPECT_EQ(r.array_len(), 1);
            EXPECT_EQ(r.string(), "t");
            EXPECT_EQ(r.array_len(), 1);
            EXPECT_EQ(r.i32(), 0);
            EXPECT_EQ(r.i16(), error::none);
            EXPECT_EQ(r.i64(), c.timestamp);
            EXPECT_EQ(r.i64(), c.offset);
            if (v >= 4) {
                EXPECT_EQ(r.i32(), c.offset >= 0 ? 3 : -1);  // the batch's (= the log's) epoch
            }
            EXPECT_TRUE(r.ok());
            EXPECT_EQ(r.remaining(), 0u);
        }
    }
}

TEST_F(KafkaBroker, CreateAndDeleteTopics) {
    bytes resp;
    ASSERT_EQ(call(request(api::create_topics, 3, 15, [](writer& w) {
                       w.array_len(2);
                       for (auto name : {"new1", "t"}) {
                           w.string(name);
                           w.i32(3);
                           w.i16(1);
                           w.array_len(0);
                           w.array_len(0);
                       }
                       w.i32(1000);
                       w.boolean(false);
                   }), resp),
              outcome::respond);
    reader r = body(resp, 15);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.array_len(), 2);
    EXPECT_EQ(r.string(), "new1");
    EXPECT_EQ(r.i16(), error::none);
    (void)r.nullable_string();
    EXPECT_EQ(r.string(), "t");
    EXPECT_EQ(r.i16(), error::topic_already_exists);
    ASSERT_TRUE(_store->find_topic("new1"));
    EXPECT_EQ(_store->find_topic("new1")->partitions, 3);
    ASSERT_EQ(call(request(api::delete_topics, 1, 16, [](writer& w) {
                       w.array_len(1);
                       w.string("new1");
                       w.i32(1000);
                   }), resp),
              outcome::respond);
    reader d = body(resp, 16);
    (void)d.i32();
    EXPECT_EQ(d.array_len(), 1);
    EXPECT_EQ(d.string(), "new1");
    EXPECT_EQ(d.i16(), error::none);
    EXPECT_FALSE(_store->find_topic("new1"));
}

// --- groups -----------------------------------------------------------------------------------

struct join_result {
    std::int16_t error = 0;
    std::int32_t generation = 0;
    std::string protocol, leader, member;
    int members = 0;
};

class KafkaGroups : public KafkaBroker {
protected:
    bytes join_req(std::string_view member, std::int16_t v = 5) {
        return request(api::join_group, v, 20, [&](writer& w) {
            w.string("g");
            w.i32(6000);
            if (v >= 1) w.i32(3000);
            w.string(member);
            if (v >= 5) w.nullable_string(std::nullopt);
            w.string("consumer");
            w.array_len(1);
            w.string("range");
            w.bytes(as_bytes("meta-" + std::string(member.substr(0, 3))));
        });
    }
    static join_result parse_join(const bytes& resp, std::int16_t v = 5) {
        reader r = body(resp, 20);
        join_result j;
        if (v >= 2) (void)r.i32();
        j.error = r.i16();
        j.generation = r.i32();
        j.protocol = r.string();
        j.leader = r.string();
        j.member = r.string();
        j.members = r.array_len();
        for (int i = 0; i < j.members; ++i) {
            (void)r.string();
            if (v >= 5) (void)r.nullable_string();
            (void)r.bytes();
        }
        EXPECT_TRUE(r.ok());
        return j;
    }
    std::int16_t heartbeat(const std::string& member, std::int32_t gen) {
        bytes resp;
        EXPECT_EQ(call(request(api::heartbeat, 1, 21, [&](writer& w) {
                           w.string("g");
                           w.i32(gen);
                           w.string(member);
                       }), resp),
                  outcome::respond);
        reader r = body(resp, 21);
        (void)r.i32();
        return r.i16();
    }
    bytes sync(const std::string& member, std::int32_t gen, bool leader, const std::vector<std::string>& all) {
        bytes resp;
        std::uint64_t seq = _seq++;
        outcome o = call(request(api::sync_group, 1, 22, [&](writer& w) {
                             w.string("g");
                             w.i32(gen);
                             w.string(member);
                             if (leader) {
                                 w.array_len(static_cast<std::int32_t>(all.size()));
                                 for (auto& m : all) {
                                     w.string(m);
                                     w.bytes(as_bytes("assign-" + m));
                                 }
                             } else {
                                 w.array_len(0);
                             }
                         }),
                         resp, seq);
        if (o != outcome::deferred) return resp;
        // The leader's own SyncGroup completes through poll(); a follower's waits (empty).
        _broker->poll(_now, _done);
        for (auto it = _done.begin(); it != _done.end(); ++it) {
            if (it->seq == seq) {
                bytes b = std::move(it->bytes);
                _done.erase(it);
                return b;
            }
        }
        return bytes{};
    }
    // Joins one member through MEMBER_ID_REQUIRED; returns its id (join left pending).
    std::string member_id_for_new() {
        bytes resp;
        EXPECT_EQ(call(join_req(""), resp), outcome::respond);
        auto j = parse_join(resp);
        EXPECT_EQ(j.error, error::member_id_required);
        EXPECT_FALSE(j.member.empty());
        return j.member;
    }
};

TEST_F(KafkaGroups, TwoMembersJoinSyncCommitLeaveAndRestart) {
    std::string a = member_id_for_new();
    bytes resp;
    std::uint64_t seq_a = _seq++;
    ASSERT_EQ(call(join_req(a), resp, seq_a), outcome::deferred);
    auto ja = parse_join(wait_for(seq_a));  // alone in the group: completes
    EXPECT_EQ(ja.error, error::none);
    EXPECT_EQ(ja.generation, 1);
    EXPECT_EQ(ja.leader, a);
    EXPECT_EQ(ja.protocol, "range");
    EXPECT_EQ(ja.members, 1);
    bytes s = sync(a, 1, true, {a});
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(heartbeat(a, 1), error::none);

    // b joins: a learns of the rebalance through its heartbeat and rejoins.
    std::string b = member_id_for_new();
    std::uint64_t seq_b = _seq++;
    ASSERT_EQ(call(join_req(b), resp, seq_b), outcome::deferred);
    EXPECT_EQ(heartbeat(a, 1), error::rebalance_in_progress);
    seq_a = _seq++;
    ASSERT_EQ(call(join_req(a), resp, seq_a), outcome::deferred);
    auto ja2 = parse_join(wait_for(seq_a));
    auto jb2 = parse_join(wait_for(seq_b));
    EXPECT_EQ(ja2.generation, 2);
    EXPECT_EQ(jb2.generation, 2);
    EXPECT_EQ(ja2.leader, a);
    EXPECT_EQ(ja2.members, 2);  // leader sees every member's metadata
    EXPECT_EQ(jb2.members, 0);
    // Follower syncs first and waits for the leader's assignment.
    std::uint64_t seq_sb = _seq;
    EXPECT_TRUE(sync(b, 2, false, {}).empty());
    bytes sa = sync(a, 2, true, {a, b});
    ASSERT_FALSE(sa.empty());
    reader ra = body(sa, 22);
    (void)ra.i32();
    EXPECT_EQ(ra.i16(), error::none);
    EXPECT_EQ(as_chars(ra.bytes()), "assign-" + a);
    bytes sb = wait_for(seq_sb);
    reader rb = body(sb, 22);
    (void)rb.i32();
    EXPECT_EQ(rb.i16(), error::none);
    EXPECT_EQ(as_chars(rb.bytes()), "assign-" + b);
    EXPECT_EQ(heartbeat(b, 1), error::illegal_generation);

    // Commit (v2: generation + member), with a stale generation refused.
    auto commit = [&](const std::string& m, std::int32_t gen, std::int64_t off) {
        bytes out;
        EXPECT_EQ(call(request(api::offset_commit, 2, 23, [&](writer& w) {
                           w.string("g");
                           w.i32(gen);
                           w.string(m);
                           w.i64(-1);
                           w.array_len(1);
                           w.string("t");
                           w.array_len(1);
                           w.i32(1);
                           w.i64(off);
                           w.nullable_string("md");
                       }), out),
                  outcome::respond);
        reader r = body(out, 23);
        EXPECT_EQ(r.array_len(), 1);
        (void)r.string();
        EXPECT_EQ(r.array_len(), 1);
        EXPECT_EQ(r.i32(), 1);
        return r.i16();
    };
    EXPECT_EQ(commit(b, 1, 5), error::illegal_generation);
    EXPECT_EQ(commit(b, 2, 42), error::none);

    // a leaves: b is alone after rejoining.
    ASSERT_EQ(call(request(api::leave_group, 1, 24, [&](writer& w) {
                       w.string("g");
                       w.string(a);
                   }), resp),
              outcome::respond);
    EXPECT_EQ(heartbeat(b, 2), error::rebalance_in_progress);
    seq_b = _seq++;
    ASSERT_EQ(call(join_req(b), resp, seq_b), outcome::deferred);
    auto jb3 = parse_join(wait_for(seq_b));
    EXPECT_EQ(jb3.generation, 3);
    EXPECT_EQ(jb3.leader, b);

    // Committed offsets survive a restart.
    restart();
    ASSERT_EQ(call(request(api::offset_fetch, 5, 25, [](writer& w) {
                       w.string("g");
                       w.array_len(1);
                       w.string("t");
                       w.array_len(2);
                       w.i32(0);
                       w.i32(1);
                   }), resp),
              outcome::respond);
    reader r = body(resp, 25);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.array_len(), 1);
    EXPECT_EQ(r.string(), "t");
    EXPECT_EQ(r.array_len(), 2);
    EXPECT_EQ(r.i32(), 0);
    EXPECT_EQ(r.i64(), -1);
    EXPECT_EQ(r.i32(), -1);
    EXPECT_EQ(r.nullable_string().value_or("?"), "");
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_EQ(r.i32(), 1);
    EXPECT_EQ(r.i64(), 42);
    EXPECT_EQ(r.i32(), -1);
    EXPECT_EQ(r.nullable_string().value_or("?"), "md");
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_EQ(r.i16(), error::none);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
}

TEST_F(KafkaGroups, SessionTimeoutRemovesSilentMember) {
    std::string a = member_id_for_new();
    bytes resp;
    std::uint64_t seq = _seq++;
    ASSERT_EQ(call(join_req(a), resp, seq), outcome::deferred);
    auto j = parse_join(wait_for(seq));
    ASSERT_EQ(j.error, error::none);
    ASSERT_FALSE(sync(a, 1, true, {a}).empty());
    _now += 7000;  // > session timeout 6000
    _broker->poll(_now, _done);
    EXPECT_EQ(heartbeat(a, 1), error::unknown_member_id);
}

TEST_F(KafkaGroups, JoinV0AssignsIdAndUnknownMemberIsRejected) {
    bytes resp;
    std::uint64_t seq = _seq++;
    ASSERT_EQ(call(join_req("", 0), resp, seq), outcome::deferred);
    auto j = parse_join(wait_for(seq), 0);
    EXPECT_EQ(j.error, error::none);
    EXPECT_FALSE(j.member.empty());
    ASSERT_EQ(call(join_req("stranger"), resp), outcome::respond);
    EXPECT_EQ(parse_join(resp).error, error::unknown_member_id);
}

TEST_F(KafkaBroker, MalformedAndUnknownRequestsClose) {
    bytes resp;
    bytes tiny(3);
    EXPECT_EQ(call(tiny, resp), outcome::close);
    EXPECT_EQ(call(request(999, 0, 1, [](writer&) {}), resp), outcome::close);
    EXPECT_EQ(call(request(api::metadata, 42, 1, [](writer&) {}), resp), outcome::close);
    // Truncated body.
    EXPECT_EQ(call(request(api::fetch, 4, 1, [](writer& w) { w.i32(1); }), resp), outcome::close);
    auto st = _broker->stats();
    EXPECT_GE(st.malformed_requests + st.unsupported_requests, 4u);
}

TEST(KafkaOffsetStore, TornTailIsDropped) {
    auto dir = std::filesystem::temp_directory_path() / ("sluice-offsets-" + std::to_string(mono_ns()));
    std::string err;
    {
        auto s = offset_store::open(dir.string(), &err);
        ASSERT_TRUE(s) << err;
        ASSERT_EQ(s->commit("g", {{"t", 0, {10, 1, 5, "m"}}, {"t", 1, {20, 1, 5, std::nullopt}}}), errc::ok);
        ASSERT_EQ(s->commit("g", {{"t", 0, {11, 1, 6, std::nullopt}}}), errc::ok);
    }
    // Garbage appended (a torn write) is ignored on reload.
    {
        FILE* f = std::fopen((dir / "offsets.journal").c_str(), "ab");
        ASSERT_TRUE(f);
        std::fwrite("\x00\x00\x00\x30garbage", 1, 11, f);
        std::fclose(f);
    }
    auto s = offset_store::open(dir.string(), &err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->get("g", "t", 0)->offset, 11);
    EXPECT_EQ(s->get("g", "t", 1)->offset, 20);
    EXPECT_FALSE(s->get("g", "t", 2));
    EXPECT_EQ(s->list("g").size(), 2u);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::kafka
