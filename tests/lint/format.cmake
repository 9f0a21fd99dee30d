# SPDX-License-Identifier: MIT
# Every tracked C++ file (*.cpp *.hpp *.h *.c in `git ls-files`) is as the repository's
# .clang-format wants it: `clang-format --dry-run -Werror` reports no difference. The style file
# is written for clang-format 14 (Debian bookworm), so clang-format-14 is preferred when both
# exist. Without git, a git checkout or clang-format the check cannot run: with CI set (CI=true,
# as .ci/run sets it) that is a failure; elsewhere a visible skip: a [sanport-skip] line, and
# the file SKIP_FILE (when given) is written, from which format.sh exits 77 -- a cmake -P script
# can only exit 0 or 1. On a difference it prints the file names and the command that fixes
# them, not clang-format's diagnostics: those quote whole source lines by the hundred.
#   cmake -DROOT=<source dir> [-DSKIP_FILE=<path>] -P format.cmake
cmake_minimum_required(VERSION 3.25)

if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source dir> -P format.cmake")
endif()

# A macro, so that return() ends the script.
macro(cannot_run why)
  if("$ENV{CI}" MATCHES "^([Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss])$")
    message(FATAL_ERROR "lint.format cannot run in CI: ${why}")
  endif()
  message("[sanport-skip] lint.format cannot run: ${why}")
  if(SKIP_FILE)
    file(WRITE "${SKIP_FILE}" "${why}\n")
  endif()
  return()
endmacro()

find_program(GIT git)
if(NOT GIT)
  cannot_run("git not found (the tracked files come from `git ls-files`)")
endif()
find_program(CLANG_FORMAT NAMES clang-format-14 clang-format)
if(NOT CLANG_FORMAT)
  cannot_run("clang-format not found (Debian package clang-format; scripts/install-deps.sh)")
endif()

execute_process(COMMAND ${GIT} ls-files -- *.cpp *.hpp *.h *.c
                WORKING_DIRECTORY ${ROOT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE listed ERROR_VARIABLE git_err)
if(NOT rc EQUAL 0)
  string(STRIP "${git_err}" git_err)
  cannot_run("`git ls-files` failed in ${ROOT}: ${git_err}")
endif()
string(REPLACE "\n" ";" listed "${listed}")
set(files "")
foreach(f IN LISTS listed)
  # A tracked file deleted in the working tree (a move not yet committed) has nothing to check.
  if(f AND EXISTS "${ROOT}/${f}")
    list(APPEND files "${f}")
  endif()
endforeach()
list(LENGTH files n)
if(n EQUAL 0)
  message(FATAL_ERROR "lint.format: `git ls-files` lists no C++ file in ${ROOT}")
endif()

execute_process(COMMAND ${CLANG_FORMAT} --version OUTPUT_VARIABLE version
                OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${files}
                WORKING_DIRECTORY ${ROOT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  # One "file:line:col: error: code should be clang-formatted" per difference: name each file.
  string(REGEX MATCHALL "[^\n]+:[0-9]+:[0-9]+: error: code should be clang-formatted" hits
         "${err}")
  set(bad "")
  foreach(hit IN LISTS hits)
    string(REGEX REPLACE ":[0-9]+:[0-9]+: error: .*" "" f "${hit}")
    list(APPEND bad "${f}")
  endforeach()
  if(NOT bad)
    # Not a difference (a bad .clang-format, an unreadable file): its own message says what.
    message(FATAL_ERROR "lint.format: ${CLANG_FORMAT} failed (${rc}):\n${err}${out}")
  endif()
  list(REMOVE_DUPLICATES bad)
  list(LENGTH bad nbad)
  list(JOIN bad " " bad_text)
  message(FATAL_ERROR "${nbad} of ${n} tracked C++ files are not clang-format clean (${version}):\n"
          "  ${bad_text}\nFix (from ${ROOT}): ${CLANG_FORMAT} -i ${bad_text}")
endif()
message(STATUS "format ok: ${n} tracked C++ files clang-format clean (${version})")
