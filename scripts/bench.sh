#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds every benchmark executable (release preset, target bench_all) and runs bench/run.py,
# which interleaves the servers, prints progress on stderr and writes bench/results/report.md,
# raw.jsonl and PNG plots.
#   scripts/bench.sh                       the full run (5 repetitions, 1.5 s windows)
#   scripts/bench.sh --reps 10 --only multi64,pingpong
#   scripts/bench.sh --smoke               one short pass that only proves everything runs
# Extra arguments go to bench/run.py (see bench/README.md). Missing Debian packages (plots,
# perf tracepoints, callgrind, Google Benchmark) are installed first, as the other scripts do.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --bench

# A pyenv/venv python3 does not see Debian's python3-matplotlib: prefer one that does.
py=python3
if ! python3 -c 'import matplotlib' >/dev/null 2>&1 && [ -x /usr/bin/python3 ] \
    && /usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1; then
    py=/usr/bin/python3
fi

echo "bench: building (cmake --preset release, target bench_all)" >&2
cmake --preset release >/dev/null
cmake --build --preset release --target bench_all

echo "bench: running; progress follows, the report goes to bench/results/report.md" >&2
status=0
"$py" bench/run.py --bin build/release/bench --out bench/results "$@" || status=$?
if [ -f bench/results/report.md ]; then
    echo "bench: report: bench/results/report.md (raw runs: bench/results/raw.jsonl)" >&2
fi
exit "$status"
