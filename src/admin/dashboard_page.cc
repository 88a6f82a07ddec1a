// The status page (see dashboard_page.h). Everything is inline: the admin listener is often on
// a box without internet access, and the page must not leak anything to third parties.
// Figures: the same as `sluice stat` (admin/stat_view.h), computed in the browser from two
// successive polls; charts keep the last 5 minutes (300 samples).
#include <sluice/admin/dashboard_page.h>

namespace sluice::admin {

namespace {
constexpr std::string_view page = R"sluice(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice status</title>
<style>
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--mute:#6a7385;--line:#e3e6eb;--bad:#c62828;--ok:#2e7d32}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:18px;padding:10px 18px;background:#1d2430;color:#fff}
header h1{font-size:18px;margin:0;letter-spacing:.5px}
header span{color:#b8c0cc}
header a{color:#8ab4f8;font-size:12px}
#live{margin-left:auto;font-weight:600}
#live.ok{color:#8fd694}#live.bad{color:#ff8a80}
main{padding:12px 18px;max-width:1500px;margin:0 auto}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin-bottom:12px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.tile .k{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.tile .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .s{color:var(--mute);font-size:12px;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:10px;margin-bottom:12px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.chart h2,.card h2{font-size:13px;margin:0 0 4px;color:var(--mute);text-transform:uppercase;letter-spacing:.4px}
.legend{font-size:12px;color:var(--mute);min-height:16px}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px;vertical-align:-1px}
canvas{width:100%;height:170px;display:block}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin-bottom:12px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
th{color:var(--mute);font-weight:600;font-size:12px}
th:first-child,td:first-child{text-align:left}
td.why{text-align:left;color:var(--mute);white-space:normal}
.nonzero{color:var(--bad);font-weight:600}
.empty{color:var(--mute);font-style:italic}
</style></head>
<body>
<header><h1>sluice</h1><span id="version">-</span><span>uptime <b id="uptime">-</b></span>
<span>host <b id="host">-</b></span><a href="/metrics">/metrics</a><a href="/v1/status">/v1/status</a>
<span id="live">connecting...</span></header>
<main>
<section class="tiles">
 <div class="tile"><div class="k">received / s</div><div class="v" id="total-received-rate">-</div><div class="s">total <span id="total-received">-</span></div></div>
 <div class="tile"><div class="k">stored / s</div><div class="v" id="total-stored-rate">-</div><div class="s">total <span id="total-stored">-</span></div></div>
 <div class="tile"><div class="k">rejected / s (DLQ)</div><div class="v" id="total-rejected-rate">-</div><div class="s">total <span id="total-rejected">-</span></div></div>
 <div class="tile"><div class="k">dropped / s</div><div class="v" id="total-dropped-rate">-</div><div class="s">total <span id="total-dropped">-</span></div></div>
 <div class="tile"><div class="k">in flight</div><div class="v" id="total-in-flight">-</div><div class="s">received = stored + rejected + dropped + in flight</div></div>
 <div class="tile"><div class="k">disk write</div><div class="v" id="disk-rate">-</div><div class="s"><span id="flush-rate">-</span> fdatasync/s</div></div>
 <div class="tile"><div class="k">fdatasync p50 / p99</div><div class="v" id="fsync-p99">-</div><div class="s">p50 <span id="fsync-p50">-</span> (<span id="fsync-window">-</span>)</div></div>
 <div class="tile"><div class="k">consumer lag</div><div class="v" id="total-lag">-</div><div class="s"><span id="group-count">0</span> group(s)</div></div>
</section>
<section class="charts">
 <div class="chart"><h2>events / s</h2><div class="legend" id="lg-events"></div><canvas id="c-events"></canvas></div>
 <div class="chart"><h2>rejected and dropped / s</h2><div class="legend" id="lg-drops"></div><canvas id="c-drops"></canvas></div>
 <div class="chart"><h2>fdatasync latency</h2><div class="legend" id="lg-fsync"></div><canvas id="c-fsync"></canvas></div>
 <div class="chart"><h2>disk write bandwidth</h2><div class="legend" id="lg-disk"></div><canvas id="c-disk"></canvas></div>
 <div class="chart"><h2>consumer lag (events)</h2><div class="legend" id="lg-lag"></div><canvas id="c-lag"></canvas></div>
</section>
<section class="card"><h2>pipeline cores</h2><table id="t-cores"><thead><tr><th>core</th><th>packets/s</th><th>events/s</th><th>bytes/s</th><th>drops/s</th><th>parse failures/s</th><th>scratch copies/s</th><th>drops / parse failures by reason (total)</th></tr></thead><tbody></tbody></table></section>
<section class="card"><h2>topics and partitions</h2><table id="t-topics"><thead><tr><th>topic</th><th>partition</th><th>events/s</th><th>high watermark</th><th>log start</th><th>on disk</th><th>rejected / dropped by reason (total)</th></tr></thead><tbody></tbody></table></section>
<section class="card"><h2>consumer groups</h2><table id="t-groups"><thead><tr><th>group</th><th>topic</th><th>partition</th><th>committed</th><th>lag</th></tr></thead><tbody></tbody></table></section>
<p class="empty" id="err"></p>
</main>
<script>
"use strict";
const WINDOW = 300, PERIOD_MS = 1000;
const COLORS = ["#1f77b4","#2ca02c","#d62728","#ff7f0e","#9467bd","#8c564b","#e377c2","#17becf","#bcbd22","#7f7f7f"];
const hist = {};            // series name -> [[t_ms, value], ...]
let prev = null, samples = 0;
const $ = id => document.getElementById(id);

function si(v) {
  if (v == null || !isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a < 10) return (Math.round(v * 100) / 100).toString();
  if (a < 1000) return (Math.round(v * 10) / 10).toString();
  if (a < 1e6) return (v / 1e3).toFixed(2) + "k";
  if (a < 1e9) return (v / 1e6).toFixed(2) + "M";
  return (v / 1e9).toFixed(2) + "G";
}
function bytes(v) {
  if (v == null || !isFinite(v) || v < 0) return "?";
  if (v < 1024) return Math.round(v) + " B";
  if (v < 1048576) return (v / 1024).toFixed(1) + " KiB";
  if (v < 1073741824) return (v / 1048576).toFixed(1) + " MiB";
  return (v / 1073741824).toFixed(2) + " GiB";
}
function secs(s) {
  if (s == null || s < 0 || !isFinite(s)) return "-";
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(2) + " ms";
  return s.toFixed(2) + " s";
}
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c])); }
function reasons(o) {
  const p = [];
  for (const k in (o || {})) if (o[k]) p.push(esc(k) + "=" + si(o[k]));
  return p.join(" ");
}

// Prometheus text: [{name, labels:{}, value}]
function parseProm(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3])) !== null) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    out.push({name: m[1], labels, value: parseFloat(m[4])});
  }
  return out;
}

