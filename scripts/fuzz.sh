#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the `fuzz` preset (clang, libFuzzer, ASan + UBSan) and runs each fuzz target for
# SECONDS (default 60) from the committed seed corpus, then prints executions and executions/s.
# New inputs go to build/fuzz/corpus/<target> (the committed corpus is only read); crashes to
# build/fuzz/crash-<target>-*. Usage: scripts/fuzz.sh [seconds] [jobs]
set -euo pipefail
seconds=${1:-60}
jobs=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$jobs" --target fuzz_recv_stream fuzz_recv_args
status=0
for t in recv_stream recv_args; do
  work=build/fuzz/corpus/$t
  mkdir -p "$work"
  log=build/fuzz/fuzz_$t.log
  echo "== fuzz_$t for ${seconds}s"
  if ! build/fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -max_len=512 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$t-" \
      "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    status=1
    echo "   CRASH: see $log and build/fuzz/crash-$t-*"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  echo "   executions: ${runs:-?}  time: ${seconds} s  exec/s: ${rate:-?}  corpus: $(ls "$work" | wc -l) new"
done
exit $status
