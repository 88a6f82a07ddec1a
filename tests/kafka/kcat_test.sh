#!/bin/bash
# Integration test: kcat (librdkafka 2.0.2) produces 100,000 keyed messages (-P -K: -l) and reads
# them back with `kcat -C -o beginning -e`, exactly and in order per partition; then the same with
# gzip, snappy, lz4 and zstd compression. Usage: kcat_test.sh SERVER_BINARY
set -euo pipefail
server_bin=$1
command -v kcat >/dev/null || { echo "SKIP: kcat not installed"; exit 77; }
tmp=$(mktemp -d /tmp/sluice-kafka-kcat.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$server_bin" --data-dir "$tmp/data" --port-file "$tmp/port" \
    --topic plain:4 --topic gzip:4 --topic snappy:4 --topic lz4:4 --topic zstd:4 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
broker=127.0.0.1:$(cat "$tmp/port")
n=100000
awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) printf "key-%d:value-%d-%s\n", i % 1000, i, "payload" }' > "$tmp/in.txt"
for codec in plain gzip snappy lz4 zstd; do
    zopt=()
    [ "$codec" != plain ] && zopt=(-z "$codec")
    timeout 60 kcat -b "$broker" -P -t "$codec" -K: "${zopt[@]}" -X linger.ms=20 -l "$tmp/in.txt"
    timeout 60 kcat -b "$broker" -C -t "$codec" -o beginning -e -q -f '%p %o %k:%s\n' > "$tmp/out.txt"
    got=$(wc -l < "$tmp/out.txt")
    if [ "$got" -ne "$n" ]; then echo "FAIL $codec: read back $got of $n"; exit 1; fi
    # Same multiset of messages.
    if ! diff <(sort "$tmp/in.txt") <(cut -d' ' -f3- "$tmp/out.txt" | sort) > /dev/null; then
        echo "FAIL $codec: messages differ"; exit 1
    fi
    # Per partition: offsets 0..n-1 contiguous, and the producer's order (value index increasing).
    if ! awk '{ split($3, a, "-"); idx = a[3] + 0
               if ($2 != next_off[$1] + 0) { print "offset gap p" $1 " at " $2; bad = 1 }
               next_off[$1] = $2 + 1
               if ($1 in last && idx <= last[$1]) { print "order p" $1 " at " $2; bad = 1 }
               last[$1] = idx }
             END { exit bad }' "$tmp/out.txt"; then
        echo "FAIL $codec: order"; exit 1
    fi
    # A key always lands on the same partition.
    if [ "$(awk '{ split($3, a, ":"); print a[1], $1 }' "$tmp/out.txt" | sort -u | wc -l)" -ne 1000 ]; then
        echo "FAIL $codec: a key spans partitions"; exit 1
    fi
    echo "ok $codec: $n messages round-tripped in order"
done
echo PASS
