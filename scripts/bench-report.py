#!/usr/bin/python3
"""bench-report: every benchmark plus a stepped end-to-end load, written up in perf/report/.

  /usr/bin/python3 scripts/bench-report.py [--build build] [--out perf/report] [--quick]

1. Runs every build/perf/bench-* (options chosen from its --help to keep run times modest) and
   collects its last `RESULT {json}` line.
2. End to end, kernel-socket path: `sluice run` (temp config, loopback ports, temp data dir),
   `sluice gen` at stepped offered rates up to flat out; per step a fresh `sluice run` so the
   receive -> durable latency quantiles (cumulative in the process) belong to that step alone.
   Same steps through rsyslogd (imudp -> omfile, temp config and work dir). CPU from /proc.
3. Optional: the DPDK path (net_pcap replaying a `sluice gen --pcap` capture) through `sluice run`.
4. The DPDK path under the same stepped load: two network namespaces created here joined by a
   veth pair (link-local 169.254.0.0/16 only), `sluice run` with backend "dpdk" and
   dpdk-config/af_packet.toml (EAL --no-huge) on one end, `sluice gen` in the other namespace
   at each rate. One process for all steps; per-step latency quantiles come from the difference
   of two scrapes of the sluice_pipeline_durable_latency_seconds histogram. The namespaces are
   deleted in a finally block; when something here prevents the run, the report says why.
5. Writes report.md, results.json and PNG plots into --out.

Traffic only on loopback (DPDK replay: a pcap file) and inside the two namespaces this script
creates; every process started here is recorded by PID and stopped by that PID; every wait is
bounded.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # Popen objects started by this script (stopped by PID at exit)


# --- helpers ------------------------------------------------------------------------------------

def log(msg):
    print(f"[bench-report {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def spawn(argv, logpath):
    f = open(logpath, "wb")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    f.close()
    STARTED.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=60):
    """Stops one process we started, by its PID; returns its exit code (None if it had to be killed)."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            return None
    if p in STARTED:
        STARTED.remove(p)
    return p.returncode


def stop_all():
    for p in list(STARTED):
        stop(p, signal.SIGTERM, 20)


def proc_cpu_s(pid):
    """user + system CPU seconds of a process (all its threads) from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def udp_socket_drops(port):
    """Sum of the kernel's per-socket drop counters for UDP sockets bound to `port`."""
    total = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    c = line.split()
                    if int(c[1].split(":")[1], 16) == port:
                        total += int(c[-1])
        except (OSError, StopIteration):
            pass
    return total


def http_get(port, path, timeout=2.0):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.read().decode()
    except Exception:
        return None


def parse_metrics(text):
    out = {}
    for line in (text or "").splitlines():
        if not line or line[0] == "#":
            continue
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def msum(metrics, name, **want):
    return sum(v for labels, v in metrics.get(name, []) if all(labels.get(k) == w for k, w in want.items()))


def by_label(metrics, name, label):
    d = {}
    for labels, v in metrics.get(name, []):
        d[labels.get(label, "")] = d.get(labels.get(label, ""), 0) + v
    return d


def drops_between(m0, m1):
    """Events dropped between two scrapes, by reason (reasons with none left out)."""
    before = by_label(m0, "sluice_events_dropped_total", "reason")
    after = by_label(m1, "sluice_events_dropped_total", "reason")
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def last_result(text):
    for line in reversed(text.splitlines()):
        if line.startswith("RESULT "):
            try:
                return json.loads(line[len("RESULT "):])
            except json.JSONDecodeError:
                return None
    return None


def wait_settled(read, poll_s=0.1, quiet_s=0.6, limit_s=15.0):
    """Polls read() until it stops changing for quiet_s; returns (value, time of its last change)."""
    t_end = time.monotonic() + limit_s
    v = read()
    t_change = time.monotonic()
    while time.monotonic() < t_end:
        time.sleep(poll_s)
        n = read()
        now = time.monotonic()
        if n != v:
            v, t_change = n, now
        elif now - t_change >= quiet_s:
            break
    return v, t_change


