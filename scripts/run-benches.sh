#!/usr/bin/env bash
# Runs every benchmark executable build/perf/bench-*; each ends with a `RESULT {json}` line.
set -euo pipefail
build=${1:-build}
shopt -s nullglob
dir=$(mktemp -d -p "${BENCH_DIR:-$PWD}" bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for b in "$build"/perf/bench-*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --dir "$dir/$(basename "$b")"
done
