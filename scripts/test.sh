#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs every test: the whole suite (debug, with the lint tests: layering,
# formatting, file sizes, docs), the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
# and under ThreadSanitizer (zero reports, no suppressions: TSAN_OPTIONS=halt_on_error=1), the
# libFuzzer targets for a fixed number of executions each (scripts/fuzz.sh runs them for longer),
# a consumer built against the installed package (sanportConfig.cmake and sanport.pc), and the
# Windows build (mingw-w64) with its tests under Wine.
set -eu
cd "$(dirname "$0")/.."

# The mingw test preset runs a failed test once more (until-pass:2, CMakePresets.json says why).
# A retry must not go unseen: list the tests whose first run failed and whose second passed.
# CTest prints "Test #N: NAME ...***Failed" (or ***Timeout, ...) for the first run, then
# "Test #N: NAME ...   Passed" for the retry.
wine_retries() {
  awk '
    /Test +#[0-9]+: / {
      rest = $0; sub(/^.*Test +#/, "", rest)
      num = rest; sub(/:.*$/, "", num)
      name = rest; sub(/^[0-9]+: /, "", name); sub(/ \.+ *(\*\*\*|Passed).*$/, "", name)
      if ($0 ~ /\*\*\*/ && $0 !~ /\*\*\*(Skipped|Not Run)/) failed[num] = 1
      else if ($0 ~ /\.  *Passed/ && (num in failed) && !(num in listed)) {
        listed[num] = 1; retried[++n] = name
      }
    }
    END {
      if (n == 0) { print "wine retries: none"; exit }
      print "wine retries: " n " test(s) failed once and passed when run again:"
      for (i = 1; i <= n; ++i) print "  " retried[i]
    }' "$1"
}

scripts/install-deps.sh --windows --fuzz
cmake --workflow --preset test
scripts/check-package.sh build/dev
mkdir -p build
mingw_log=build/mingw-workflow.log
# The status is read back from this file: one left by an earlier run must never be read.
rm -f "$mingw_log.rc"
{
  rc=0
  cmake --workflow --preset mingw 2>&1 || rc=$?
  echo "$rc" >"$mingw_log.rc"
} | tee "$mingw_log"
wine_retries "$mingw_log"
mingw_rc=$(cat "$mingw_log.rc")
[ "$mingw_rc" -eq 0 ] || exit "$mingw_rc"
cmake --workflow --preset asan
cmake --workflow --preset tsan
cmake --workflow --preset fuzz