def busy_cores(seconds=1.0):
    """Cores' worth of CPU busy (anything but idle/iowait) over `seconds`, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)
    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


# --- machine ------------------------------------------------------------------------------------

def machine_info(work_dir):
    info = {"kernel": platform.release(), "cores": os.cpu_count(), "busy_cores_start": busy_cores()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 1048576, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        src = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", work_dir], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        info["filesystem"] = src
        dev = src.split()[0] if src else ""
        out = subprocess.run(["lsblk", "-d", "-n", "-o", "NAME,MODEL,SIZE,ROTA,TYPE"], capture_output=True,
                             text=True, timeout=10).stdout
        disks = [" ".join(l.split()) for l in out.splitlines() if l.strip()]
        info["disks"] = disks
        base = os.path.basename(dev)
        info["disk_under_test"] = next((d for d in disks if base.startswith(d.split()[0])), dev or "unknown")
        sched = f"/sys/block/{info['disk_under_test'].split()[0]}/queue/scheduler"
        if os.path.exists(sched):
            info["io_scheduler"] = open(sched).read().strip()
    except Exception as e:  # noqa: BLE001 (best effort description)
        info["disk_error"] = str(e)
    return info


# --- 1. every benchmark executable --------------------------------------------------------------

# Options that keep each benchmark's run time modest; applied only when its --help lists them.
MODEST = {
    "bench-log": [("--seconds", "4")],
    "bench-kafka": [("--seconds", "3"), ("--fetch-bytes", str(512 << 20))],
    "bench-pipeline": [("--events", "800000"), ("--rate", "100000")],
    "bench-pipeline-dpdk": [("--seconds", "3")],
}
QUICK = {
    "bench-log": [("--seconds", "1")],
    "bench-kafka": [("--seconds", "1"), ("--fetch-bytes", str(64 << 20))],
    "bench-pipeline": [("--events", "100000"), ("--rate", "100000")],
    "bench-pipeline-dpdk": [("--seconds", "1")],
}


def run_benches(build, out, scratch, quick):
    results = {}
    perf = os.path.join(build, "perf")
    names = sorted(n for n in os.listdir(perf) if n.startswith("bench-")) if os.path.isdir(perf) else []
    for name in names:
        exe = os.path.join(perf, name)
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            continue
        h = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
        help_text = h.stdout + h.stderr
        argv = [exe]
        if "--dir" in help_text:
            d = os.path.join(scratch, name)
            os.makedirs(d, exist_ok=True)
            argv += ["--dir", d]
        for opt, val in (QUICK if quick else MODEST).get(name, []):
            if opt in help_text:
                argv += [opt, val]
        log(f"{name}: {' '.join(argv[1:])}")
        t0 = time.monotonic()
        logpath = os.path.join(out, "logs", name + ".log")
        p = spawn(argv, logpath)
        try:
            p.wait(timeout=300)
        except subprocess.TimeoutExpired:
            pass
        rc = stop(p, signal.SIGTERM, 20) if p.poll() is None else p.returncode
        if p in STARTED:
            STARTED.remove(p)
        text = open(logpath, errors="replace").read()
        r = last_result(text)
        results[name] = {"argv": " ".join([name] + argv[1:]).replace(scratch, "$SCRATCH"), "rc": rc, "seconds": round(time.monotonic() - t0, 1),
                         "result": r}
        log(f"{name}: rc {rc}, {results[name]['seconds']} s, RESULT {'found' if r else 'MISSING'}")
        shutil.rmtree(os.path.join(scratch, name), ignore_errors=True)
    return results


# --- 2. stepped end-to-end load -----------------------------------------------------------------

SLUICE_CFG = """data_dir = "{data}"
[ingest]
address = "127.0.0.1"
cores = 1
{ingest_extra}
[flush]
interval_ms = {flush_ms}
[kafka]
listen = "127.0.0.1:{kafka}"
[admin]
listen = "127.0.0.1:{admin}"
[[topic]]
name = "sensors"
port = {udp}
partitions = 8
key = "/sensor_id"
require = ["/sensor_id"]
timestamp = "/time_epoch"
"""


def start_sluice(sluice, work, tag, ingest_extra="", address="127.0.0.1", udp=None, flush_ms=5):
    udp = udp or free_port(socket.SOCK_DGRAM)
    kafka, admin = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    data = os.path.join(work, f"data-{tag}")
    cfg = os.path.join(work, f"sluice-{tag}.toml")
    with open(cfg, "w") as f:
        f.write(SLUICE_CFG.format(data=data, kafka=kafka, admin=admin, udp=udp, flush_ms=flush_ms,
                                  ingest_extra=ingest_extra).replace('address = "127.0.0.1"\ncores',
                                                                     f'address = "{address}"\ncores'))
    p = spawn([sluice, "run", "--config", cfg], os.path.join(work, f"run-{tag}.log"))
    for _ in range(150):  # <= ~15 s
        if p.poll() is not None:
            break
        if http_get(admin, "/metrics"):
            return p, udp, admin, data
        time.sleep(0.1)
    stop(p, signal.SIGKILL, 5)
    return None, udp, admin, data


def run_gen(sluice, port, rate, seconds, logpath, extra=()):
    argv = [sluice, "gen", "--target", f"127.0.0.1:{port}", "--rate", str(rate), "--duration-s", str(seconds),
            *extra]
    return run_gen_argv(argv, seconds, logpath)


def run_gen_argv(argv, seconds, logpath):
    """Runs a `sluice gen` command line, appends its output to logpath; (its closing JSON summary
    or None, wall seconds)."""
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    with open(logpath, "a") as f:
        f.write(" ".join(argv) + "\n" + r.stdout + r.stderr)
    g = None
    for line in reversed(r.stdout.splitlines()):
        try:
            g = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    return g, time.monotonic() - t0


def step_sluice(sluice, work, rate, seconds, idx):
    tag = f"step{idx}"
    p, udp, admin, data = start_sluice(sluice, work, tag)
    if p is None:
        return {"rate": rate, "error": f"sluice run did not start (see {work}/run-{tag}.log)"}
    try:
        m0 = parse_metrics(http_get(admin, "/metrics"))
        c0, k0, t0 = proc_cpu_s(p.pid), udp_socket_drops(udp), time.monotonic()
        g, gen_s = run_gen(sluice, udp, rate, seconds, os.path.join(work, "gen.log"))

        def read():
            m = parse_metrics(http_get(admin, "/metrics"))
            return (msum(m, "sluice_events_stored_total"), msum(m, "sluice_events_received_total"),
                    msum(m, "sluice_events_in_flight"))
        _, t_last = wait_settled(read)
        m1 = parse_metrics(http_get(admin, "/metrics"))
        c1, k1 = proc_cpu_s(p.pid), udp_socket_drops(udp)
    finally:
        rc = stop(p, signal.SIGTERM, 60)
    shutil.rmtree(data, ignore_errors=True)
    sent = (g or {}).get("events", 0)
    d = lambda name: msum(m1, name) - msum(m0, name)  # noqa: E731
    stored, received = d("sluice_events_stored_total"), d("sluice_events_received_total")
    drops = drops_between(m0, m1)
    rejected = d("sluice_events_rejected_total")
    wall = max(t_last - t0, gen_s, 1e-3)
    cpu = (c1 - c0) if c0 is not None and c1 is not None else None
    q = {lab.get("quantile"): v for lab, v in m1.get("sluice_pipeline_durable_latency_us", [])}
    return {
        "rate": rate, "sent": sent, "gen_s": round(gen_s, 3), "offered_per_s": sent / gen_s if gen_s else 0,
        "received": received, "stored": stored, "rejected": rejected, "dropped_in_sluice": drops,
        "kernel_socket_drops": k1 - k0, "lost": max(sent - stored, 0), "loss_frac": (sent - stored) / sent if sent else 0,
        "stored_per_s": stored / max(gen_s, 1e-3), "wall_s": round(wall, 3), "cpu_s": cpu,
        "cpu_s_per_million": cpu / (stored / 1e6) if cpu is not None and stored else None,
        "cpu_util": cpu / wall if cpu is not None else None,
        "p50_us": q.get("0.5"), "p99_us": q.get("0.99"), "p999_us": q.get("0.999"), "exit_code": rc,
    }


RSYSLOG_CFG = """global(workDirectory="{work}")
module(load="imudp" threads="1")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{out}" template="raw")
"""


class line_counter:
    def __init__(self, path):
        self.path, self.pos, self.n = path, 0, 0

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    self.n += b.count(b"\n")
                    self.pos += len(b)
        except FileNotFoundError:
            pass
        return self.n


def steps_rsyslog(sluice, work, rates, seconds):
    rsyslogd = "/usr/sbin/rsyslogd"
    if not os.access(rsyslogd, os.X_OK):
        return [], "rsyslogd not installed (scripts/install-deps.sh installs rsyslog)"
    rwork = os.path.join(work, "rsyslog")
    os.makedirs(rwork, exist_ok=True)
    udp = free_port(socket.SOCK_DGRAM)
    out = os.path.join(rwork, "out.log")
    conf = os.path.join(rwork, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(RSYSLOG_CFG.format(work=rwork, udp=udp, out=out))
    p = spawn([rsyslogd, "-n", "-f", conf, "-i", os.path.join(rwork, "rsyslog.pid")],
              os.path.join(rwork, "rsyslogd.log"))
    time.sleep(1.0)
    if p.poll() is not None:
        return [], f"rsyslogd exited at start-up (see {rwork}/rsyslogd.log)"
    lines = line_counter(out)
    steps = []
    try:
        for rate in rates:
            n0, c0, k0, t0 = lines(), proc_cpu_s(p.pid), udp_socket_drops(udp), time.monotonic()
            g, gen_s = run_gen(sluice, udp, rate, seconds, os.path.join(work, "gen-rsyslog.log"))
            n1, t_last = wait_settled(lines, quiet_s=0.8)
            c1, k1 = proc_cpu_s(p.pid), udp_socket_drops(udp)
            sent = (g or {}).get("events", 0)
            stored = n1 - n0
            wall = max(t_last - t0, gen_s, 1e-3)
            cpu = c1 - c0
            steps.append({"rate": rate, "sent": sent, "gen_s": round(gen_s, 3),
                          "offered_per_s": sent / gen_s if gen_s else 0, "stored": stored,
                          "kernel_socket_drops": k1 - k0, "lost": max(sent - stored, 0),
                          "loss_frac": (sent - stored) / sent if sent else 0, "stored_per_s": stored / max(gen_s, 1e-3),
                          "wall_s": round(wall, 3), "cpu_s": cpu,
                          "cpu_s_per_million": cpu / (stored / 1e6) if stored else None, "cpu_util": cpu / wall})
            log(f"  rsyslog rate {rate or 'flat out'}: sent {sent}, written {stored}, "
                f"{steps[-1]['stored_per_s']:.0f}/s, CPU {cpu:.2f} s")
    finally:
        stop(p, signal.SIGTERM, 30)
    return steps, None


def drop_point(steps, threshold=0.01):
    """First step whose loss exceeds threshold of what was offered (None: no such step)."""
    for s in steps:
        if s.get("sent") and s["loss_frac"] > threshold:
            return s
    return None


# --- 3. DPDK path (optional) --------------------------------------------------------------------

DPDK_PROFILE = """[eal]
args = ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix", "{prefix}",
        "--log-level", "lib.eal:warning"]
