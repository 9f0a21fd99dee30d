#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs the demo: echo server and client together on loopback. The last line
# says what happened, e.g.
#   demo: backend io_uring, 128000 messages echoed and verified: PASS
# (the client's count: every message sent came back whole, checked byte by byte); the exit
# status is non-zero on FAIL.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log" "$log.rc"' EXIT
{
  rc=0
  cmake --workflow --preset demo 2>&1 || rc=$?
  echo "$rc" >"$log.rc"
} | tee "$log"
rc=$(cat "$log.rc")

# echo_client: backend=NAME connections=C messages=M bytes=B verified=yes ...
client=$(grep '^echo_client: backend=' "$log" | tail -n 1 || true)
backend=$(printf '%s\n' "$client" | sed -n 's/.* backend=\([^ ]*\).*/\1/p')
if [ -z "$backend" ]; then # the client failed: the server's "listening on ... (NAME backend)"
  backend=$(sed -n 's/.*listening on .*(\([a-z_]*\) backend).*/\1/p' "$log" | tail -n 1)
fi
if [ -z "$backend" ]; then # nothing started
  backend="${SANPORT_BACKEND:+$SANPORT_BACKEND (SANPORT_BACKEND) that did not start}"
fi
messages=$(printf '%s\n' "$client" | sed -n 's/.* messages=\([0-9]*\) .*verified=yes.*/\1/p')
if [ "$rc" -eq 0 ] && [ -n "$messages" ]; then
  echo "demo: backend ${backend:-unknown}, $messages messages echoed and verified: PASS"
else
  echo "demo: backend ${backend:-unknown}, ${messages:-0} messages echoed and verified: FAIL"
  exit 1
fi
