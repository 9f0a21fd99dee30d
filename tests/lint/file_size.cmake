# SPDX-License-Identifier: MIT
# Around 300 lines is a comfortable file: list files above 400, fail above 600.
file(GLOB_RECURSE files ${ROOT}/core/*.[ch]pp ${ROOT}/core/*.h ${ROOT}/compat/*.[ch]pp
     ${ROOT}/compat/*.h ${ROOT}/backends/*.[ch]pp ${ROOT}/samples/*.cpp ${ROOT}/tests/*.[ch]pp)
set(errors "")
foreach(f IN LISTS files)
  file(STRINGS ${f} lines)
  list(LENGTH lines n)
  if(n GREATER 600)
    string(APPEND errors "${f}: ${n} lines (limit 600)\n")
  elseif(n GREATER 400)
    message(STATUS "large file: ${f}: ${n} lines")
  endif()
endforeach()
if(errors)
  message(FATAL_ERROR "${errors}")
endif()
