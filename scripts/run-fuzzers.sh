#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, from its seed corpus in
# fuzz/corpus/<name>/ (if present) into a scratch corpus. Fails if any target crashes.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/fuzz/fuzz-*)
if ((${#targets[@]} == 0)); then
  echo "run-fuzzers: no fuzz targets in $build/fuzz" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  name=$(basename "$t"); name=${name#fuzz-}
  work=$(mktemp -d)
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds=("$root/fuzz/corpus/$name")
  echo "run-fuzzers: $name for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1 "$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 "$work" "${seeds[@]}" 2>"$work.log" || {
    tail -50 "$work.log"; echo "run-fuzzers: $name FAILED" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units" "$work.log" || true
  rm -rf "$work" "$work.log"
done
echo "run-fuzzers: all targets clean"
