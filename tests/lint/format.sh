#!/bin/sh
# SPDX-License-Identifier: MIT
# The lint.format test: runs format.cmake and exits 77 (CTest's SKIP_RETURN_CODE) when it says
# the check cannot run here (no git or clang-format, outside CI), which a cmake -P script cannot
# do itself. It says so through a file, not its output: printed text never decides the status.
#   sh format.sh <cmake> <source dir>
set -u
[ $# -eq 2 ] || { echo "usage: sh format.sh <cmake> <source dir>" >&2; exit 2; }
skip_dir=$(mktemp -d) || exit 1
trap 'rm -rf "$skip_dir"' EXIT
"$1" -DROOT="$2" -DSKIP_FILE="$skip_dir/skipped" -P "$(dirname "$0")/format.cmake"
rc=$?
if [ "$rc" -eq 0 ] && [ -e "$skip_dir/skipped" ]; then
    exit 77
fi
exit "$rc"
