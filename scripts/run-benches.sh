#!/usr/bin/env bash
# Runs every benchmark executable build/perf/bench-*; each ends with a `RESULT {json}` line.
# Benchmarks that take --dir get a scratch directory on the disk under test (BENCH_DIR, default
# the current directory), removed afterwards.
set -euo pipefail
build=${1:-build}
shopt -s nullglob
dir=$(mktemp -d -p "${BENCH_DIR:-$PWD}" bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
status=0
for b in "$build"/perf/bench-*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name"
  args=()
  if "$b" --help 2>&1 | grep -q -- '--dir'; then args=(--dir "$dir/$name"); fi
  if ! "$b" "${args[@]}"; then
    echo "run-benches: $name FAILED" >&2
    status=1
  fi
done
exit $status
