# SPDX-License-Identifier: MIT
# The folder shows the architecture; this keeps it true (docs/design.md, "Layers"):
#  - core/ includes only <sanport/...>, core-local headers and the standard library;
#    no OS header, no liburing, no Boost, no platform #if;
#  - a backend never includes another backend;
#  - compat never includes core or backends;
#  - porting/include/ (public headers of sanport::porting) includes only <...> headers: other
#    public <sanport/...> headers, the standard library and the OS;
#  - porting/suite/ and porting/tool/ include public headers and the suite's own
#    "porting/suite/..." only, and never name sanport::detail: the suite reaches a provider
#    through its proc table alone, so it cannot lean on sanport's internals;
#  - porting/host/ includes its own "porting/host/..." headers and exactly two core internals,
#    "core/transfer.hpp" (complete_overlapped, where the WSAOVERLAPPED and event rules live) and
#    "core/completion_queue_impl.hpp" (the queue's post), so a ported provider's completions run
#    through sanport's own code; never a backend, never another core header;
#  - samples/ use public headers only: <sanport/...> and system headers, plus headers of their
#    own folder ("name.hpp", no path); no "core/", "backends/", "compat/", "porting/", "tests/"
#    and no detail:: anywhere;
#  - bench/ is held to the samples' rule, with tests/support/ helpers allowed (a socket pair);
#    a file that measures internals (sizeof of core state, a core lookup) may include "core/"
#    or "backends/" headers and name detail:: only if it says why on a line of its own:
#      // layering: internals because <reason>
set(std_headers algorithm array atomic cassert chrono climits condition_variable coroutine cstddef cstdint
    cstdio cstdlib cstring exception functional limits memory mutex new optional span string
    string_view
    thread tuple type_traits utility vector)
set(errors "")
set(include_regex "^[ \t]*#[ \t]*include[ \t]*[<\"]")
set(marker_regex "^// layering: internals because [^ ]")