function quantile(q, cum) {   // cum: [[le, count]] ascending, +Inf last
  if (!cum.length) return -1;
  const total = cum[cum.length - 1][1];
  if (total <= 0) return -1;
  const want = q * total;
  let pl = 0, pc = 0;
  for (const [le, c] of cum) {
    if (c >= want && c > pc) return isFinite(le) ? pl + (le - pl) * (want - pc) / (c - pc) : pl;
    if (isFinite(le)) pl = le;
    pc = c;
  }
  return pl;
}

// One sample: figures from status + metrics, keyed for rate computation.
// Internal pseudo-topics (e.g. _unrouted) are shown only once they saw something.
function visibleTopics(st) {
  return (st.topics || []).filter(tp => !(tp.name && tp.name[0] === "_" && !tp.received));
}

function digest(st, prom, t) {
  const d = {t, srv: st.uptime_ms, st, counters: {}, fsync: [], disk: {}, groups: []};
  const c = d.counters;
  const tot = {received: 0, stored: 0, rejected: 0, dropped: 0, in_flight: 0};
  for (const tp of st.topics || []) {
    for (const k in tot) tot[k] += tp[k] || 0;
    for (const k of ["received", "stored", "rejected", "dropped"]) c["topic/" + tp.name + "/" + k] = tp[k] || 0;
    for (const p of tp.partitions || []) c["part/" + tp.name + "/" + p.partition] = p.high_watermark || 0;
  }
  for (const k in tot) c["total/" + k] = tot[k];
  d.total = tot;
  for (const core of st.cores || []) {
    let ev = 0, dr = 0, pf = 0;
    for (const tp of core.topics || []) { ev += tp.received || 0; dr += tp.dropped || 0; pf += tp.rejected || 0; }
    const k = "core/" + core.core + "/";
    c[k + "packets"] = core.datagrams || 0; c[k + "bytes"] = core.bytes || 0; c[k + "events"] = ev;
    c[k + "drops"] = dr; c[k + "parse"] = pf; c[k + "scratch"] = core.scratch_copies || 0;
  }
  const log = st.log || {};
  c["log/flushes"] = log.flushes || 0;
  c["log/bytes"] = log.bytes_written || 0;
  const groups = {};
  for (const g of st.groups || []) groups[g.group + "\u0000" + g.topic + "\u0000" + g.partition] = {...g};
  for (const m of prom) {
    if (m.name === "sluice_fsync_latency_seconds_bucket") d.fsync.push([m.labels.le === "+Inf" ? Infinity : parseFloat(m.labels.le), m.value]);
    else if (m.name === "sluice_partition_bytes_on_disk") d.disk[m.labels.topic + "/" + m.labels.partition] = m.value;
    else if (m.name === "sluice_consumer_group_committed_offset" || m.name === "sluice_consumer_group_lag") {
      const k = m.labels.group + "\u0000" + m.labels.topic + "\u0000" + m.labels.partition;
      const g = groups[k] || (groups[k] = {group: m.labels.group, topic: m.labels.topic, partition: +m.labels.partition});
      if (m.name === "sluice_consumer_group_lag") g.lag = m.value; else g.committed_offset = m.value;
    }
  }
  d.fsync.sort((a, b) => a[0] - b[0]);
  const hw = {};
  for (const tp of st.topics || []) for (const p of tp.partitions || []) hw[tp.name + "/" + p.partition] = p.high_watermark;
  for (const k in groups) {
    const g = groups[k];
    if ((g.lag == null || g.lag < 0) && g.committed_offset != null && g.committed_offset >= 0) {
      const h = hw[g.topic + "/" + g.partition];
      if (h != null) g.lag = Math.max(0, h - g.committed_offset);
    }
    d.groups.push(g);
  }
  return d;
}

