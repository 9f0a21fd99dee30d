# SPDX-License-Identifier: MIT
# CTest smoke run of one fuzz target (tests/fuzz/CMakeLists.txt): a fixed number of executions
# from a fixed seed. libFuzzer writes new inputs only into the FIRST corpus directory, so that
# is an emptied scratch directory in the build tree; the committed corpus is only read.
foreach(var FUZZER SCRATCH CORPUS RUNS ARTIFACTS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "smoke.cmake: -D${var}=... missing")
  endif()
endforeach()
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${SCRATCH})
execute_process(
  COMMAND ${FUZZER} -runs=${RUNS} -seed=1 -max_len=512 -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix=${ARTIFACTS} ${SCRATCH} ${CORPUS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the reproducer is at ${ARTIFACTS}*")
endif()
