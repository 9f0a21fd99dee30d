# SPDX-License-Identifier: MIT
# The folder shows the architecture; this keeps it true:
#  - core/ includes only <sanport/...>, core-local headers and the standard library;
#    no OS header, no liburing, no Boost, no platform #if;
#  - a backend never includes another backend;
#  - compat never includes core or backends.
set(std_headers algorithm array atomic cassert chrono climits condition_variable cstddef cstdint
    cstdio cstdlib cstring functional limits memory mutex new optional span string string_view
    thread tuple type_traits utility vector)
set(errors "")

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

if(errors)
  message(FATAL_ERROR "layering violations:\n${errors}")
endif()
list(LENGTH core_files n)
message(STATUS "layering ok: ${n} core files checked")