function rate(cur, prv, key) {
  if (!prv) return 0;
  // The server's uptime clock measures the interval between the two snapshots; the browser's
  // clock (fallback) also counts request latency.
  let dt = (cur.srv - prv.srv) / 1000;
  if (!(dt > 0)) dt = (cur.t - prv.t) / 1000;
  const a = cur.counters[key], b = prv.counters[key];
  if (dt <= 0 || a == null || b == null || a < b) return 0;
  return (a - b) / dt;
}

function push(name, t, v) {
  const h = hist[name] || (hist[name] = []);
  h.push([t, v]);
  while (h.length > WINDOW) h.shift();
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function draw(id, series, fmt) {
  const cv = $("c-" + id), lg = $("lg-" + id);
  lg.innerHTML = series.map((s, i) => '<i style="background:' + COLORS[i % COLORS.length] + '"></i>' + esc(s.name) + " " +
                 '<b>' + fmt((s.data.length ? s.data[s.data.length - 1][1] : null)) + '</b>').join("") ||
                 '<span class="empty">no data</span>';
  const dpr = window.devicePixelRatio || 1, w = cv.clientWidth, h = cv.clientHeight;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const L = 84, R = 10, T = 6, B = 18, pw = w - L - R, ph = h - T - B;
  const now = Date.now(), t0 = now - WINDOW * PERIOD_MS;
  let max = 0;
  for (const s of series) for (const [, v] of s.data) if (v > max && isFinite(v)) max = v;
  max = niceMax(max);
  g.font = "11px system-ui,sans-serif"; g.fillStyle = "#6a7385"; g.strokeStyle = "#e3e6eb"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = T + ph - ph * i / 4;
    g.beginPath(); g.moveTo(L, Math.round(y) + .5); g.lineTo(L + pw, Math.round(y) + .5); g.stroke();
    g.fillText(fmt(max * i / 4), L - 6, y);
  }
  g.textAlign = "center"; g.textBaseline = "top";
  for (let m = 0; m <= WINDOW / 60; m++) {
    const x = L + pw - pw * m * 60 / WINDOW;
    g.fillText(m ? "-" + m + "m" : "now", x, T + ph + 4);
  }
  series.forEach((s, i) => {
    g.strokeStyle = COLORS[i % COLORS.length]; g.lineWidth = 1.6; g.beginPath();
    let first = true;
    for (const [t, v] of s.data) {
      if (t < t0 || !isFinite(v) || v < 0) { first = true; continue; }
      const x = L + pw * (t - t0) / (now - t0), y = T + ph - ph * Math.min(v, max) / max;
      if (first) { g.moveTo(x, y); first = false; } else g.lineTo(x, y);
    }
    g.stroke();
  });
}

