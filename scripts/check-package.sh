#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the build tree given as $1 into a scratch prefix and builds a tiny consumer against
# it twice: with find_package(sanport) and with pkg-config. Both must build and run.
set -eu
build=${1:-build/dev}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/tests/package" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig" \
  sh -c 'c++ "$1" -o "$2" $(pkg-config --static --cflags --libs sanport)' _ \
  "$root/tests/package/consumer.cpp" "$work/consumer_pc"
"$work/consumer_pc"
echo "package: find_package and pkg-config consumers built and ran"