file(GLOB_RECURSE core_files ${ROOT}/core/*.hpp ${ROOT}/core/*.cpp ${ROOT}/core/*.h)
foreach(f IN LISTS core_files)
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*(include|if|ifdef|ifndef|elif)")
  foreach(line IN LISTS lines)
    if(line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      set(h ${CMAKE_MATCH_1})
      if(h MATCHES "^sanport/" OR h MATCHES "^core/")
        continue()
      endif()
      list(FIND std_headers ${h} known)
      if(known EQUAL -1)
        string(APPEND errors "${f}: core includes <${h}>\n")
      endif()
    elseif(line MATCHES "(_WIN32|__linux__|__unix__|__APPLE__)")
      string(APPEND errors "${f}: platform #if in core: ${line}\n")
    endif()
  endforeach()
endforeach()

file(GLOB backend_dirs LIST_DIRECTORIES true ${ROOT}/backends/*)
foreach(dir IN LISTS backend_dirs)
  if(NOT IS_DIRECTORY ${dir})
    continue()
  endif()
  get_filename_component(name ${dir} NAME)
  file(GLOB_RECURSE files ${dir}/*.hpp ${dir}/*.cpp)
  foreach(f IN LISTS files)
    file(STRINGS ${f} lines REGEX "#[ \t]*include[ \t]*\"backends/")
    foreach(line IN LISTS lines)
      if(NOT line MATCHES "backends/${name}/")
        string(APPEND errors "${f}: backend ${name} includes another backend: ${line}\n")
      endif()
    endforeach()
  endforeach()
endforeach()

file(GLOB_RECURSE compat_files ${ROOT}/compat/*.h ${ROOT}/compat/*.hpp ${ROOT}/compat/*.cpp)
foreach(f IN LISTS compat_files)
  file(STRINGS ${f} lines REGEX "#[ \t]*include[ \t]*[<\"](core|backends)/")
  foreach(line IN LISTS lines)
    string(APPEND errors "${f}: compat includes core/backends: ${line}\n")
  endforeach()
endforeach()

# Every #include line of f whose header matches `bad` and not `allow` (regexes on the header's
# name with the quote or angle bracket in front: "\"core/" or "<core/"; "^$" allows nothing)
# is an error named `what`.
function(forbid_includes f bad allow what)
  file(STRINGS ${f} lines REGEX "${include_regex}")
  foreach(line IN LISTS lines)
    if(line MATCHES "#[ \t]*include[ \t]*([<\"][^>\"]+)[>\"]")
      set(h "${CMAKE_MATCH_1}")
      if(h MATCHES "${bad}" AND NOT h MATCHES "${allow}")
        string(APPEND errors "${f}: ${what}: ${line}\n")
      endif()
    endif()
  endforeach()
  set(errors "${errors}" PARENT_SCOPE)
endfunction()

# A line of f (outside // comments) that matches `bad` is an error named `what`.
function(forbid_code f bad what)
  file(STRINGS ${f} lines REGEX "${bad}")
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^[ \t]*//")
      string(APPEND errors "${f}: ${what}: ${line}\n")
    endif()
  endforeach()
  set(errors "${errors}" PARENT_SCOPE)
endfunction()

set(src_globs *.h *.hpp *.cpp)
macro(sources_of var dir)
  set(${var} "")
  foreach(g IN LISTS src_globs)
    file(GLOB_RECURSE found ${ROOT}/${dir}/${g})
    list(APPEND ${var} ${found})
  endforeach()
endmacro()

sources_of(porting_public porting/include)
foreach(f IN LISTS porting_public)
  forbid_includes(${f} "^\"" "^$" "a public porting header includes a private one")
endforeach()

sources_of(suite_files porting/suite)
sources_of(tool_files porting/tool)
foreach(f IN LISTS suite_files tool_files)
  forbid_includes(${f} "^\"" "^\"porting/suite/" "the suite includes outside porting/suite/")
  forbid_code(${f} "sanport::detail" "the suite names sanport internals")
endforeach()

sources_of(host_files porting/host)
foreach(f IN LISTS host_files)
  file(STRINGS ${f} lines REGEX "${include_regex}\"")
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "\"(porting/host/[^\"]+|core/transfer\\.hpp|core/completion_queue_impl\\.hpp)\"")
      string(APPEND errors "${f}: the host includes an internal it may not use: ${line}\n")
    endif()
  endforeach()
endforeach()

sources_of(sample_files samples)
foreach(f IN LISTS sample_files)
  forbid_includes(${f} "^\"[^\"]*/" "^$" "a sample includes a non-public header")
  forbid_includes(${f} "^<(core|backends|compat|porting|tests)/" "^$"
                  "a sample includes a non-public header")
  forbid_code(${f} "detail::|sanport::detail" "a sample names sanport internals")
endforeach()

sources_of(bench_files bench)
set(bench_marked 0)
foreach(f IN LISTS bench_files)
  forbid_includes(${f} "^<(core|backends|compat|porting|tests)/" "^$"
                  "bench includes a non-public header")
  file(STRINGS ${f} marker REGEX "${marker_regex}")
  if(marker)
    math(EXPR bench_marked "${bench_marked} + 1")
    continue()
  endif()
  set(why "uses internals without a '// layering: internals because ...' line")
  forbid_includes(${f} "^\"[^\"]*/" "^\"tests/support/" "bench ${why}")
  forbid_code(${f} "detail::|sanport::detail" "bench ${why}")
endforeach()

if(errors)
  message(FATAL_ERROR "layering violations:\n${errors}")
endif()
list(LENGTH core_files n_core)
list(LENGTH porting_public n1)
list(LENGTH suite_files n2)
list(LENGTH tool_files n3)
list(LENGTH host_files n4)
math(EXPR n_porting "${n1} + ${n2} + ${n3} + ${n4}")
list(LENGTH sample_files n_samples)
list(LENGTH bench_files n_bench)
message(STATUS "layering ok: ${n_core} core, ${n_porting} porting, ${n_samples} samples and "
               "${n_bench} bench files checked (${bench_marked} bench files say why they use "
               "internals)")
