#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds sanport and runs the demo: echo server and client together on loopback.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset demo
