#!/bin/sh
# SPDX-License-Identifier: MIT
# The long soak: builds sanport_soak (dev preset) and runs it for [seconds] (default 600) on
# each Linux backend, io_uring then asio, printing each run's summary line. Extra arguments
# after the seconds go to sanport_soak (e.g. --seed 42 --connections 64).
#   scripts/soak.sh            # 10 minutes per backend
#   scripts/soak.sh 60 --seed 7
# Exit status: 0 only when every run reported errors=0.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
[ $# -gt 0 ] && shift
build=${SANPORT_SOAK_BUILD:-build/dev}
cmake --preset dev -B "$build" >/dev/null
cmake --build "$build" --target sanport_soak -j "${JOBS:-2}"
status=0
for backend in io_uring asio; do
  echo "== sanport_soak --seconds $seconds --backend $backend $*" >&2
  # Progress lines go to stderr; stdout carries the one summary line (or a STUCK line).
  out=$("$build/tests/soak/sanport_soak" --seconds "$seconds" --backend "$backend" "$@") ||
    status=1
  echo "${out:-soak: backend=$backend no summary (crashed?) errors=unknown}"
done
exit $status
