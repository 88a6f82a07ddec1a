#!/usr/bin/python3
"""Integration tests of `sluice run` + `sluice gen` over loopback (suite 'integration').

usage: integration.py SLUICE_BINARY CASE    (CASE: exact | overload | kill9)
Exit 0 = pass, 1 = fail, 77 = skipped (meson's skip code). Every wait is bounded.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class appliance:
    def __init__(self, binary, workdir, cores=1, partitions=4):
        self.binary = binary
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.udp = free_port(socket.SOCK_DGRAM)
        self.kafka = free_port(socket.SOCK_STREAM)
        self.admin = free_port(socket.SOCK_STREAM)
        self.config = os.path.join(workdir, "sluice.toml")
        with open(self.config, "w") as f:
            f.write(f"""data_dir = "{self.data}"
[ingest]
address = "127.0.0.1"
cores = {cores}
[flush]
interval_ms = 2
[kafka]
listen = "127.0.0.1:{self.kafka}"
[admin]
listen = "127.0.0.1:{self.admin}"
[[topic]]
name = "sensors"
port = {self.udp}
partitions = {partitions}
key = "/sensor_id"
require = ["/sensor_id"]
timestamp = "/time_epoch"
""")
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(os.path.join(self.workdir, "run.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluice run exited early: " + self.tail())
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sluice run did not come up: " + self.tail())

    def tail(self):
        with open(os.path.join(self.workdir, "run.log"), "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r'^(\w+)(\{[^}]*\})?\s+(\S+)$', line)
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("sluice run did not stop within %ds" % timeout)
        self.log.close()
        return rc

    def gen(self, *args, timeout=120):
        r = subprocess.run([self.binary, "gen", "--target", f"127.0.0.1:{self.udp}", *args],
                           capture_output=True, timeout=timeout, text=True)
        if r.returncode != 0:
            raise RuntimeError("sluice gen failed: " + r.stderr)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def dump(self, topic):
        r = subprocess.run([self.binary, "log", "dump", self.data, "--topic", topic, "--format", "json"],
                           capture_output=True, timeout=120, text=True)
        if r.returncode != 0:
            raise RuntimeError("sluice log dump failed: " + r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def topic_sum(m, name, topic="sensors"):
    return sum(v for (n, labels), v in m.items() if n == name and f'topic="{topic}"' in labels)


def counts(m, topic="sensors"):
    return {k: int(topic_sum(m, "sluice_events_" + k, topic))
            for k in ("received_total", "stored_total", "rejected_total", "dropped_total", "in_flight")}


def balanced(c):
    return c["received_total"] == c["stored_total"] + c["rejected_total"] + c["dropped_total"] + c["in_flight"]


def wait_until(pred, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def seq_of(value):
    m = re.search(r'"seq":(\d+)', value)
    return int(m.group(1)) if m else None


def cpu_list(text):
    """'0-2,5' -> {0, 1, 2, 5}"""
    cpus = set()
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def check_placement(a):
    """With a dedicated placement, no thread but the pipelines' may run on a pipeline cpu: the
    control threads (Kafka, admin HTTP), the writer and its io_uring io-wq workers included."""
    with open(os.path.join(a.workdir, "run.log"), "rb") as f:
        log = f.read().decode(errors="replace")
    pipes = set(int(c) for c in re.findall(r"pipeline \d+ on cpu (\d+)", log))
    if not pipes or "too few cores to dedicate" in log:
        print("placement: not dedicated on this machine, thread affinity not checked")
        return
    comm = {}
    allowed = {}
    task_dir = "/proc/%d/task" % a.proc.pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "comm")) as f:
                comm[tid] = f.read().strip()
            with open(os.path.join(task_dir, tid, "status")) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        allowed[tid] = cpu_list(line.split(":", 1)[1])
        except OSError:
            continue  # the thread exited meanwhile
    checked = 0
    for tid, name in comm.items():
        owner = name
        if name.startswith("iou-wrk-"):  # io-wq worker of the thread with that tid
            owner = comm.get(name[len("iou-wrk-"):], "")
        if owner.startswith("sluice-pipe") or tid not in allowed:
            continue
        checked += 1
        check(not (allowed[tid] & pipes),
              f"thread {name} may run on pipeline cpu(s) {sorted(pipes)}: {sorted(allowed[tid])}")
    print(f"placement: {checked} non-pipeline threads off pipeline cpus {sorted(pipes)}")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def case_exact(binary, work):
    a = appliance(binary, work)
    a.start()
    n = 20000
    g = a.gen("--count", str(n), "--rate", "40000", "--malformed-ratio", "0.02", "--seed", "7")
    check(g["events"] == n, f"gen sent {g}")
    check(wait_until(lambda: counts(a.metrics())["received_total"] >= n, 30), "not all events received")
    check(wait_until(lambda: counts(a.metrics())["in_flight"] == 0, 30), "in_flight did not drain")
    c = counts(a.metrics())
    print("metrics:", c)
    check(balanced(c), f"invariant broken: {c}")
    check(c["received_total"] == n, f"received {c['received_total']} != {n}")
    check_placement(a)
    rc = a.stop()
    check(rc == 0, f"sluice run exit code {rc}")
    stored = a.dump("sensors")
    dlq = a.dump("sensors.dlq")
    seqs = [seq_of(r["value"]) for r in stored]
    check(len(stored) == c["stored_total"], f"log holds {len(stored)} records, metrics say {c['stored_total']}")
    check(len(set(seqs)) == len(seqs), "duplicate seq in the log")
    check(len(dlq) == c["rejected_total"], f"DLQ holds {len(dlq)}, metrics say {c['rejected_total']}")
    check(c["rejected_total"] == g["malformed"], f"rejected {c['rejected_total']} != malformed {g['malformed']}")
    dlq_seqs = [seq_of(r["value"]) for r in dlq]
    every = set(seqs) | set(s for s in dlq_seqs if s is not None)
    if c["dropped_total"] == 0:
        check(len(seqs) + len(dlq) == n, "stored + DLQ != sent")
        check(every == set(range(n)), "some seq missing")
    # Every record's key is its sensor id and lands on the murmur2 partition for it (checked by
    # grouping: one key never appears on two partitions).
    where = {}
    for r in stored:
        check(where.setdefault(r["key"], r["partition"]) == r["partition"], "key on two partitions")
    # Offsets are dense per partition.
    per = {}
    for r in stored:
        per.setdefault(r["partition"], []).append(r["offset"])
    for p, offs in per.items():
        check(offs == list(range(len(offs))), f"partition {p} offsets not dense")
    return 0


def case_overload(binary, work):
    a = appliance(binary, work)
    a.start()
    # Several flat-out generators with 40 events per datagram. The pipeline outruns them when
    # they have cpus of their own, so they run on the pipeline's cpu (when it has one to
    # itself): the scheduler then gives the pipeline a share of its core while the senders
    # offer several times what that share can parse, and the socket buffer overflows.
    with open(os.path.join(a.workdir, "run.log"), "rb") as f:
        log = f.read().decode(errors="replace")
    pipes = set(int(c) for c in re.findall(r"pipeline \d+ on cpu (\d+)", log))
    if "too few cores to dedicate" in log:
        pipes = set()
    print("generators on cpu(s):", sorted(pipes) if pipes else "any")
    pin = (lambda: os.sched_setaffinity(0, pipes)) if pipes else None
    procs = [subprocess.Popen([binary, "gen", "--target", f"127.0.0.1:{a.udp}", "--duration-s", "2",
                               "--batch", "40", "--seed", str(i)], preexec_fn=pin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    sent = 0
    for p in procs:
        out, err = p.communicate(timeout=60)
        check(p.returncode == 0, "gen failed: " + err)
        sent += json.loads(out.strip().splitlines()[-1])["events"]
    # Scrapes during and after the run balance; after the drain in_flight is 0.
    check(wait_until(lambda: counts(a.metrics())["in_flight"] == 0, 30), "in_flight did not drain")
    time.sleep(0.3)  # late SO_MEMINFO refresh (every 100 ms) folds the final kernel drops in
    c = counts(a.metrics())
    m = a.metrics()
    kernel = int(sum(v for (n, l), v in m.items()
                     if n == "sluice_events_dropped_total" and 'reason="kernel_overflow"' in l))
    print("sent", sent, "metrics:", c, "kernel_overflow datagrams:", kernel)
    check(balanced(c), f"invariant broken: {c}")
    # Everything counted as stored is in the log: the partitions' high watermarks add up to it
    # (millions of records: cheaper than dumping them; exact contents are case_exact's job).
    hwm = int(sum(v for (n, l), v in m.items()
                  if n == "sluice_partition_high_watermark" and 'topic="sensors"' in l))
    check(hwm == c["stored_total"], f"high watermarks sum to {hwm}, metrics say {c['stored_total']}")
    rc = a.stop()
    check(rc == 0, f"sluice run exit code {rc}")
    reasons = {l: int(v) for (n, l), v in m.items() if n == "sluice_events_dropped_total" and v > 0}
    print("dropped by reason:", reasons)
    if c["dropped_total"] == 0:
        print("SKIP: offered load did not exceed capacity on this machine (no drops)")
        return SKIP
    check(c["stored_total"] < sent, "dropped events but everything stored?")
    return 0


def case_kill9(binary, work):
    a = appliance(binary, work)
    a.start()
    gen = subprocess.Popen([binary, "gen", "--target", f"127.0.0.1:{a.udp}", "--duration-s", "3",
                            "--rate", "50000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    m = a.metrics()
    visible = {l: int(v) for (n, l), v in m.items() if n == "sluice_partition_high_watermark"}
    check(sum(visible.values()) > 0, "nothing visible after 1.5 s of ingest")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    a.log.close()
    gen.communicate(timeout=30)
    v = subprocess.run([binary, "log", "verify", a.data], capture_output=True, text=True, timeout=120)
    print(v.stdout[-1500:])
    check(v.returncode == 0, "log verify failed after kill -9: " + v.stdout[-500:] + v.stderr[-500:])
    a.start()
    m2 = a.metrics()
    for labels, hwm in visible.items():
        now = int(m2.get(("sluice_partition_high_watermark", labels), -1))
        check(now >= hwm, f"{labels}: high watermark {now} < {hwm} visible before the kill")
    rc = a.stop()
    check(rc == 0, f"restarted sluice run exit code {rc}")
    stored = a.dump("sensors")
    per = {}
    for r in stored:
        per.setdefault(r["partition"], []).append(r["offset"])
    for labels, hwm in visible.items():
        mt = re.search(r'topic="sensors",partition="(\d+)"', labels)
        if mt:
            offs = per.get(int(mt.group(1)), [])
            check(offs[:hwm] == list(range(hwm)), f"{labels}: offsets below {hwm} missing")
    seqs = [seq_of(r["value"]) for r in stored]
    check(len(set(seqs)) == len(seqs), "duplicate seq after restart")
    return 0


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, case = os.path.abspath(sys.argv[1]), sys.argv[2]
    work = tempfile.mkdtemp(prefix="sluice-it-")
    try:
        rc = {"exact": case_exact, "overload": case_overload, "kill9": case_kill9}[case](binary, work)
        print("PASS" if rc == 0 else "SKIP", case)
        return rc
    except (AssertionError, RuntimeError) as e:
        print("FAIL", case, ":", e)
        log = os.path.join(work, "run.log")
        if os.path.exists(log):
            with open(log, "rb") as f:
                print(f.read()[-3000:].decode(errors="replace"))
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
