#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages sanport builds and tests with, if any is missing.
# Everything comes from Debian: nothing is downloaded at build time, nothing is vendored.
#   scripts/install-deps.sh            the Linux build, tests and samples
#   scripts/install-deps.sh --windows  also the Windows leg: mingw-w64 (the -posix thread model,
#                                      for std::thread) cross-builds, Wine runs the tests
#   scripts/install-deps.sh --bench    also what the full benchmark needs (scripts/bench.sh):
#                                      plots, perf tracepoints, callgrind
#   scripts/install-deps.sh --fuzz     also clang and libFuzzer's runtime (the fuzz preset)
set -eu
packages="cmake ninja-build g++ pkg-config liburing-dev libboost-dev doctest-dev libbenchmark-dev"
# clang-format: the lint.format test (tests/lint/format.cmake) checks every tracked C++ file.
packages="$packages python3 clang-format"
for arg in "$@"; do
  case "$arg" in
    --windows) packages="$packages g++-mingw-w64-x86-64-posix wine wine64" ;;
    --bench) packages="$packages python3-matplotlib linux-perf valgrind strace" ;;
    --fuzz) packages="$packages clang libclang-rt-14-dev" ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  # Not root and no sudo: say what root has to run rather than fail on "sudo: not found".
  echo "sanport: missing Debian packages:$missing" >&2
  echo "sanport: not root and sudo is not installed; as root, run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "sanport: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
