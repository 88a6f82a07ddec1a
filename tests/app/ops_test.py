#!/usr/bin/python3
"""Operator-facing tests (owner: ops). One mode per meson test:

  stat       `sluice stat --once` (json and text) against a running `sluice run` fed by `sluice gen`;
             unreachable endpoint -> exit 1; counting invariant once the generator stops; the
             receive -> durable latency histogram counts exactly the stored events
  tmux       the live terminal view driven through tmux: topic and non-zero rates shown, `q` quits
  dashboard  the status page at GET / in headless Chromium: live numbers that change, screenshot
  plan       `sluice plan --nic`: absent / malformed PCI address -> exit 1 naming the option; a device
             of this machine is found and its sysfs NUMA node reported and used
  tuning     tuning/sluice-tune.sh dry run on this host (exit 0, changes nothing) and on a fake
             /sys,/proc,/etc tree (reports every pending change; --check; --apply inside the fake
             tree is idempotent)

Environment: SLUICE_BIN (the sluice executable), OPS_OUT_DIR (where the screenshot is kept),
SLUICE_TUNE (the tuning script). Exit 77 = skipped (meson), with the reason on stdout.
Traffic goes to 127.0.0.1 only. Every wait is bounded.
"""
import hashlib
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


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class appliance:
    """`sluice run` on temporary ports and data dir, plus a `sluice gen` feeding it."""

    def __init__(self, tmp):
        self.bin = os.environ["SLUICE_BIN"]
        self.tmp = tmp
        self.udp = free_port(socket.SOCK_DGRAM)
        self.kafka = free_port(socket.SOCK_STREAM)
        self.admin_port = free_port(socket.SOCK_STREAM)
        self.admin = "127.0.0.1:%d" % self.admin_port
        cfg = os.path.join(tmp, "sluice.toml")
        with open(cfg, "w") as f:
            f.write('data_dir = "%s"\n[ingest]\naddress = "127.0.0.1"\n[kafka]\nlisten = "127.0.0.1:%d"\n'
                    '[admin]\nlisten = "%s"\n[[topic]]\nname = "events"\nport = %d\npartitions = 4\n'
                    % (os.path.join(tmp, "data"), self.kafka, self.admin, self.udp))
        self.log = open(os.path.join(tmp, "run.log"), "w")
        self.proc = subprocess.Popen([self.bin, "run", "--config", cfg], stdout=self.log, stderr=subprocess.STDOUT)
        self.gens = []
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("sluice run exited early: " + open(os.path.join(tmp, "run.log")).read())
            try:
                urllib.request.urlopen("http://%s/v1/status" % self.admin, timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        fail("admin endpoint did not come up within 20 s")

    def gen(self, rate, seconds):
        p = subprocess.Popen([self.bin, "gen", "--target", "127.0.0.1:%d" % self.udp, "--rate", str(rate),
                              "--duration-s", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.gens.append(p)
        return p

    def stat(self, *args, timeout=20):
        return subprocess.run([self.bin, "stat", "--admin", self.admin] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def close(self):
        for g in self.gens:
            if g.poll() is None:
                g.terminate()
            g.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def stat_json(app):
    r = app.stat("--once", "--format", "json")
    if r.returncode != 0:
        fail("sluice stat --once --format json: exit %d: %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def topic(snap, name):
    for t in snap["topics"]:
        if t["name"] == name:
            return t
    fail("topic %s missing from %s" % (name, snap))


def check_durable_latency_histogram(app, stored):
    """sluice_pipeline_durable_latency_seconds once the load is drained: a real histogram whose
    _count is the number of events stored, cumulative buckets that never go down, +Inf == _count,
    and quantiles that agree with the sluice_pipeline_durable_latency_us gauge of the same scrape."""
    text = urllib.request.urlopen("http://%s/metrics" % app.admin, timeout=5).read().decode()
    h = "sluice_pipeline_durable_latency_seconds"
    check("# TYPE %s histogram" % h in text, "%s exported as a histogram" % h)
    buckets = [(m.group(1), int(m.group(2))) for m in re.finditer(r'^%s_bucket\{le="([^"]+)"\} (\d+)$' % h, text, re.M)]
    count = re.search(r"^%s_count (\d+)$" % h, text, re.M)
    total = re.search(r"^%s_sum (\S+)$" % h, text, re.M)
    stored_now = sum(int(float(v)) for v in re.findall(r'^sluice_events_stored_total\{[^}]*\} (\S+)$', text, re.M))
    check(count is not None and total is not None and len(buckets) >= 2 and buckets[-1][0] == "+Inf",
          "%s has buckets up to +Inf, _sum and _count" % h)
    n = int(count.group(1))
    check(n == stored == stored_now and n > 0,
          "%s_count %d == events stored %d (stat) == sluice_events_stored_total %d" % (h, n, stored, stored_now))
    bounds = [float(le) for le, _ in buckets[:-1]]
    check(all(a < b for a, b in zip(bounds, bounds[1:])) and bounds[0] <= 1e-6,
          "bucket bounds ascend in seconds from %g" % bounds[0])
    check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "cumulative buckets never go down")
    check(buckets[-1][1] == n, "le=+Inf bucket %d == _count %d" % (buckets[-1][1], n))
    mean = float(total.group(1)) / n
    check(0 < mean < 10, "mean receive -> durable latency %.6f s is positive and under 10 s" % mean)
    gauge = {m.group(1): float(m.group(2)) for m in
             re.finditer(r'^sluice_pipeline_durable_latency_us\{quantile="([^"]+)"\} (\S+)$', text, re.M)}
    for q in ("0.5", "0.99"):
        rank = int(float(q) * (n - 1)) + 1
        le = next(le for le, c in buckets if c >= rank)
        check(le != "+Inf" and abs(float(le) * 1e6 - gauge.get(q, -1)) < 1e-3,
              "histogram p%s bucket le=%s s matches the quantile gauge %s us" % (q, le, gauge.get(q)))


def mode_stat(tmp):
    app = appliance(tmp)
    try:
        gen = app.gen(3000, 6)
        time.sleep(1.5)
        s = stat_json(app)
        t = topic(s, "events")
        check(s["interval_s"] >= 0.9, "json snapshot has rates from two samples ~1 s apart (%.2f s)" % s["interval_s"])
        check(t["received"] > 0 and t["stored"] > 0, "events received %d, stored %d" % (t["received"], t["stored"]))
        check(300 <= t["received_per_s"] <= 9000, "received/s %.0f near the generator's 3000/s" % t["received_per_s"])
        check(t["stored_per_s"] > 0, "stored/s %.0f > 0" % t["stored_per_s"])
        check(len(t["partitions"]) == 4, "4 partitions reported")
        check(sum(p["events_per_s"] for p in t["partitions"]) > 0, "per-partition events/s > 0")
        check(all(p["high_watermark"] > 0 for p in t["partitions"]), "every partition's high watermark moved")
        check(t["bytes_on_disk"] is not None and t["bytes_on_disk"] > 0, "bytes on disk %s" % t["bytes_on_disk"])
        check(all(p["bytes_on_disk"] and p["bytes_on_disk"] > 0 for p in t["partitions"]), "per-partition bytes on disk")
        c = s["cores"][0]
        check(c["packets_per_s"] > 0 and c["events_per_s"] > 0 and c["bytes_per_s"] > 0,
              "core 0 packets/s %.0f events/s %.0f bytes/s %.0f" % (c["packets_per_s"], c["events_per_s"], c["bytes_per_s"]))
        check(c["drops"] == 0 and c["parse_failures"] == 0, "no drops or parse failures at this rate")
        lg = s["log"]
        check(lg["flushes"] > 0 and lg["flushes_per_s"] > 0, "writer flushes %d, %.0f/s" % (lg["flushes"], lg["flushes_per_s"]))
        check(lg["bytes_written_per_s"] > 0, "disk bandwidth %.0f B/s" % lg["bytes_written_per_s"])
        check(lg["fsync_latency_p50_s"] is not None and 0 < lg["fsync_latency_p50_s"] <= lg["fsync_latency_p99_s"] < 60,
              "fdatasync p50 %s <= p99 %s (%s)" % (lg["fsync_latency_p50_s"], lg["fsync_latency_p99_s"], lg["fsync_latency_window"]))

        # Every metric the shipped Prometheus rules and Grafana dashboard use is exported.
        text = urllib.request.urlopen("http://%s/metrics" % app.admin, timeout=5).read().decode()
        exported = set(re.findall(r"^(sluice_[a-zA-Z0-9_]+)", text, re.M))
        check("# TYPE sluice_kafka_requests_total counter" in text and "# TYPE sluice_consumer_lag gauge" in text
              and "# TYPE sluice_kafka_produce_ack_seconds histogram" in text
              and re.search(r'^sluice_kafka_requests_total\{api="Produce"\} \d+$', text, re.M) is not None,
              "Kafka API metrics and consumer lag families exported on /metrics")
        tuning = os.path.dirname(os.environ["SLUICE_TUNE"])
        used = set()
        for f in ("grafana-dashboard.json", "sluice-rules.yml"):
            with open(os.path.join(tuning, f)) as fh:
                used |= set(re.findall(r"\b(sluice_[a-zA-Z0-9_]+)", fh.read()))
        check(len(used) >= 10 and not (used - exported),
              "tuning/ dashboard and rules use only exported metrics (missing: %s)" % sorted(used - exported))

        r = app.stat("--once")
        check(r.returncode == 0, "stat --once text exits 0")
        out = r.stdout
        check("events" in out and "fdatasync" in out and "core" in out and "\x1b" not in out,
              "text screen names the topic, the writer and the cores, without ANSI codes")
        m = re.search(r"^events\s+all\s+(\S+)", out, re.M)
        check(m is not None and m.group(1) != "0", "text screen shows a non-zero events/s for the topic (%s)" % (m and m.group(1)))

        gen.wait(timeout=30)
        # Drained: received = stored + rejected + dropped, nothing in flight (bounded wait).
        deadline = time.time() + 15
        while True:
            s = stat_json(app)
            t = topic(s, "events")
            if t["in_flight"] == 0 or time.time() > deadline:
                break
        check(t["in_flight"] == 0, "in_flight drained to 0")
        check(t["received"] == t["stored"] + t["rejected"] + t["dropped"],
              "counting invariant: received %d = stored %d + rejected %d + dropped %d"
              % (t["received"], t["stored"], t["rejected"], t["dropped"]))
        check(sum(p["high_watermark"] for p in t["partitions"]) == t["stored"], "high watermarks sum to stored")
        check_durable_latency_histogram(app, t["stored"])
        check(t["received_per_s"] == 0, "rates fall to 0 when input stops")
    finally:
        app.close()

    closed = free_port(socket.SOCK_STREAM)
    r = subprocess.run([os.environ["SLUICE_BIN"], "stat", "--admin", "127.0.0.1:%d" % closed, "--once"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "unreachable" in r.stderr, "unreachable admin endpoint: exit 1 and a clear message (%r)" % r.stderr.strip())
    r = subprocess.run([os.environ["SLUICE_BIN"], "stat", "--admin", "nonsense", "--once"], capture_output=True,
                       text=True, timeout=20)
    check(r.returncode == 2 and "HOST:PORT" in r.stderr, "malformed --admin rejected")


def mode_tmux(tmp):
    tmux = shutil.which("tmux")
    if not tmux:
        print("SKIP: tmux is not installed (scripts/install-deps.sh installs it)")
        sys.exit(SKIP)
    sock = "sluice-ops-%d" % os.getpid()
    app = appliance(tmp)

    def tm(*args):
        return subprocess.run([tmux, "-L", sock, "-f", "/dev/null"] + list(args), capture_output=True, text=True,
                              timeout=10)

    try:
        app.gen(3000, 15)
        cmd = "%s stat --admin %s; echo STAT-EXIT=$?; sleep 30" % (app.bin, app.admin)
        r = tm("new-session", "-d", "-s", "stat", "-x", "160", "-y", "50", cmd)
        check(r.returncode == 0, "tmux session started (%s)" % r.stderr.strip())
        screen, rate = "", None
        deadline = time.time() + 20
        while time.time() < deadline:
            time.sleep(0.5)
            screen = tm("capture-pane", "-p", "-t", "stat").stdout
            m = re.search(r"^events\s+all\s+(\S+)", screen, re.M)
            if m and m.group(1) not in ("0", "0.0"):
                rate = m.group(1)
                break
        print(screen)
        check("sluice" in screen and "core" in screen and "writer" in screen, "live view shows header, cores and writer")
        check(rate is not None, "live view shows topic events with a non-zero rate (%s/s)" % rate)
        m = re.search(r"^0\s+(\S+)\s+(\S+)", screen, re.M)
        check(m is not None and m.group(1) != "0" and m.group(2) != "0", "core 0 shows non-zero packets/s and events/s")
        lines = screen.rstrip("\n").split("\n")
        check(len(lines) <= 50 and all(len(l) <= 160 for l in lines), "the view fits the 160x50 terminal")
        tm("send-keys", "-t", "stat", "q")
        exited = False
        deadline = time.time() + 10
        while time.time() < deadline:
            time.sleep(0.3)
            screen = tm("capture-pane", "-p", "-t", "stat").stdout
            if "STAT-EXIT=" in screen:
                exited = True
                break
        check(exited and "STAT-EXIT=0" in screen, "q quits with exit 0 and restores the screen")
    finally:
        tm("kill-server")
        app.close()


def dom_value(dom, elem_id, attr="data-value"):
    m = re.search(r'<[^>]*\bid="%s"[^>]*>' % re.escape(elem_id), dom)
    if not m:
        return None
    a = re.search(r'\b%s="([^"]*)"' % re.escape(attr), m.group(0))
    return float(a.group(1)) if a and a.group(1) not in ("", "NaN") else None


def mode_dashboard(tmp):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP: chromium is not installed (scripts/install-deps.sh installs it)")
        sys.exit(SKIP)
    out_dir = os.environ.get("OPS_OUT_DIR", tmp)
    app = appliance(tmp)
    url = "http://%s/" % app.admin
    profile = os.path.join(tmp, "chromium-profile")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile]

    def dump(budget_ms):
        r = subprocess.run(base + ["--virtual-time-budget=%d" % budget_ms, "--dump-dom", url], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0 or "<html" not in r.stdout:
            fail("chromium --dump-dom: exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        return r.stdout

    try:
        page = urllib.request.urlopen(url, timeout=5).read().decode()
        check(page.startswith("<!doctype html>") and "http://" not in page and "https://" not in page,
              "GET / serves the self-contained status page")
        app.gen(3000, 60)
        time.sleep(1.5)
        d1 = dump(5000)
        time.sleep(2)
        d2 = dump(5000)
        with open(os.path.join(out_dir, "dashboard-dom.html"), "w") as f:
            f.write(d2)
        m1 = re.search(r'data-samples="(\d+)"', d1)
        m2 = re.search(r'data-samples="(\d+)"', d2)
        check(m1 and m2 and int(m1.group(1)) >= 2 and int(m2.group(1)) >= 2,
              "the page polled the endpoint repeatedly (%s, %s samples)" % (m1 and m1.group(1), m2 and m2.group(1)))
        r1, r2 = dom_value(d1, "total-received"), dom_value(d2, "total-received")
        check(r1 is not None and r2 is not None and 0 < r1 < r2, "received total shown and growing: %s -> %s" % (r1, r2))
        rate1, rate2 = dom_value(d1, "total-received-rate"), dom_value(d2, "total-received-rate")
        check((rate1 or 0) > 0 or (rate2 or 0) > 0, "received/s shown non-zero (%s, %s)" % (rate1, rate2))
        check('class="ok"' in d2 and ">live<" in d2, "status indicator says live")
        check(re.search(r'data-topic="events"', d2) is not None, "topic table lists events")
        check(d2.count("<canvas") >= 5, "charts present")
        shot = os.path.join(out_dir, "dashboard.png")
        if os.path.exists(shot):
            os.unlink(shot)
        r = subprocess.run(base + ["--virtual-time-budget=8000", "--window-size=1440,1100", "--hide-scrollbars",
                                   "--screenshot=" + shot, url], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0 and os.path.exists(shot) and os.path.getsize(shot) > 20000,
              "screenshot %s written (%d bytes)" % (shot, os.path.getsize(shot) if os.path.exists(shot) else 0))
    finally:
        app.close()


def tree_digest(root):
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def write(root, rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text + "\n")


def mode_tuning(tmp):
    script = os.environ["SLUICE_TUNE"]
    # 1. This host, dry run: exit 0, says what it would do, changes nothing.
    watched = ["/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
               "/proc/sys/net/core/rmem_max", "/proc/sys/net/core/netdev_max_backlog", "/proc/sys/vm/swappiness",
               "/proc/sys/vm/dirty_ratio", "/proc/mounts", "/etc/fstab"]
    watched += ["/etc/sysctl.d/99-sluice.conf", "/etc/sysctl.d/98-sluice-hugepages.conf", "/etc/systemd/system/sluice.service",
                "/etc/security/limits.d/99-sluice.conf"]

    def snapshot():
        snap = {}
        for p in watched:
            try:
                with open(p) as f:
                    snap[p] = f.read()
            except OSError:
                snap[p] = None
        return snap

    before = snapshot()
    r = subprocess.run([script], capture_output=True, text=True, timeout=120)
    print(r.stdout)
    check(r.returncode == 0, "dry run on this host exits 0 (%s)" % r.stderr.strip())
    check("dry run" in r.stdout and "nothing was changed" in r.stdout, "dry run says so")
    for step in ("[hugepages]", "[governor]", "[thp]", "[irq]", "[nic]", "[nvme]", "[sysctl]", "[memlock]", "[user]"):
        check(step in r.stdout, "step %s reported" % step)
    check(snapshot() == before, "the dry run changed none of the watched host files")
    r = subprocess.run([script, "--bogus"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2, "unknown option: exit 2")

    # 2. A fake host that needs everything.
    root = os.path.join(tmp, "root")
    write(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0")
    write(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never")
    write(root, "sys/kernel/mm/transparent_hugepage/defrag", "[always] defer madvise never")
    for c in range(4):
        write(root, "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor" % c, "powersave")
        write(root, "sys/devices/system/cpu/cpu%d/cpufreq/scaling_available_governors" % c, "performance powersave")
    write(root, "sys/devices/system/cpu/online", "0-3")
    write(root, "sys/block/nvme0n1/queue/scheduler", "[mq-deadline] kyber none")
    write(root, "sys/block/nvme0n1/queue/nr_requests", "64")
    write(root, "proc/mounts", "proc /proc proc rw 0 0")
    write(root, "proc/irq/24/smp_affinity_list", "0-3")
    write(root, "proc/irq/25/smp_affinity_list", "0-1")
    write(root, "proc/irq/default_smp_affinity", "f")
    write(root, "proc/sys/net/core/rmem_max", "212992")
    write(root, "proc/sys/net/core/netdev_max_backlog", "1000")
    write(root, "proc/sys/vm/swappiness", "60")
    write(root, "proc/sys/fs/file-max", "9999999")
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash")
    write(root, "etc/fstab", "# empty")
    digest = tree_digest(root)
    args = [script, "--root", root, "--pipeline-cpus", "2-3"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    print(r.stdout)
    check(r.returncode == 0, "dry run on the fake tree exits 0")
    out = r.stdout
    for want in ("nr_hugepages: '0' -> '1024'", "mount hugetlbfs", "cpu0/cpufreq/scaling_governor: 'powersave' -> 'performance'",
                 "transparent_hugepage/enabled: [always] -> [madvise]", "move 1 IRQs off pipeline CPUs 2-3 to 0,1",
                 "default_smp_affinity: f -> 3", "nvme0n1 scheduler mq-deadline -> none", "nvme0n1 nr_requests 64 -> 1023",
                 "net.core.rmem_max: 212992 -> 67108864", "vm.swappiness: 60 -> 1", "fs.file-max = 9999999 (>= 2097152)",
                 "install", "sluice.service", "98-sluice-hugepages.conf", "memlock unlimited", "create system user sluice"):
        check(want in out, "dry run reports: " + want)
    check(tree_digest(root) == digest, "dry run left the fake tree byte for byte unchanged")
    r = subprocess.run(args + ["--check"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 3, "--check exits 3 while changes are pending")
    # --apply only ever writes inside the fake tree (never the host): then nothing is pending.
    assert root.startswith(tempfile.gettempdir()) or root.startswith(tmp)
    r = subprocess.run(args + ["--apply"], capture_output=True, text=True, timeout=60)
    print(r.stdout)
    check(r.returncode == 0 and "0 failed" in r.stdout, "--apply inside the fake tree succeeds")
    with open(os.path.join(root, "sys/block/nvme0n1/queue/scheduler")) as f:
        check(f.read().strip() == "none", "fake nvme scheduler now none")
    with open(os.path.join(root, "proc/irq/24/smp_affinity_list")) as f:
        check(f.read().strip() == "0,1", "fake IRQ 24 moved to CPUs 0,1")
    # The fake sysfs does not emulate "[x]" selectors, so re-create them as the kernel shows them.
    write(root, "sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never")
    write(root, "sys/kernel/mm/transparent_hugepage/defrag", "always defer [madvise] never")
    write(root, "sys/block/nvme0n1/queue/scheduler", "mq-deadline kyber [none]")
    write(root, "proc/mounts", "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw 0 0")
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsluice:x:999:999::/var/lib/sluice:/usr/sbin/nologin")
    r = subprocess.run(args + ["--check"], capture_output=True, text=True, timeout=60)
    print(r.stdout)
    check(r.returncode == 0 and "0 change(s) pending" in r.stdout, "idempotent: a second run finds nothing to do")


def mode_plan(tmp):
    """`sluice plan --nic`: an absent or malformed device is an error naming the option; a device
    of this machine (virtio on a VM) is found and its sysfs NUMA node drives the placement."""
    sluice = os.environ["SLUICE_BIN"]

    def plan(*args):
        return subprocess.run([sluice, "plan"] + list(args), capture_output=True, text=True, timeout=60)
    devices = "/sys/bus/pci/devices"
    absent = next(a for a in ("0000:ff:1f.7", "0000:fe:1e.6", "0000:fd:1d.5")
                  if not os.path.exists(os.path.join(devices, a)))
    r = plan("--nic", absent)
    check(r.returncode == 1 and ("--nic %s" % absent) in r.stderr and "no PCI device" in r.stderr and not r.stdout,
          "absent device: exit 1, message names --nic and the address (%r)" % r.stderr.strip())
    r = plan("--nic", "eth0")
    check(r.returncode == 1 and "--nic eth0" in r.stderr and "not a PCI address" in r.stderr,
          "malformed address: exit 1 with the expected form (%r)" % r.stderr.strip())
    r = plan("--help")
    check(r.returncode == 0 and "--nic" in r.stdout and "PCI_ADDRESS" in r.stdout, "plan --help documents --nic")
    try:
        present = sorted(os.listdir(devices))
    except OSError:
        present = []
    if not present:
        print("SKIP: no PCI devices under %s to plan for" % devices)
        sys.exit(SKIP)

    def pci_class(a):
        try:
            with open(os.path.join(devices, a, "class")) as f:
                return int(f.read(), 16)
        except (OSError, ValueError):
            return 0
    # Prefer a network controller (class 0x02xxxx), e.g. the VM's virtio-net.
    dev = next((a for a in present if pci_class(a) >> 16 == 0x02), present[0])
    with open(os.path.join(devices, dev, "numa_node")) as f:
        node = int(f.read())
    r = plan("--nic", dev.upper().replace("0000:", ""))  # short, upper-case form is accepted too
    print(r.stdout)
    check(r.returncode == 0, "plan --nic %s exits 0 (%s)" % (dev, r.stderr.strip()))
    check(("nic: %s (" % dev) in r.stdout, "the device is named in canonical form")
    # Its kernel interfaces, found the other way round: /sys/class/net/<if>/device inside the device.
    real = os.path.realpath(os.path.join(devices, dev))
    netdevs = sorted(n for n in os.listdir("/sys/class/net")
                     if os.path.realpath(os.path.join("/sys/class/net", n, "device")).startswith(real + os.sep)
                     or os.path.realpath(os.path.join("/sys/class/net", n, "device")) == real)
    print("netdevs of %s: %s" % (dev, netdevs))
    for n in netdevs:
        check(("netdev %s" % n) in r.stdout, "its kernel interface %s is listed" % n)
    pipes = re.findall(r"^  pipeline \d+: cpu \d+ \(core \d+, node (\S+)\)$", r.stdout, re.M)
    check(len(pipes) >= 1, "placement lists the pipelines (%s)" % pipes)
    if node >= 0:
        check("NUMA node %d: pipelines placed there" % node in r.stdout, "sysfs NUMA node %d reported" % node)
        nodes = set(re.findall(r"node (\d+):", r.stdout.split("placement")[0]))
        if str(node) in nodes:
            check(all(p == str(node) for p in pipes), "pipelines on the NIC's node %d (%s)" % (node, pipes))
    else:
        check("NUMA node unknown" in r.stdout and "no node preference" in r.stdout,
              "sysfs numa_node -1 reported as unknown, no preference")
    # Without --nic, a dpdk config's profile names the device (eal.allow), as `sluice run` uses
    # it; a device the host does not have is reported, not fatal (plan only reads).
    if "backend dpdk" not in plan("--config", write_dpdk_config(tmp, dev)).stdout:
        print("SKIP: dpdk-from-profile case: this build has no DPDK")
        return
    r = plan("--config", write_dpdk_config(tmp, dev))
    check(r.returncode == 0 and ("nic: %s (from " % dev) in r.stdout,
          "the profile's eal.allow device is the NIC without --nic (%r)" % r.stdout[-400:])
    r = plan("--config", write_dpdk_config(tmp, absent))
    check(r.returncode == 0 and ("nic: %s from " % absent) in r.stdout and "no node preference" in r.stdout,
          "an absent eal.allow device is reported, plan goes on (%r %r)" % (r.stdout[:300], r.stderr))


def write_dpdk_config(tmp, pci):
    profile = os.path.join(tmp, "profile-%s.toml" % pci.replace(":", "_"))
    with open(profile, "w") as f:
        f.write('[eal]\nargs = ["--no-huge", "-m", "256"]\nallow = ["%s"]\n' % pci)
    config = os.path.join(tmp, "dpdk-%s.toml" % pci.replace(":", "_"))
    with open(config, "w") as f:
        f.write('[ingest]\nbackend = "dpdk"\ndpdk_profile = "%s"\n' % profile)
    return config


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("stat", "tmux", "dashboard", "tuning", "plan"):
        print(__doc__)
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="sluice-ops-") as tmp:
        {"stat": mode_stat, "tmux": mode_tmux, "dashboard": mode_dashboard, "tuning": mode_tuning,
         "plan": mode_plan}[sys.argv[1]](tmp)
    print("PASS")


if __name__ == "__main__":
    main()
