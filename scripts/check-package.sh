#!/bin/sh
# SPDX-License-Identifier: MIT
# The installed package, used the way a project outside this repository uses it. Two installs,
# each in its own prefix:
#   shared: the build folder $1 (default build/dev, which builds libsanport.so too), installed;
#   static: a library-only build with -DSANPORT_BUILD_SHARED=OFF (made here, in a scratch
#           folder), installed.
# Against each, tests/package's consumer is built through find_package(sanport) and through
# pkg-config (sanport.pc, and sanport-static.pc, which names the archive by path), and run. It checks its version header against the version the package reported
# and prints which object its sanport code came from; this script checks that object: the
# prefix's libsanport.so for a shared link, the program itself for a static one. The shared
# library must export nothing of sanport::detail.
# shellcheck disable=SC2046 # pkg-config's output is split into words on purpose
set -eu
build=${1:-build/dev}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "package: FAIL: $*" >&2; exit 1; }

# libdir PREFIX: where the install put the libraries (lib, lib64, ...: GNUInstallDirs decides).
libdir() {
  pcfile=$(find "$1" -name sanport.pc | head -n 1)
  [ -n "$pcfile" ] || fail "no sanport.pc under $1"
  dirname "$(dirname "$pcfile")"
}

# run NAME EXPECT: runs $work/NAME; EXPECT is "shared:LIBDIR" (sanport's code must come from
# LIBDIR/libsanport.so, and ldd must name it) or "static" (from the program itself).
run() {
  exe=$work/$1
  out=$("$exe") || { printf '%s\n' "$out"; fail "$1 failed"; }
  printf '%s\n' "$out" | sed "s|^|  $1: |"
  from=$(printf '%s\n' "$out" | sed -n 's/^consumer: loaded from: //p')
  [ -n "$from" ] || fail "$1 did not say where sanport was loaded from"
  case $2 in
  shared:*)
    dir=${2#shared:}
    want=$(realpath "$dir/libsanport.so")
    [ "$(realpath "$from")" = "$want" ] || fail "$1 ran sanport from $from, not $want"
    ldd "$exe" | grep -q "libsanport\.so[^ ]* => $dir/" ||
      fail "$1: ldd does not name $dir/libsanport.so"
    ;;
  static)
    [ "$(realpath "$from")" = "$(realpath "$exe")" ] || fail "$1 ran sanport from $from"
    if ldd "$exe" | grep -q libsanport; then fail "$1 links libsanport.so"; fi
    ;;
  esac
}

# cmake_consumer PREFIX NAME [COMPONENT]: the consumer through find_package.
cmake_consumer() {
  cmake -S "$root/tests/package" -B "$work/$2.build" -G Ninja -DCMAKE_PREFIX_PATH="$1" \
    -DSANPORT_COMPONENTS="${3:-}" >/dev/null
  cmake --build "$work/$2.build" >/dev/null
  cp "$work/$2.build/consumer" "$work/$2"
}

# pc PREFIX ARGS...: pkg-config on that prefix's sanport.pc only.
pc() {
  prefix=$1
  shift
  pc_module "$prefix" sanport "$@"
}

# pc_module PREFIX MODULE ARGS...: pkg-config on that prefix's MODULE.pc (sanport,
# sanport-static).
pc_module() {
  prefix=$1
  module=$2
  shift 2
  PKG_CONFIG_PATH="$(libdir "$prefix")/pkgconfig" pkg-config "$@" "$module"
}

# pc_archive PREFIX NAME: the consumer linked with `pkg-config --libs sanport-static`, which
# names the archive by its path: it must contain sanport's code and need no libsanport.so.
pc_archive() {
  libs=$(pc_module "$1" sanport-static --libs)
  archive=
  for word in $libs; do
    case $word in */libsanport.a) archive=$word ;; esac
  done
  want=$(realpath "$(libdir "$1")/libsanport.a")
  if [ -z "$archive" ] || [ "$(realpath "$archive")" != "$want" ]; then
    fail "pkg-config --libs sanport-static does not name $want: $libs"
  fi
  echo "package: pkg-config --libs sanport-static = $libs"
  # shellcheck disable=SC2086 # split into words on purpose, as pkg-config's output above
  pc_consumer "$1" "$2" $libs
  run "$2" static
}