vdevs = ["net_pcap0,rx_pcap={pcap},infinite_rx=1"]
[port]
rx_descriptors = 1024
tx_descriptors = 256
rss = false
[mempool]
mbufs = {mbufs}
cache = 256
[rx]
burst = 32
"""


def dpdk_path(sluice, work, seconds, packets):
    res = []
    for batch in (1, 10):
        tag = f"dpdk{batch}"
        prefix = f"sluice-report-{os.getpid()}-{tag}"  # EAL --file-prefix: /var/run/dpdk/<prefix>
        pcap = os.path.join(work, f"{tag}.pcap")
        udp = free_port(socket.SOCK_DGRAM)
        r = subprocess.run([sluice, "gen", "--pcap", pcap, "--target", f"127.0.0.1:{udp}", "--count",
                            str(packets * batch), "--batch", str(batch)], capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not os.path.exists(pcap):
            return res, f"sluice gen --pcap failed: {r.stderr.strip()[:200]}"
        prof = os.path.join(work, f"{tag}.toml")
        with open(prof, "w") as f:
            f.write(DPDK_PROFILE.format(prefix=prefix, pcap=pcap, mbufs=max(16384, packets * 2 + 8192)))
        extra = f'backend = "dpdk"\ndpdk_profile = "{prof}"'
        p, _, admin, data = start_sluice(sluice, work, tag, ingest_extra=extra, address="169.254.0.2", udp=udp)
        if p is None:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
            tail = open(os.path.join(work, f"run-{tag}.log"), errors="replace").read()[-400:]
            return res, f"sluice run with the net_pcap profile did not start: {tail.strip()}"
        try:
            time.sleep(1.0)  # warm-up
            m0 = parse_metrics(http_get(admin, "/metrics"))
            c0, t0 = proc_cpu_s(p.pid), time.monotonic()
            time.sleep(seconds)
            m1 = parse_metrics(http_get(admin, "/metrics"))
            c1, t1 = proc_cpu_s(p.pid), time.monotonic()
        finally:
            rc = stop(p, signal.SIGTERM, 60)
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
        d = lambda name: msum(m1, name) - msum(m0, name)  # noqa: E731
        stored, received = d("sluice_events_stored_total"), d("sluice_events_received_total")
        dropped = d("sluice_events_dropped_total")
        reasons = {k: int(v) for k, v in drops_between(m0, m1).items()}
        cpu = c1 - c0
        q = {lab.get("quantile"): v for lab, v in m1.get("sluice_pipeline_durable_latency_us", [])}
        res.append({"events_per_packet": batch, "received_per_s": received / (t1 - t0),
                    "stored_per_s": stored / (t1 - t0), "dropped_per_s": dropped / (t1 - t0),
                    "drop_reasons": reasons, "cpu_s_per_million": cpu / (stored / 1e6) if stored else None, "cpu_util": cpu / (t1 - t0),
                    "p50_us": q.get("0.5"), "p99_us": q.get("0.99"), "exit_code": rc})
        log(f"  dpdk {batch}/packet: stored {stored / (t1 - t0):.0f}/s, received {received / (t1 - t0):.0f}/s")
        if stored == 0:
            return res, "the DPDK run stored nothing (see the run log)"
    return res, None


# --- 3b. DPDK path over a veth pair between two network namespaces (stepped load) ---------------

VETH_DP_ADDR = "169.254.0.1"   # answered by sluice (DPDK ARP/ICMP responder); no kernel address
VETH_GEN_ADDR = "169.254.0.2"  # the generator's kernel address in the other namespace
VETH_UDP_PORT = 5140

# Runs inside the receiver's namespace: one URL per input line -> one JSON-encoded body (or null).
NS_HTTP_HELPER = r"""
import json, sys, urllib.request
for line in sys.stdin:
    try:
        with urllib.request.urlopen(line.strip(), timeout=2) as r:
            body = r.read().decode()
    except Exception:
        body = None
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()
"""


def softnet_drops():
    """Packets the kernel dropped from full per-CPU backlogs (/proc/net/softnet_stat, column 2, all
    CPUs; host-wide: a veth hands its frames to the peer through this backlog)."""
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(line.split()[1], 16) for line in f if line.strip())
    except (OSError, ValueError, IndexError):
        return None


def run_cmd(argv, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class veth_namespaces:
    """Namespace `rx` holds veth-dp (no address: DPDK's net_af_packet sits on it and sluice answers
    ARP for VETH_DP_ADDR), namespace `tx` its peer veth-gen with VETH_GEN_ADDR/16. Only link-local
    addresses, never anything else; close() deletes both namespaces (and with them the pair)."""

    def __init__(self):
        tag = f"sluice-br-{os.getpid()}"
        self.rx, self.tx = tag + "-rx", tag + "-tx"
        self.created = []
        self.checksums_complete = False

    def setup(self):
        """None on success, else why not."""
        for ns in (self.rx, self.tx):
            r = run_cmd(["ip", "netns", "add", ns])
            if r.returncode != 0:
                return f"ip netns add {ns}: {r.stderr.strip()}"
            self.created.append(ns)
        for argv in (["ip", "-n", self.rx, "link", "add", "veth-dp", "type", "veth", "peer", "name", "veth-gen",
                      "netns", self.tx],
                     ["ip", "netns", "exec", self.rx, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                     ["ip", "netns", "exec", self.tx, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                     ["ip", "-n", self.rx, "link", "set", "lo", "up"],
                     ["ip", "-n", self.tx, "link", "set", "lo", "up"],
                     ["ip", "-n", self.rx, "link", "set", "veth-dp", "up"],
                     ["ip", "-n", self.tx, "link", "set", "veth-gen", "up"],
                     ["ip", "-n", self.tx, "addr", "add", VETH_GEN_ADDR + "/16", "dev", "veth-gen"]):
            r = run_cmd(argv)
            if r.returncode != 0:
                return f"{' '.join(argv)}: {r.stderr.strip()}"
        # GRO off (af_packet frames must fit framesz); TX checksum offload off on the sender, or
        # veth hands AF_PACKET frames whose UDP checksum is not filled in (CHECKSUM_PARTIAL).
        if shutil.which("ethtool"):
            run_cmd(["ip", "netns", "exec", self.rx, "ethtool", "-K", "veth-dp", "gro", "off"])
            run_cmd(["ip", "netns", "exec", self.tx, "ethtool", "-K", "veth-gen", "gro", "off"])
            r = run_cmd(["ip", "netns", "exec", self.tx, "ethtool", "-K", "veth-gen", "tx", "off"])
            self.checksums_complete = r.returncode == 0
        return None

    def link_drops(self):
        """Packets the veth pair dropped: veth-gen TX + veth-dp RX (kernel link counters)."""
        total = 0
        for ns, dev, key in ((self.tx, "veth-gen", "tx"), (self.rx, "veth-dp", "rx")):
            r = run_cmd(["ip", "-n", ns, "-s", "-j", "link", "show", dev])
            try:
                total += json.loads(r.stdout)[0]["stats64"][key]["dropped"]
            except (ValueError, KeyError, IndexError, TypeError):
                return None
        return total

    def close(self):
        for ns in reversed(self.created):
            run_cmd(["ip", "netns", "del", ns])
        self.created = []


class ns_http:
    """GETs on the loopback of a namespace through one helper process living there."""

    def __init__(self, ns, logpath):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-u", "-c", NS_HTTP_HELPER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(logpath, "wb"),
                                  text=True)
        STARTED.append(self.p)

    def get(self, port, path, timeout=4.0):
        import select
        if self.p.poll() is not None:
            return None
        try:
            self.p.stdin.write(f"http://127.0.0.1:{port}{path}\n")
            self.p.stdin.flush()
        except OSError:
            return None
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.p.stdout.readline()
        try:
            return json.loads(line) if line else None
        except json.JSONDecodeError:
            return None

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        stop(self.p, signal.SIGTERM, 10)


def hist_quantiles(m0, m1, name, qs=(0.5, 0.99, 0.999)):
    """Quantiles (µs, upper bound of the bucket holding them) of what a histogram counted between
    two scrapes, by the gauge's rule (rank = q * (n - 1) + 1); {} when nothing was counted."""
    def cum(m):
        return {lab.get("le"): v for lab, v in m.get(name + "_bucket", [])}
    b0, b1 = cum(m0), cum(m1)
    les = sorted((le for le in b1 if le != "+Inf"), key=float) + ["+Inf"]
    n = b1.get("+Inf", 0) - b0.get("+Inf", 0)
    if n <= 0:
        return {}
    out = {}
    for q in qs:
        rank = int(q * (n - 1)) + 1
        le = next((le for le in les if b1.get(le, 0) - b0.get(le, 0) >= rank), "+Inf")
        out[q] = float(le) * 1e6 if le != "+Inf" else None
    return out