function cell(v, cls) { return "<td" + (cls ? ' class="' + cls + '"' : "") + ">" + v + "</td>"; }

let lastPair = null;
function render(cur, prv, record = true) {
  lastPair = [cur, prv];
  const st = cur.st, t = cur.t;
  $("version").textContent = "v" + (st.version || "?");
  const up = Math.floor((st.uptime_ms || 0) / 1000);
  $("uptime").textContent = Math.floor(up / 3600) + "h" + String(Math.floor(up / 60) % 60).padStart(2, "0") + "m" + String(up % 60).padStart(2, "0") + "s";
  $("host").textContent = location.host;
  const r = k => rate(cur, prv, k);
  for (const k of ["received", "stored", "rejected", "dropped"]) {
    const e = $("total-" + k + "-rate");
    e.textContent = si(r("total/" + k));
    e.dataset.value = r("total/" + k);
    if (k === "rejected" || k === "dropped") e.classList.toggle("nonzero", r("total/" + k) > 0);
    $("total-" + k).textContent = si(cur.total[k]);
    $("total-" + k).dataset.value = cur.total[k];
  }
  $("total-in-flight").textContent = si(cur.total.in_flight);
  $("disk-rate").textContent = bytes(r("log/bytes")) + "/s";
  $("flush-rate").textContent = si(r("log/flushes"));
  // fdatasync percentiles over the last interval (histogram difference), else since start.
  let p50 = -1, p99 = -1, win = "no flushes yet";
  if (prv && prv.fsync.length === cur.fsync.length && cur.fsync.length) {
    const d = cur.fsync.map(([le, c], i) => [le, Math.max(0, c - prv.fsync[i][1])]);
    if (d[d.length - 1][1] > 0) { p50 = quantile(.5, d); p99 = quantile(.99, d); win = "last interval"; }
  }
  if (p50 < 0 && cur.fsync.length && cur.fsync[cur.fsync.length - 1][1] > 0) { p50 = quantile(.5, cur.fsync); p99 = quantile(.99, cur.fsync); win = "since start"; }
  if (p50 < 0 && st.log && st.log.fsync_ns_p50 > 0) { p50 = st.log.fsync_ns_p50 / 1e9; p99 = st.log.fsync_ns_p99 / 1e9; win = "since start"; }
  $("fsync-p50").textContent = secs(p50); $("fsync-p99").textContent = secs(p99); $("fsync-window").textContent = win;
  let lag = 0;
  for (const g of cur.groups) if (g.lag > 0) lag += g.lag;
  $("total-lag").textContent = cur.groups.length ? si(lag) : "-";
  $("group-count").textContent = new Set(cur.groups.map(g => g.group)).size;

  // History.
  if (prv && record) {
    for (const tp of st.topics || []) {
      push("recv:" + tp.name, t, r("topic/" + tp.name + "/received"));
      push("stored:" + tp.name, t, r("topic/" + tp.name + "/stored"));
      push("rej:" + tp.name, t, r("topic/" + tp.name + "/rejected"));
      push("drop:" + tp.name, t, r("topic/" + tp.name + "/dropped"));
    }
    push("disk", t, r("log/bytes"));
    push("p50", t, p50); push("p99", t, p99);
  }
  const byGroup = {};
  for (const g of cur.groups) byGroup[g.group] = (byGroup[g.group] || 0) + Math.max(0, g.lag || 0);
  if (prv && record) for (const g in byGroup) push("lag:" + g, t, byGroup[g]);
  const topics = visibleTopics(st).map(tp => tp.name);
  draw("events", topics.flatMap(n => [{name: n + " received", data: hist["recv:" + n] || []}, {name: n + " stored", data: hist["stored:" + n] || []}]), si);
  draw("drops", topics.flatMap(n => [{name: n + " rejected", data: hist["rej:" + n] || []}, {name: n + " dropped", data: hist["drop:" + n] || []}]), si);
  draw("fsync", [{name: "p50", data: hist.p50 || []}, {name: "p99", data: hist.p99 || []}], secs);
  draw("disk", [{name: "bytes written/s", data: hist.disk || []}], v => bytes(v) + "/s");
  draw("lag", Object.keys(byGroup).map(g => ({name: g, data: hist["lag:" + g] || []})), si);

  // Tables.
  let rows = "";
  for (const core of st.cores || []) {
    const k = "core/" + core.core + "/";
    const dr = {}, pf = {};
    for (const tp of core.topics || []) {
      for (const x in tp.dropped_by_reason || {}) dr[x] = (dr[x] || 0) + tp.dropped_by_reason[x];
      for (const x in tp.rejected_by_reason || {}) pf[x] = (pf[x] || 0) + tp.rejected_by_reason[x];
    }
    const why = [reasons(dr), reasons(pf)].filter(Boolean).join(" | ") || "-";
    rows += "<tr>" + cell(core.core) + cell(si(r(k + "packets"))) + cell(si(r(k + "events"))) + cell(bytes(r(k + "bytes")) + "/s") +
            cell(si(r(k + "drops")), r(k + "drops") > 0 ? "nonzero" : "") + cell(si(r(k + "parse")), r(k + "parse") > 0 ? "nonzero" : "") +
            cell(si(r(k + "scratch"))) + cell(why, "why") + "</tr>";
  }
  $("t-cores").tBodies[0].innerHTML = rows || '<tr><td class="empty" colspan="8">no pipeline cores reported</td></tr>';
  rows = "";
  for (const tp of visibleTopics(st)) {
    let disk = 0, known = (tp.partitions || []).length > 0, hw = 0;
    for (const p of tp.partitions || []) {
      hw += p.high_watermark || 0;
      const b = cur.disk[tp.name + "/" + p.partition] ?? p.bytes_on_disk;
      if (b == null || b < 0) known = false; else disk += b;
    }
    const why = [reasons(tp.rejected_by_reason), reasons(tp.dropped_by_reason)].filter(Boolean).join(" | ") || "-";
    rows += '<tr class="topic" data-topic="' + esc(tp.name) + '"><td><b>' + esc(tp.name) + "</b></td>" + cell("all") +
            cell(si(r("topic/" + tp.name + "/stored"))) + cell(hw) + cell("") + cell(known ? bytes(disk) : "?") + cell(why, "why") + "</tr>";
    for (const p of tp.partitions || []) {
      const b = cur.disk[tp.name + "/" + p.partition] ?? p.bytes_on_disk;
      rows += "<tr><td></td>" + cell(p.partition) + cell(si(r("part/" + tp.name + "/" + p.partition))) + cell(p.high_watermark) +
              cell(p.log_start_offset ?? "-") + cell(bytes(b)) + cell("", "why") + "</tr>";
    }
    if (tp.dlq) rows += "<tr><td>" + esc(tp.dlq.name) + "</td>" + cell(0) + cell("") + cell(tp.dlq.high_watermark) + cell("") + cell("") + cell("dead letters", "why") + "</tr>";
  }
  $("t-topics").tBodies[0].innerHTML = rows || '<tr><td class="empty" colspan="7">no topics</td></tr>';
  rows = "";
  for (const g of cur.groups) rows += "<tr>" + cell(esc(g.group)) + cell(esc(g.topic)) + cell(g.partition) + cell(g.committed_offset ?? "-") + cell(g.lag == null ? "?" : si(g.lag)) + "</tr>";
  $("t-groups").tBodies[0].innerHTML = rows || '<tr><td class="empty" colspan="5">no consumer groups reported</td></tr>';
}

async function poll() {
  try {
    const [s, m] = await Promise.all([fetch("/v1/status", {cache: "no-store"}), fetch("/metrics", {cache: "no-store"})]);
    if (!s.ok) throw new Error("/v1/status: HTTP " + s.status);
    const st = await s.json();
    const prom = m.ok ? parseProm(await m.text()) : [];
    const cur = digest(st, prom, Date.now());
    render(cur, prev);
    prev = cur;
    samples++;
    document.body.dataset.samples = samples;
    $("live").textContent = "live"; $("live").className = "ok";
    $("err").textContent = "";
  } catch (e) {
    $("live").textContent = "admin endpoint unreachable"; $("live").className = "bad";
    $("err").textContent = String(e);
  }
}
poll();
setInterval(poll, PERIOD_MS);
window.addEventListener("resize", () => lastPair && render(lastPair[0], lastPair[1], false));
</script>
</body></html>
)sluice";
}  // namespace

std::string_view dashboard_page() noexcept { return page; }

}  // namespace sluice::admin
