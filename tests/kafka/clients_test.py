#!/usr/bin/python3
"""Integration test: real Kafka clients (confluent-kafka 1.7.0 / librdkafka 2.0.2 and
kafka-python 2.0.2) against kafka_test_server. Consumer groups: two members split 8 partitions,
commit, one leaves and the other takes over, the server restarts, a new member resumes from the
committed offsets. Usage: clients_test.py SERVER_BINARY"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE = time.monotonic() + 150


def check_deadline():
    if time.monotonic() > DEADLINE:
        raise SystemExit("FAIL: test exceeded its time budget")


class Server:
    def __init__(self, binary, data_dir):
        self.binary, self.data_dir, self.proc, self.port = binary, data_dir, None, None

    def start(self, port=0):
        port_file = os.path.join(self.data_dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.proc = subprocess.Popen([self.binary, "--data-dir", os.path.join(self.data_dir, "d"),
                                      "--listen", f"127.0.0.1:{port}", "--topic", "grp:8",
                                      "--topic", "kp:4", "--port-file", port_file])
        for _ in range(200):
            if os.path.exists(port_file):
                self.port = int(open(port_file).read())
                return f"127.0.0.1:{self.port}"
            time.sleep(0.05)
        raise SystemExit("FAIL: server did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def produce_confluent(bootstrap, topic, start, count):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    acked = []
    def cb(err, msg):
        if err is None:
            acked.append(msg.offset())
    for i in range(start, start + count):
        p.produce(topic, key=f"key-{i % 97}".encode(), value=f"v{i}".encode(), on_delivery=cb)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0, "producer did not flush"
    assert len(acked) == count, f"acked {len(acked)} of {count}"


def confluent_groups(bootstrap, server):
    from confluent_kafka import Consumer, TopicPartition
    conf = {"bootstrap.servers": bootstrap, "group.id": "g1", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"}
    produce_confluent(bootstrap, "grp", 0, 4000)
    a, b = Consumer(dict(conf, **{"client.id": "a"})), Consumer(dict(conf, **{"client.id": "b"}))
    a.subscribe(["grp"])
    b.subscribe(["grp"])
    seen = {}
    def drain(c, name):
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            seen[m.value().decode()] = name
    while True:
        check_deadline()
        drain(a, "a")
        drain(b, "b")
        pa = {tp.partition for tp in a.assignment()}
        pb = {tp.partition for tp in b.assignment()}
        if len(pa) > 0 and len(pb) > 0 and pa | pb == set(range(8)) and not (pa & pb) and len(seen) == 4000:
            break
    print(f"confluent: a={sorted(pa)} b={sorted(pb)} consumed {len(seen)}")
    assert set(seen.values()) == {"a", "b"}
    a.commit(asynchronous=False)
    b.commit(asynchronous=False)
    a.close()  # LeaveGroup: b takes over all 8 partitions
    while len(b.assignment()) != 8:
        check_deadline()
        b.poll(0.1)
    produce_confluent(bootstrap, "grp", 4000, 800)
    got = set()
    while True:
        check_deadline()
        m = b.poll(0.1)
        if m is not None and m.error() is None:
            got.add(m.value().decode())
        if len(b.assignment()) == 8 and len(got) >= 800:
            break
    assert got == {f"v{i}" for i in range(4000, 4800)}, f"b after takeover got {len(got)}"
    b.commit(asynchronous=False)
    committed = b.committed([TopicPartition("grp", p) for p in range(8)], timeout=10)
    hwm = [b.get_watermark_offsets(TopicPartition("grp", p), timeout=10)[1] for p in range(8)]
    pos = [tp.offset for tp in b.position([TopicPartition("grp", p) for p in range(8)])]
    assert [tp.offset for tp in committed] == hwm and sum(hwm) == 4800, (committed, hwm, pos)
    b.close()
    print("confluent: takeover ok, committed 4800")

    # Restart the server; a new member resumes from the committed offsets.
    server.stop()
    bootstrap = server.start(server.port)
    produce_confluent(bootstrap, "grp", 4800, 300)
    c = Consumer(dict(conf, **{"client.id": "c"}))
    c.subscribe(["grp"])
    got = []
    t_end = time.monotonic() + 30
    while time.monotonic() < t_end and len(got) < 300:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    # Nothing more arrives.
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    assert sorted(got) == sorted(f"v{i}" for i in range(4800, 5100)), f"resume got {len(got)}: {got[:5]}"
    print("confluent: resumed from committed offsets after restart")
    return bootstrap


def kafka_python(bootstrap):
    import threading
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    futs = [p.send("kp", key=f"k{i}".encode(), value=f"p{i}".encode()) for i in range(2000)]
    p.flush(30)
    offsets = [f.get(timeout=10).offset for f in futs]
    assert len(offsets) == 2000
    p.close()
    lock = threading.Lock()
    seen = set()
    assignment = {}
    stop = {"a": threading.Event(), "b": threading.Event()}
    errors = []

    # kafka-python blocks inside poll() during a rebalance, so each member needs its own thread.
    def member(cid):
        try:
            c = KafkaConsumer("kp", bootstrap_servers=bootstrap, group_id="g2", client_id=cid,
                              auto_offset_reset="earliest", enable_auto_commit=False,
                              session_timeout_ms=6000, heartbeat_interval_ms=500)
            while not stop[cid].is_set() and time.monotonic() < DEADLINE:
                batch = c.poll(timeout_ms=100)
                with lock:
                    for msgs in batch.values():
                        seen.update(m.value.decode() for m in msgs)
                    assignment[cid] = {t.partition for t in c.assignment()}
            c.commit()
            c.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = {cid: threading.Thread(target=member, args=(cid,)) for cid in ("a", "b")}
    for t in threads.values():
        t.start()
    try:
        while True:
            check_deadline()
            assert not errors, errors
            with lock:
                pa, pb = assignment.get("a", set()), assignment.get("b", set())
                if pa and pb and pa | pb == set(range(4)) and not (pa & pb) and len(seen) == 2000:
                    break
            time.sleep(0.05)
        print(f"kafka-python: a={sorted(pa)} b={sorted(pb)} consumed {len(seen)}")
        stop["a"].set()
        threads["a"].join(30)
        while True:
            check_deadline()
            with lock:
                if assignment.get("b") == set(range(4)):
                    break
            time.sleep(0.05)
    finally:
        stop["a"].set()
        stop["b"].set()
        for t in threads.values():
            t.join(30)
    assert not errors, errors
    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id="g2", enable_auto_commit=False)
    committed = sum(probe.committed(TopicPartition("kp", i)) or 0 for i in range(4))
    probe.close()
    assert committed == 2000, committed
    print("kafka-python: group split, commit and takeover ok")


def main():
    try:
        import confluent_kafka  # noqa: F401
        import kafka  # noqa: F401
    except ImportError as e:
        print(f"SKIP: {e} (needs Debian python3-kafka and python3-confluent-kafka)")
        sys.exit(77)
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="sluice-kafka-clients-")
    server = Server(binary, tmp)
    try:
        bootstrap = server.start()
        bootstrap = confluent_groups(bootstrap, server)
        kafka_python(bootstrap)
    finally:
        try:
            server.stop()
        except Exception:
            server.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
