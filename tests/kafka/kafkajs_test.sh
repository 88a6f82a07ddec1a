#!/bin/bash
# Integration test: kafkajs 2.2.4 (installed with npm into a scratch folder; skipped when npm has
# no network) produces with acks=all, the server is SIGKILLed and restarted, and every acknowledged
# message must be present; then a kafkajs consumer group reads them back.
# Usage: kafkajs_test.sh SERVER_BINARY
set -euo pipefail
server_bin=$1
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }
tmp=$(mktemp -d /tmp/sluice-kafka-js.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cache=${SLUICE_NPM_CACHE:-/tmp/sluice-npm-kafkajs}
if [ ! -f "$cache/node_modules/kafkajs/package.json" ]; then
    mkdir -p "$cache"
    if ! (cd "$cache" && timeout 90 npm install --silent --no-audit --no-fund kafkajs@2.2.4 >/dev/null 2>&1); then
        echo "SKIP: npm install kafkajs@2.2.4 failed (no network?)"; exit 77
    fi
fi
start_server() {
    rm -f "$tmp/port"
    "$server_bin" --data-dir "$tmp/data" --port-file "$tmp/port" --listen "127.0.0.1:${1:-0}" --topic js:3 &
    pid=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    port=$(cat "$tmp/port")
}
start_server
cat > "$tmp/produce.js" <<'JS'
const { Kafka, logLevel } = require('kafkajs');
const fs = require('fs');
const kafka = new Kafka({ clientId: 'js', brokers: [process.argv[2]], logLevel: logLevel.NOTHING });
(async () => {
  const p = kafka.producer();
  await p.connect();
  const out = fs.openSync(process.argv[3], 'a');
  for (let b = 0; ; b++) {
    const messages = [];
    for (let i = 0; i < 50; i++) messages.push({ key: `k${(b * 50 + i) % 31}`, value: `m${b * 50 + i}` });
    const res = await p.send({ topic: 'js', acks: -1, messages });
    // Acknowledged: record every message of the batch.
    fs.writeSync(out, messages.map(m => m.value).join('\n') + '\n');
  }
})().catch(e => { console.error('producer stopped:', e.message); process.exit(0); });
JS
cat > "$tmp/consume.js" <<'JS'
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'jsc', brokers: [process.argv[2]], logLevel: logLevel.NOTHING });
// Every acknowledged value must be read. A batch made durable whose answer the kill cut off is
// stored but not acknowledged, so counting messages is not enough: wait for each wanted value.
const want = new Set(require('fs').readFileSync(process.argv[3], 'utf8').split('\n').filter(v => v));
const seen = new Set();
let missing = want.size;
(async () => {
  const c = kafka.consumer({ groupId: 'jsg', sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  await c.connect();
  await c.subscribe({ topic: 'js', fromBeginning: true });
  const timer = setTimeout(() => { console.log(`TIMEOUT seen=${seen.size} acknowledged not seen=${missing}`); process.exit(1); }, 40000);
  await c.run({ eachMessage: async ({ message }) => {
    const v = message.value.toString();
    if (!seen.has(v)) {
      seen.add(v);
      if (want.has(v)) --missing;
    }
    if (missing === 0) {
      clearTimeout(timer);
      for (const v of seen) console.log(v);
      // disconnect() waits for eachMessage to return: leave the group from outside it.
      setImmediate(() => c.disconnect().then(() => process.exit(0), () => process.exit(0)));
    }
  } });
})().catch(e => { console.error(e); process.exit(1); });
JS
export NODE_PATH="$cache/node_modules"
node "$tmp/produce.js" "127.0.0.1:$port" "$tmp/acked.txt" &
ppid=$!
sleep 3
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
pid=
kill "$ppid" 2>/dev/null || true; wait "$ppid" 2>/dev/null || true
acked=$(sort -u "$tmp/acked.txt" | grep -c . || true)
[ "$acked" -gt 0 ] || { echo "FAIL: nothing acknowledged before the kill"; exit 1; }
start_server "$port"
sort -u "$tmp/acked.txt" > "$tmp/acked.sorted"
if ! timeout 60 node "$tmp/consume.js" "127.0.0.1:$port" "$tmp/acked.sorted" > "$tmp/seen.txt"; then
    echo "FAIL: consumer: $(tail -1 "$tmp/seen.txt")"; exit 1
fi
missing=$(comm -23 <(sort -u "$tmp/acked.txt") <(sort -u "$tmp/seen.txt") | wc -l)
if [ "$missing" -ne 0 ]; then echo "FAIL: $missing acknowledged messages lost"; exit 1; fi
echo "ok: $acked acknowledged messages survived SIGKILL and were consumed by a kafkajs group"
echo PASS
