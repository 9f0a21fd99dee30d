#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs every test: the whole suite (debug), the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer (zero reports, no
# suppressions: TSAN_OPTIONS=halt_on_error=1), the libFuzzer targets for a fixed number of
# executions each (scripts/fuzz.sh runs them for longer), a consumer built against the installed
# package (sanportConfig.cmake and sanport.pc), and the Windows build (mingw-w64) with its
# tests under Wine.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --windows --fuzz
cmake --workflow --preset test
scripts/check-package.sh build/dev
cmake --workflow --preset mingw
cmake --workflow --preset asan
cmake --workflow --preset tsan
cmake --workflow --preset fuzz
