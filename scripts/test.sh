#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs every test: the whole suite (debug), the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a consumer built against the installed
# package (sanportConfig.cmake and sanport.pc).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset test
cmake --workflow --preset asan
scripts/check-package.sh build/dev
