#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs every test: the whole suite (debug), the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, a consumer built against the installed
# package (sanportConfig.cmake and sanport.pc), and the Windows build (mingw-w64) with its
# tests under Wine.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --windows
cmake --workflow --preset test
scripts/check-package.sh build/dev
cmake --workflow --preset mingw
cmake --workflow --preset asan