# pc_consumer PREFIX NAME LINK-FLAGS...: the consumer compiled by hand with pkg-config's flags.
pc_consumer() {
  prefix=$1
  name=$2
  shift 2
  version=$(pc "$prefix" --modversion)
  ${cxx:-c++} "$root/tests/package/consumer.cpp" -o "$work/$name" $(pc "$prefix" --cflags) \
    "-DSANPORT_EXPECTED_VERSION=\"$version\"" "$@"
}

# --- shared install: the build folder as it is ------------------------------------------
shared=$work/shared
cmake --install "$build" --prefix "$shared" >/dev/null
lib=$(libdir "$shared")
[ -f "$lib/libsanport.so" ] || fail "$build has no libsanport.so (SANPORT_BUILD_SHARED=OFF?)"
[ -f "$lib/libsanport.a" ] || fail "$build's install has no libsanport.a"
[ -f "$shared/share/doc/sanport/LICENSE" ] || fail "LICENSE is not installed"
soname=$(objdump -p "$lib/libsanport.so" | sed -n 's/^ *SONAME *//p')
echo "package: shared install: $(basename "$(realpath "$lib/libsanport.so")"), SONAME $soname"
# The exported symbols: the public API and compat, nothing of sanport::detail.
nm -D --defined-only -C "$lib/libsanport.so" | cut -d' ' -f3- >"$work/exported"
if grep -E '^((typeinfo|typeinfo name|vtable) for )?sanport::detail::' "$work/exported"; then
  fail "libsanport.so exports sanport::detail symbols (above)"
fi
for symbol in 'sanport::WSPRecv(' 'sanport::completion_queue::dequeue(' 'WSACreateEvent('; do
  grep -qF "$symbol" "$work/exported" || fail "libsanport.so does not export $symbol"
done
echo "package: libsanport.so exports $(wc -l <"$work/exported") symbols, none of sanport::detail"

cmake_consumer "$shared" cmake_shared
run cmake_shared "shared:$lib"
cmake_consumer "$shared" cmake_shared_static static
run cmake_shared_static static
pc_consumer "$shared" pc_shared $(pc "$shared" --libs) "-Wl,-rpath,$lib"
run pc_shared "shared:$lib"
# -lsanport names the .so and the archive alike and the linker prefers the .so: the archive
# is picked by linking statically around pkg-config's --static flags.
pc_consumer "$shared" pc_shared_static -Wl,-Bstatic $(pc "$shared" --static --libs) -Wl,-Bdynamic
run pc_shared_static static
# ... or sanport-static.pc names the archive itself, with no linker option around it.
pc_archive "$shared" pc_shared_archive

# --- static-only install: a library-only build without the shared library -----------------
# No optimisation and no debug information: it is compiled only to be installed and linked.
# Link-time optimisation on, as the lib preset builds it: with GCC the archive's objects carry
# machine code beside their LTO sections (-ffat-lto-objects), which a clang consumer links.
cmake -S "$root" -B "$work/static.build" -G Ninja -DSANPORT_BUILD_SHARED=OFF \
  -DSANPORT_BUILD_TESTS=OFF -DSANPORT_BUILD_SAMPLES=OFF -DSANPORT_BUILD_BENCH=OFF \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON >/dev/null
cmake --build "$work/static.build" >/dev/null
static=$work/static
cmake --install "$work/static.build" --prefix "$static" >/dev/null
if [ -e "$(libdir "$static")/libsanport.so" ]; then fail "the static-only install has libsanport.so"; fi
echo "package: static-only install: pkg-config --libs sanport = $(pc "$static" --libs)"
cmake_consumer "$static" cmake_static
run cmake_static static
pc_consumer "$static" pc_static $(pc "$static" --libs)
run pc_static static
pc_archive "$static" pc_static_archive
if command -v clang++ >/dev/null 2>&1; then
  cxx=clang++ pc_consumer "$static" pc_static_clang $(pc "$static" --libs)
  run pc_static_clang static
  echo "package: the LTO archive links with clang++ too"
fi

echo "package: PASS: shared and static installs, each through find_package and pkg-config" \
  "(sanport and sanport-static)"