def veth_profile(work, prefix, checksums_complete):
    """dpdk-config/af_packet.toml with its vdev on veth-dp and a file prefix of its own."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dpdk-config", "af_packet.toml")
    with open(src) as f:
        text = f.read()
    if "iface=eth1" not in text or '"--file-prefix", "sluice-af-packet"' not in text:
        raise RuntimeError(f"{src} no longer has iface=eth1 / --file-prefix sluice-af-packet to substitute")
    text = text.replace("iface=eth1", "iface=veth-dp").replace(
        '"--file-prefix", "sluice-af-packet"', f'"--file-prefix", "{prefix}"')
    if not checksums_complete:  # no ethtool: the sender's frames carry partial checksums
        text = text.replace("[port]\n", "[port]\nverify_udp_checksum = false\n", 1)
    path = os.path.join(work, "veth-af_packet.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def steps_dpdk_veth(sluice, work, rates, seconds, limit_s=420.0):
    """Returns (steps, note). note says why the path did not run (or stopped early); steps may be
    partial. Everything it creates is removed before it returns."""
    if os.geteuid() != 0:
        return [], "needs root (network namespaces, AF_PACKET); run bench-report as root"
    if not shutil.which("ip"):
        return [], "iproute2 `ip` not found (scripts/install-deps.sh installs iproute2)"
    t_end = time.monotonic() + limit_s
    vwork = os.path.join(work, "veth")
    os.makedirs(vwork, exist_ok=True)
    ns = veth_namespaces()
    prefix = f"sluice-report-{os.getpid()}-veth"
    p = http = None
    steps, note = [], None
    try:
        why = ns.setup()
        if why:
            return [], f"cannot create the namespaces / veth pair: {why}"
        prof = veth_profile(vwork, prefix, ns.checksums_complete)
        kafka, admin = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)  # in the rx namespace
        data = os.path.join(vwork, "data")
        cfg = os.path.join(vwork, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(SLUICE_CFG.format(data=data, kafka=kafka, admin=admin, udp=VETH_UDP_PORT, flush_ms=5,
                                      ingest_extra=f'backend = "dpdk"\ndpdk_profile = "{prof}"').replace(
                'address = "127.0.0.1"\ncores', f'address = "{VETH_DP_ADDR}"\ncores'))
        runlog = os.path.join(vwork, "run-dpdk-veth.log")
        # `ip netns exec` execs the command: the PID is sluice's own (checked below).
        p = spawn(["ip", "netns", "exec", ns.rx, sluice, "run", "--config", cfg], runlog)
        http = ns_http(ns.rx, os.path.join(vwork, "http-helper.log"))
        up = False
        for _ in range(200):  # <= ~20 s (EAL start-up included)
            if p.poll() is not None:
                break
            if http.get(admin, "/metrics"):
                up = True
                break
            time.sleep(0.1)
        if not up:
            tail = open(runlog, errors="replace").read()[-500:].strip()
            return [], f"sluice run with backend dpdk (af_packet on the veth) did not start: {tail}"
        try:
            comm = open(f"/proc/{p.pid}/comm").read().strip()
        except OSError:
            comm = "?"
        cpu_pid = p.pid if comm == "sluice" else None

        def scrape():
            return parse_metrics(http.get(admin, "/metrics"))

        def gen(rate, secs, count=None):
            argv = ["ip", "netns", "exec", ns.tx, sluice, "gen", "--target", f"{VETH_DP_ADDR}:{VETH_UDP_PORT}",
                    "--rate", str(rate)]
            argv += ["--count", str(count)] if count else ["--duration-s", str(secs)]
            return run_gen_argv(argv, secs, os.path.join(vwork, "gen-veth.log"))

        def read():
            m = scrape()
            return (msum(m, "sluice_events_stored_total"), msum(m, "sluice_events_received_total"),
                    msum(m, "sluice_events_in_flight"))

        def settle(limit_s=30.0):
            """Until nothing is in flight and nothing new arrives (a long fdatasync on a shared disk can
            freeze the counters for longer than wait_settled's quiet time); bounded. Returns the time of
            the last change."""
            t_last, t_stop = time.monotonic(), time.monotonic() + limit_s
            prev = read()
            while time.monotonic() < t_stop:
                time.sleep(0.1)
                cur = read()
                if cur != prev:
                    prev, t_last = cur, time.monotonic()
                elif cur[2] == 0 and time.monotonic() - t_last >= 0.6:
                    break
            return t_last

        # Warm-up: the generator's kernel must learn sluice's MAC (ARP answered by the DPDK side).
        gen(1000, 1, count=200)
        neigh = run_cmd(["ip", "-n", ns.tx, "neigh", "show", VETH_DP_ADDR]).stdout
        if "lladdr" not in neigh:
            return [], (f"sluice (DPDK) did not answer ARP for {VETH_DP_ADDR} on the veth "
                        f"(neighbour: {neigh.strip() or 'none'}; see logs/run-dpdk-veth.log)")
        settle()  # the warm-up's events durable before the first step's scrape
        if msum(scrape(), "sluice_events_stored_total") == 0:
            return [], "warm-up events reached the veth but none was stored (see logs/run-dpdk-veth.log)"
        for rate in rates:
            if time.monotonic() + seconds + 20 > t_end:
                note = f"stopped after {len(steps)} step(s): the {limit_s:.0f} s budget of this part ran out"
                break
            m0 = scrape()
            c0 = proc_cpu_s(cpu_pid) if cpu_pid else None
            l0, a0, t0 = ns.link_drops(), softnet_drops(), time.monotonic()
            g, gen_s = gen(rate, seconds)
            t_last = settle()
            m1 = scrape()
            c1 = proc_cpu_s(cpu_pid) if cpu_pid else None
            l1, a1 = ns.link_drops(), softnet_drops()
            if not m1:
                note = f"admin endpoint stopped answering at rate {rate} (see logs/run-dpdk-veth.log)"
                break
            sent = (g or {}).get("events", 0)
            d = lambda name: msum(m1, name) - msum(m0, name)  # noqa: E731
            stored, received = d("sluice_events_stored_total"), d("sluice_events_received_total")
            drops = drops_between(m0, m1)
            wall = max(t_last - t0, gen_s, 1e-3)
            cpu = (c1 - c0) if c0 is not None and c1 is not None else None
            q = hist_quantiles(m0, m1, "sluice_pipeline_durable_latency_seconds")
            fq = hist_quantiles(m0, m1, "sluice_fsync_latency_seconds", qs=(0.99,))
            steps.append({
                "rate": rate, "sent": sent, "gen_s": round(gen_s, 3), "offered_per_s": sent / gen_s if gen_s else 0,
                "received": received, "stored": stored, "rejected": d("sluice_events_rejected_total"),
                "dropped_in_sluice": drops,
                "veth_drops": (l1 - l0) if l0 is not None and l1 is not None else None,
                "backlog_drops": (a1 - a0) if a0 is not None and a1 is not None else None,
                "lost": max(sent - stored, 0), "loss_frac": (sent - stored) / sent if sent else 0,
                "stored_per_s": stored / max(gen_s, 1e-3), "wall_s": round(wall, 3), "cpu_s": cpu,
                "cpu_s_per_million": cpu / (stored / 1e6) if cpu is not None and stored else None,
                "cpu_util": cpu / wall if cpu is not None else None,
                "p50_us": q.get(0.5), "p99_us": q.get(0.99), "p999_us": q.get(0.999),
                "latency_events": d("sluice_pipeline_durable_latency_seconds_count"),
                "in_flight_after": msum(m1, "sluice_events_in_flight"), "fsync_p99_us": fq.get(0.99)})
            s_ = steps[-1]
            s_["kernel_socket_drops"] = (None if s_["veth_drops"] is None or s_["backlog_drops"] is None
                                         else s_["veth_drops"] + s_["backlog_drops"])
            log(f"  dpdk/veth rate {rate or 'flat out'}: sent {sent}, stored {stored:.0f}, "
                f"{s_['stored_per_s']:.0f}/s, veth drops {s_['veth_drops']}, backlog drops "
                f"{s_['backlog_drops']}, sluice drops {drops or 0}, fdatasync p99 {s_['fsync_p99_us']} us, "
                f"CPU {cpu if cpu is None else round(cpu, 2)} s, p99 {s_['p99_us']} us")
        if cpu_pid is None:
            note = ((note + "; ") if note else "") + f"CPU not measured (PID {p.pid} is {comm!r}, not sluice)"
        if not ns.checksums_complete:
            note = ((note + "; ") if note else "") + ("ethtool missing: UDP checksums not verified "
                                                      "(port.verify_udp_checksum = false)")
        return steps, note
    finally:
        if http:
            http.close()
        if p is not None:
            rc = stop(p, signal.SIGTERM, 60)
            if steps and rc not in (0, None):
                steps[-1]["exit_code"] = rc
        ns.close()
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        shutil.rmtree(os.path.join(vwork, "data"), ignore_errors=True)


# --- 4. report ----------------------------------------------------------------------------------

def fmt_num(v, nd=0, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, (int, float)):
        if abs(v) >= 1e6 and nd == 0:
            return f"{v / 1e6:.2f} M{unit}"
        return f"{v:,.{nd}f}{unit}"
    return str(v)


def kernel_drops_cell(s):
    """Kernel-side drops of a step: the socket's counter, or for DPDK/veth the link and ring counters."""
    if "backlog_drops" in s:
        return f"veth {fmt_num(s.get('veth_drops'))}, backlog {fmt_num(s.get('backlog_drops'))}"
    return fmt_num(s.get("kernel_socket_drops"))


def verdict(ok):
    return "n/a" if ok is None else ("**pass**" if ok else "**MISS**")


def target_rows(benches, e2e_ratio):
    rows = []

    def res(name):
        return (benches.get(name) or {}).get("result") or {}

    r = res("bench-log")
    if r:
        flush_us = r.get("flush_interval_ms", 5) * 1000
        ratio = r.get("ratio")
        rows.append(("bench-log", "append GB/s vs fio (io_uring O_DIRECT seq)",
                     f"{fmt_num(r.get('gbps'), 3)} vs {fmt_num(r.get('fio_gbps'), 3)}",
                     fmt_num(ratio, 3), "≥ 0.85", verdict(None if ratio is None else ratio >= 0.85)))
        if r.get("fio_durable_gbps") is not None:
            # Context, not a target: the same fio job with an fdatasync every partitions x
            # flush.bytes (a write-back cache under the disk makes plain fio far faster).
            rows.append(("bench-log", f"append GB/s vs fio + fdatasync every "
                         f"{r.get('fio_durable_sync_every_mib', '?')} MiB (durable reference)",
                         f"{fmt_num(r.get('gbps'), 3)} vs {fmt_num(r.get('fio_durable_gbps'), 3)}",
                         fmt_num(r.get("ratio_durable"), 3), "(context)", ""))
        if r.get("ratio_ceiling") is not None:
            # Context: durable fio syncing only every 256 MiB over plain fio. Below 0.85 the
            # ratio target cannot be met on this disk by any log that syncs every interval.
            rows.append(("bench-log", "durable ceiling: fio + fdatasync every 256 MiB vs plain fio",
                         f"{fmt_num(r.get('fio_durable_max_gbps'), 3)} vs {fmt_num(r.get('fio_gbps'), 3)}",
                         fmt_num(r.get("ratio_ceiling"), 3), "(context)", ""))
        p99 = r.get("p99_durable_us")
        rows.append(("bench-log", f"p99 append → durable at {r.get('latency_load', '?')} load",
                     f"{fmt_num(p99)} µs (p50 {fmt_num(r.get('p50_durable_us'))} µs)",
                     f"{p99 / flush_us:.2f} × flush" if p99 is not None else "n/a",
                     f"≤ 2 × flush ({2 * flush_us} µs)", verdict(None if p99 is None else p99 <= 2 * flush_us)))
    r = res("bench-pipeline-dpdk")
    if r:
        for key, label, tgt in (("one_per_packet", "1 event/packet", 0.5), ("ten_per_packet", "10 events/packet", 0.7)):
            c = r.get(key) or {}
            ratio = c.get("ratio")
            # The bench's reference: the faster of iterate_many and per-document iterate (1/packet),
            # iterate_many (10/packet).
            ref = max(c.get("ref_iterate_many_events_per_s") or 0, c.get("ref_iterate_events_per_s") or 0)
            rows.append(("bench-pipeline-dpdk", f"pipeline core events/s, {label}, vs simdjson On Demand (best of "
                         f"{'iterate_many, iterate' if key == 'one_per_packet' else 'iterate_many'}), same core",
                         f"{fmt_num(c.get('events_per_s'))} vs {fmt_num(ref or None)}",
                         fmt_num(ratio, 3), f"≥ {tgt}", verdict(None if not ratio else ratio >= tgt)))
    r = res("bench-pipeline")
    if r:
        ratio = r.get("ratio_sluice_to_reference")
        rows.append(("bench-pipeline", f"CPU-s per million, sluice run vs rsyslog at {fmt_num(r.get('rate'))}/s",
                     f"{fmt_num(r.get('sluice_cpu_s_per_million'), 3)} vs {fmt_num(r.get('reference_cpu_s_per_million'), 3)}",
                     fmt_num(ratio, 3), "≤ 0.75", verdict(None if ratio is None else ratio <= 0.75)))
    if e2e_ratio is not None:
        ratio, detail = e2e_ratio
        rows.append(("end-to-end (this report)", "CPU-s per million stored vs rsyslog, busiest step both lossless",
                     detail, fmt_num(ratio, 3), "≤ 0.75", verdict(ratio <= 0.75)))
    r = res("bench-kafka")
    if r:
        fr = r.get("fetch_ratio")
        rows.append(("bench-kafka", "best Fetch GB/s (1 or 4 partitions/request) vs loopback iperf3",
                     f"{fmt_num(max(r.get('fetch_gbps_1p') or 0, r.get('fetch_gbps_4p') or 0), 3)} vs "
                     f"{fmt_num(r.get('iperf3_gbps'), 3)} (1 partition {fmt_num(r.get('fetch_gbps_1p'), 3)}, "
                     f"4 partitions {fmt_num(r.get('fetch_gbps_4p'), 3)}, kcat {fmt_num(r.get('kcat_gbps'), 3)})",
                     fmt_num(fr, 3), "≥ 0.5", verdict(None if fr is None else fr >= 0.5)))
        pr = r.get("produce_ratio")
        rows.append(("bench-kafka", "librdkafka produce GB/s vs log append (value bytes)",
                     f"{fmt_num(r.get('produce_gbps'), 3)} vs {fmt_num(r.get('log_append_gbps'), 3)}",
                     fmt_num(pr, 3), "≥ 0.6", verdict(None if pr is None else pr >= 0.6)))
    return rows


def e2e_cpu_ratio(sl, rs):
    """sluice / rsyslog CPU-s per million at the highest rate both stored >= 99% of (the busiest
    comparable step; at low rates fixed per-second costs dominate both), with every step's ratio."""
    pairs = []
    for a, b in zip(sl, rs):
        if a.get("rate") == b.get("rate") and a.get("rate") and a.get("loss_frac", 1) <= 0.01 \
                and b.get("loss_frac", 1) <= 0.01 and a.get("cpu_s_per_million") and b.get("cpu_s_per_million"):
            pairs.append((a["rate"], a["cpu_s_per_million"], b["cpu_s_per_million"]))
    if not pairs:
        return None
    rate, a, b = pairs[-1]
    steps = ", ".join(f"{p[1] / p[2]:.2f} at {p[0] / 1e3:.0f}k" for p in pairs)
    return a / b, f"{a:.3f} vs {b:.3f} at {fmt_num(rate)}/s (every lossless step: {steps})"


def plots(out, sl, rs, dp, dpdk, vs=(), veth_note=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    files = {}

    def x(steps):
        return [s["offered_per_s"] / 1e3 for s in steps]
    sl = sorted(sl, key=lambda s: s["offered_per_s"])
    rs = sorted(rs, key=lambda s: s["offered_per_s"])
    vs = sorted(vs or [], key=lambda s: s["offered_per_s"])
    rdp = drop_point(rs)
    vdp = drop_point(vs)

    # Throughput vs offered load.
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    if sl:
        ax.plot(x(sl), [s["stored_per_s"] / 1e3 for s in sl], "o-", label="sluice run (kernel sockets): stored/s")
    if rs:
        ax.plot(x(rs), [s["stored_per_s"] / 1e3 for s in rs], "s--", label="rsyslog imudp→omfile: written/s")
    if vs:
        ax.plot(x(vs), [s["stored_per_s"] / 1e3 for s in vs], "^-", color="green",
                label="sluice run (DPDK af_packet, veth between namespaces): stored/s")
    if vdp:
        ax.axvline(vdp["offered_per_s"] / 1e3, color="green", alpha=0.5, linestyle="-.",
                   label=f"DPDK/veth drops start ({vdp['loss_frac'] * 100:.1f}% lost at "
                         f"{vdp['offered_per_s'] / 1e3:.0f}k/s)")
    elif veth_note and not vs:
        ax.text(0.01, 0.72, "DPDK over veth not measured: " + veth_note[:90], transform=ax.transAxes,
                fontsize=7, color="green", va="top")
    allx = x(sl) + x(rs) + x(vs)
    if allx:
        m = max(allx)
        ax.plot([0, m], [0, m], ":", color="grey", label="stored = offered")
    if dp:
        ax.axvline(dp["offered_per_s"] / 1e3, color="red", alpha=0.6)
        ax.annotate(f"sluice drops start\n({dp['loss_frac'] * 100:.1f}% lost at {dp['offered_per_s'] / 1e3:.0f}k/s)",
                    (dp["offered_per_s"] / 1e3, dp["stored_per_s"] / 1e3), textcoords="offset points",
                    xytext=(-150, 30), color="red", arrowprops={"arrowstyle": "->", "color": "red"})
    if rdp:
        ax.axvline(rdp["offered_per_s"] / 1e3, color="darkorange", alpha=0.6, linestyle="--")
        ax.annotate(f"rsyslog drops start\n({rdp['loss_frac'] * 100:.1f}% lost at {rdp['offered_per_s'] / 1e3:.0f}k/s)",
                    (rdp["offered_per_s"] / 1e3, rdp["stored_per_s"] / 1e3), textcoords="offset points",
                    xytext=(40, -60), color="darkorange", arrowprops={"arrowstyle": "->", "color": "darkorange"})
    if dpdk:
        ax.text(0.99, 0.02, "DPDK path (net_pcap replay, off this scale): " +
                ", ".join(f"{d['stored_per_s'] / 1e6:.2f} M/s at {d['events_per_packet']}/packet" for d in dpdk),
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="green")
    ax.set_xlabel("offered load (thousand events/s, 1 event per datagram)")
    ax.set_ylabel("thousand events/s stored")
    ax.set_title("Throughput vs offered load (sluice gen: loopback; DPDK: veth pair)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    files["throughput"] = "throughput.png"
    fig.savefig(os.path.join(out, files["throughput"]))
    plt.close(fig)

    # Latency vs offered load.
    lat = [s for s in sl if s.get("p50_us")]
    if lat or any(s.get("p50_us") for s in vs):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        for key, style, label in (("p50_us", "o-", "p50"), ("p99_us", "s-", "p99"), ("p999_us", "^--", "p99.9")):
            ax.plot(x(lat), [s.get(key) / 1e3 if s.get(key) else None for s in lat], style, label=label)
        vl = [s for s in vs if s.get("p50_us")]
        if vl:
            for key, style, label in (("p50_us", "o:", "DPDK/veth p50"), ("p99_us", "s:", "DPDK/veth p99")):
                ax.plot(x(vl), [s.get(key) / 1e3 if s.get(key) else None for s in vl], style, color="green",
                        alpha=0.8 if key == "p99_us" else 0.5, label=label)
        if dp:
            ax.axvline(dp["offered_per_s"] / 1e3, color="red", alpha=0.6, label="drops start")
        ax.axhline(2 * 5, color="grey", linestyle=":", label="2 × flush.interval_ms = 10 ms")
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("offered load (thousand events/s)")
        ax.set_ylabel("receive → durable latency (ms, log2-bucket upper bound)")
        ax.set_title("sluice run: receive → durable latency vs offered load (kernel sockets; DPDK/veth)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        files["latency"] = "latency.png"
        fig.savefig(os.path.join(out, files["latency"]))
        plt.close(fig)

    # CPU per million events.
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    sc = [s for s in sl if s.get("cpu_s_per_million")]
    rc = [s for s in rs if s.get("cpu_s_per_million")]
    if sc:
        ax.plot(x(sc), [s["cpu_s_per_million"] for s in sc], "o-", label="sluice run (durable, group commit)")
    if rc:
        ax.plot(x(rc), [s["cpu_s_per_million"] for s in rc], "s--", label="rsyslog imudp→omfile (no fsync)")
        ax.plot(x(rc), [0.75 * s["cpu_s_per_million"] for s in rc], ":", color="darkorange",
                label="target: 0.75 × rsyslog")
    vc = [s for s in vs if s.get("cpu_s_per_million")]
    if vc:
        ax.plot(x(vc), [s["cpu_s_per_million"] for s in vc], "^-", color="green",
                label="sluice run, DPDK af_packet over veth (polling core)")
    dc = [d for d in dpdk or [] if d.get("cpu_s_per_million")]
    if dc:
        ax.text(0.99, 0.02, "DPDK path at capacity (polling core): " +
                ", ".join(f"{d['cpu_s_per_million']:.2f} CPU-s/M at {d['events_per_packet']}/packet" for d in dc),
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="green")
    ax.set_xlabel("offered load (thousand events/s)")
    ax.set_ylabel("CPU-seconds per million events stored")
    ax.set_title("CPU cost per million events: sluice vs rsyslog")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    files["cpu"] = "cpu.png"
    fig.savefig(os.path.join(out, files["cpu"]))
    plt.close(fig)
    return files


def write_report(out, args, mach, benches, sl, rs, rs_note, dp, dpdk, dpdk_note, files, started, elapsed,
                 vs=(), veth_note=None):
    e2e = e2e_cpu_ratio(sl, rs)
    rows = target_rows(benches, e2e)
    L = []
    L.append("# sluice benchmark report\n")
    L.append(f"Generated by `make bench-report` (scripts/bench-report.py{' --quick' if args.quick else ''}) on "
             f"{started} UTC in {elapsed:.0f} s; binaries from `{args.build}`. Regenerate; do not edit.\n")
    L.append("## Machine\n")
    L.append(f"- CPU: {mach.get('cpu', '?')}, {mach.get('cores')} logical cores; {mach.get('mem_gib', '?')} GiB RAM")
    L.append(f"- Kernel: Linux {mach.get('kernel')}")
    L.append(f"- Disk under test (scratch dir `{args.scratch}`): {mach.get('disk_under_test', '?')} "
             f"(NAME MODEL SIZE ROTA TYPE; filesystem {mach.get('filesystem', '?')}"
             f"{', scheduler ' + mach['io_scheduler'] if mach.get('io_scheduler') else ''})")
    L.append(f"- All disks (lsblk): {'; '.join(mach.get('disks', [])) or '?'}")
    L.append(f"- Other work on the box (cores busy over 1 s with nothing of this run going): "
             f"{mach.get('busy_cores_start', 0):.2f} just before, {mach.get('busy_cores_end', 0):.2f} just after "
             f"this run (1-minute load average at the end {os.getloadavg()[0]:.2f})")
    L.append("- Shared VM: the load generator, the system under test and any other work on the box share "
             f"these {mach.get('cores')} cores; figures are this run's, not the hardware's best.\n")

    L.append("## Targets\n")
    L.append("| benchmark | figure | measured (sluice vs reference) | ratio | target | verdict |")
    L.append("|---|---|---|---|---|---|")
    for r in rows:
        L.append("| " + " | ".join(r) + " |")
    missing = [n for n, b in benches.items() if not b.get("result")]
    L.append("")
    if missing:
        L.append(f"No RESULT line from: {', '.join(missing)} (see logs/).\n")

    L.append("## Benchmarks run\n")
    L.append("| executable | command | exit | seconds |")
    L.append("|---|---|---|---|")
    for n, b in benches.items():
        L.append(f"| {n} | `{b['argv']}` | {b['rc']} | {b['seconds']} |")
    L.append("\nFull output in `logs/<name>.log`; every RESULT object also in `results.json`.\n")
    L.append("### Every figure of every RESULT line\n")
    L.append("| benchmark | figures |")
    L.append("|---|---|")

    def flat(d, prefix=""):
        for k, v in d.items():
            if k in ("bench", "machine"):
                continue
            if isinstance(v, dict):
                yield from flat(v, prefix + k + ".")
            else:
                yield f"{prefix}{k} = {v}"
    for n, b in benches.items():
        r = b.get("result")
        L.append(f"| {n} | {'; '.join(flat(r)) if r else 'no RESULT line'} |")
    L.append("")

    L.append("## End to end: stepped offered load, kernel-socket path vs rsyslog, DPDK over veth\n")
    L.append(f"`sluice gen --rate R --duration-s {args.step_seconds}` (sensors shape, 1 event per datagram, "
             "loopback) into `sluice run` (1 ingest core, 8 partitions, flush.interval_ms = 5, temp data dir; a "
             "fresh process per step so its latency quantiles are that step's), then the same steps into "
             "rsyslogd (imudp → omfile, raw message per line, no fsync). Rate 0 = flat out. "
             "stored/s = events durable (rsyslog: lines written, counted once the count stops changing) / the "
             "generator's sending time; lost = sent − stored; kernel drops = the per-socket drop counter of /proc/net/udp (socket buffer full); "
             "sluice drops = sluice_events_dropped_total by reason, where kernel_overflow is sluice's own count of "
             "those same kernel drops (SO_RXQ_OVFL), not extra losses; CPU = user+system of "
             "the receiving process from /proc/<pid>/stat over the step.\n")
    L.append("Rows `sluice DPDK/veth`: the same generator in a network namespace of its own sending over a veth "
             "pair (169.254.0.2 → 169.254.0.1) to `sluice run` with backend = \"dpdk\" and "
             "dpdk-config/af_packet.toml (EAL --no-huge, net_af_packet on the other end of the pair, in a second "
             "namespace); one process for all its steps, latency quantiles from the difference of two scrapes of "
             "`sluice_pipeline_durable_latency_seconds`; there the kernel-drops column counts the veth pair's "
             "dropped packets (sender TX + receiver RX link counters) and the kernel's backlog drops "
             "(/proc/net/softnet_stat, host-wide). Frames the AF_PACKET ring under net_af_packet had no room for "
             "show in none of these (the kernel counts them only in the socket's PACKET_STATISTICS, which "
             "net_af_packet never reads): sluice reads them itself and counts them as drops "
             "(reason nic_missed, sluice drops column). The DPDK pipeline core polls (with short pauses when idle), so "
             "CPU per event falls as the load rises.\n")
    L.append("| system | rate asked | offered/s | stored/s | lost | kernel drops | sluice drops | CPU util | "
             "CPU-s / M | p50 µs | p99 µs | p99.9 µs |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, steps in (("sluice", sl), ("rsyslog", rs), ("sluice DPDK/veth", vs or [])):
        for s in steps:
            if "error" in s:
                L.append(f"| {name} | {s['rate']} | error: {s['error']} |||||||||")
                continue
            sd = s.get("dropped_in_sluice")
            L.append(f"| {name} | {fmt_num(s['rate']) if s['rate'] else 'flat out'} | {fmt_num(s['offered_per_s'])} | "
                     f"{fmt_num(s['stored_per_s'])} | {fmt_num(s['lost'])} ({s['loss_frac'] * 100:.1f}%) | "
                     f"{kernel_drops_cell(s)} | "
                     f"{', '.join(f'{k} {int(v)}' for k, v in sd.items()) if sd else ('0' if sd is not None else '–')} | "
                     f"{fmt_num(s['cpu_util'], 2)} | {fmt_num(s['cpu_s_per_million'], 3)} | "
                     f"{fmt_num(s.get('p50_us'))} | {fmt_num(s.get('p99_us'))} | {fmt_num(s.get('p999_us'))} |")
    if rs_note:
        L.append(f"\nrsyslog reference missing: {rs_note}")
    if veth_note:
        L.append(f"\nDPDK over the veth pair {'incomplete' if vs else 'not measured'}: {veth_note}")
    L.append("")
    vdp = drop_point(sorted(vs or [], key=lambda s: s["offered_per_s"]))  # as the plot marks it
    if vs:
        vbest = max(s["stored_per_s"] for s in vs)
        L.append(f"DPDK/veth: peak stored/s {fmt_num(vbest)}; " +
                 (f"first step losing > 1% at {fmt_num(vdp['offered_per_s'])} events/s offered "
                  f"({vdp['loss_frac'] * 100:.1f}% lost)." if vdp else "no step lost more than 1%.") +
                 " Generator and DPDK poller share this VM's cores, so the generator's rate limits it too.")
        lost = sum(s["lost"] for s in vs)
        link = sum((s.get("veth_drops") or 0) + (s.get("backlog_drops") or 0) for s in vs)
        nic = sum(sum(s.get("dropped_in_sluice", {}).values()) for s in vs)
        got = sum(s["sent"] - s["received"] for s in vs)
        L.append("fdatasync p99 during each DPDK/veth step (the writer's share of the latency; the disk is shared): "
                 + ", ".join(f"{fmt_num(s['rate']) if s['rate'] else 'flat out'}: {fmt_num(s.get('fsync_p99_us'))} µs"
                             for s in vs) + ".")
        nowhere = max(lost - link - nic, 0)
        L.append(f"Losses over all DPDK/veth steps: {fmt_num(lost)} events sent but not stored "
                 f"({fmt_num(got)} never reached sluice's pipeline); counted by the veth pair or the kernel "
                 f"backlog: {fmt_num(link)}; by sluice (sluice_events_dropped_total, e.g. nic_missed): {fmt_num(nic)}; "
                 f"counted nowhere: {fmt_num(nowhere)}.")
        if nowhere > 0 and nic == 0:
            L.append("Those uncounted losses happened between the veth and the pipeline: most likely the AF_PACKET "
                     "ring (framecnt frames) overflowing while the pipeline core was off the CPU on this shared VM. "
                     "net_af_packet reported no imissed for them, so sluice_events_dropped_total{reason=\"nic_missed\"} "
                     "stayed 0: on this backend the counting invariant covers only what reached DPDK.")
    if dp:
        L.append(f"Drop point (first step losing > 1%): sluice at {fmt_num(dp['offered_per_s'])} events/s offered "
                 f"({dp['loss_frac'] * 100:.1f}% lost, {fmt_num(dp['stored_per_s'])} stored/s).")
    else:
        L.append("Drop point: no sluice step lost more than 1% (the generator's flat-out rate is below capacity).")
    if dp and dp.get("cpu_util") is not None and dp["cpu_util"] < 0.9:
        L.append(f"At that step `sluice run` used {dp['cpu_util']:.2f} cores in all (every thread) while "
                 f"{dp['kernel_socket_drops']:,} datagrams overflowed its socket's receive buffer: the kernel-socket "
                 "path lost events before its receiving thread was CPU-bound (socket buffer size / receive-loop "
                 "waits, not parse cost, set this limit here).")
    best = max((s["stored_per_s"] for s in sl if "stored_per_s" in s), default=None)
    rbest = max((s["stored_per_s"] for s in rs), default=None)
    L.append(f"Peak stored/s: sluice {fmt_num(best)}, rsyslog {fmt_num(rbest)}. Latencies are the upper bounds "
             "of log2 buckets (a reported 8192 µs means 4.1–8.2 ms) over stored events, each counted with its "
             "batch's latency from the first event's receive to the batch being durable.\n")

    L.append("## DPDK path (net_pcap replay through `sluice run`)\n")
    if dpdk:
        L.append("`sluice gen --pcap` capture replayed forever (infinite_rx=1) by net_pcap on one polling pipeline "
                 "core into real files: the capacity of the full appliance on this VM. A polling core burns CPU "
                 "whether or not packets arrive, so CPU/event is only meaningful at capacity.\n")
        L.append("| events/packet | received/s | stored/s | dropped/s (reasons over the window) | CPU util | CPU-s / M | "
                 "p50 µs | p99 µs |")
        L.append("|---|---|---|---|---|---|---|---|")
        for d in dpdk:
            L.append(f"| {d['events_per_packet']} | {fmt_num(d['received_per_s'])} | {fmt_num(d['stored_per_s'])} | "
                     f"{fmt_num(d['dropped_per_s'])} ({', '.join(f'{k} {v}' for k, v in d.get('drop_reasons', {}).items()) or 'none'}) | "
                     f"{fmt_num(d['cpu_util'], 2)} | {fmt_num(d['cpu_s_per_million'], 3)} | "
                     f"{fmt_num(d['p50_us'])} | {fmt_num(d['p99_us'])} |")
        L.append("")
    if dpdk_note:
        L.append(f"DPDK end-to-end run skipped or incomplete: {dpdk_note}\n")

    L.append("## Plots\n")
    for key, title in (("throughput", "Throughput vs offered load"), ("latency", "Receive → durable latency"),
                       ("cpu", "CPU per million events vs rsyslog")):
        if key in files:
            L.append(f"### {title}\n\n![{title}]({files[key]})\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="perf/report")
    ap.add_argument("--scratch", default=None, help="scratch parent directory (default: --out, git-ignored)")
    ap.add_argument("--rates", default="25000,50000,100000,150000,200000,300000,400000,600000,0",
                    help="offered events/s per step, 0 = flat out")
    ap.add_argument("--step-seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test of the script)")
    ap.add_argument("--skip-benches", action="store_true")
    ap.add_argument("--skip-dpdk", action="store_true", help="skip both DPDK parts (pcap replay, veth steps)")
    ap.add_argument("--skip-veth", action="store_true", help="skip the DPDK steps over the veth pair")
    ap.add_argument("--only-veth", action="store_true",
                    help="only the DPDK steps over the veth pair (no benchmarks, socket, rsyslog or pcap runs)")
    args = ap.parse_args()
    if args.only_veth:
        args.skip_benches = True
    if args.quick:
        args.step_seconds = min(args.step_seconds, 1.0)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    t_start = time.monotonic()
    sluice = os.path.join(args.build, "sluice")
    if not os.access(sluice, os.X_OK):
        sys.exit(f"bench-report: {sluice} not found (make build)")
    sluice = os.path.abspath(sluice)
    os.makedirs(os.path.join(args.out, "logs"), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="scratch.", dir=os.path.abspath(args.scratch or args.out))
    args.scratch = scratch
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    try:
        mach = machine_info(scratch)
        log(f"machine: {mach.get('cpu')}, {mach.get('cores')} cores, Linux {mach.get('kernel')}")
        benches = {} if args.skip_benches else run_benches(args.build, args.out, scratch, args.quick)

        e2e = os.path.join(scratch, "e2e")
        os.makedirs(e2e, exist_ok=True)
        sl = []
        for i, rate in enumerate([] if args.only_veth else rates):
            s = step_sluice(sluice, e2e, rate, args.step_seconds, i)
            sl.append(s)
            if "error" in s:
                log(f"  sluice rate {rate}: {s['error']}")
            else:
                log(f"  sluice rate {rate or 'flat out'}: sent {s['sent']}, stored {s['stored']:.0f}, "
                    f"{s['stored_per_s']:.0f}/s, kernel drops {s['kernel_socket_drops']}, "
                    f"CPU {s['cpu_s']:.2f} s, p99 {s['p99_us']} us")
        rs, rs_note = ([], "not run (--only-veth)") if args.only_veth else steps_rsyslog(sluice, e2e, rates,
                                                                                         args.step_seconds)
        for f in ("gen.log", "gen-rsyslog.log"):
            if os.path.exists(os.path.join(e2e, f)):
                shutil.copy(os.path.join(e2e, f), os.path.join(args.out, "logs", f))
        dp = drop_point([s for s in sl if "error" not in s])

        dpdk, dpdk_note = [], None
        if args.skip_dpdk or args.only_veth:
            dpdk_note = "skipped (--skip-dpdk)" if args.skip_dpdk else "not run (--only-veth)"
        else:
            try:
                dpdk, dpdk_note = dpdk_path(sluice, os.path.join(scratch, "e2e"), 1.0 if args.quick else 3.0,
                                            4096)
            except Exception as e:  # noqa: BLE001 (optional part: report, do not fail)
                dpdk_note = f"{type(e).__name__}: {e}"
            for f in os.listdir(e2e):
                if f.startswith("run-dpdk"):
                    shutil.copy(os.path.join(e2e, f), os.path.join(args.out, "logs", f))

        vs, veth_note = [], None
        if args.skip_dpdk or args.skip_veth:
            veth_note = "skipped (--skip-dpdk)" if args.skip_dpdk else "skipped (--skip-veth)"
        else:
            log("DPDK over a veth pair between two network namespaces: stepped load")
            try:
                vs, veth_note = steps_dpdk_veth(sluice, e2e, rates, args.step_seconds)
            except Exception as e:  # noqa: BLE001 (optional part: report, do not fail)
                veth_note = f"{type(e).__name__}: {e}"
            vdir = os.path.join(e2e, "veth")
            for f in ("run-dpdk-veth.log", "gen-veth.log", "veth-af_packet.toml"):
                if os.path.exists(os.path.join(vdir, f)):
                    shutil.copy(os.path.join(vdir, f), os.path.join(args.out, "logs", f))
        if veth_note:
            log(f"  dpdk/veth: {veth_note}")

        mach["busy_cores_end"] = busy_cores()
        files = plots(args.out, [s for s in sl if "error" not in s], rs, dp, dpdk, vs, veth_note)
        elapsed = time.monotonic() - t_start
        rows = write_report(args.out, args, mach, benches, sl, rs, rs_note, dp, dpdk, dpdk_note, files, started,
                            elapsed, vs, veth_note)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"machine": mach, "benches": benches, "e2e_sluice": sl, "e2e_rsyslog": rs,
                       "rsyslog_note": rs_note, "dpdk": dpdk, "dpdk_note": dpdk_note,
                       "e2e_dpdk_veth": vs, "dpdk_veth_note": veth_note}, f, indent=1)
        print("\n| benchmark | figure | measured | ratio | target | verdict |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        log(f"wrote {args.out}/report.md in {elapsed:.0f} s")
    finally:
        stop_all()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
