# SPDX-License-Identifier: MIT
# The echo demo: starts echo_server on an ephemeral loopback port, drives it with echo_client,
# stops the server with SIGINT and prints both summary lines (the client's counts messages echoed
# and verified, the server's counts receive completions, which are not messages: TCP packs
# across message boundaries). Fails if either program fails.
#   cmake -DSERVER=<echo_server> -DCLIENT=<echo_client> -P run_demo.cmake
# (the run_demo target and `cmake --workflow --preset demo` do this). Linux only: it uses sh.
cmake_minimum_required(VERSION 3.25)

if(NOT SERVER OR NOT CLIENT)
  message(FATAL_ERROR "usage: cmake -DSERVER=<echo_server> -DCLIENT=<echo_client> -P run_demo.cmake")
endif()
if(CMAKE_HOST_WIN32)
  message(FATAL_ERROR "run_demo.cmake needs a POSIX shell (the samples use POSIX signals)")
endif()

# Scratch files next to the server binary, unique per run.
get_filename_component(bin_dir "${SERVER}" DIRECTORY)
string(RANDOM LENGTH 8 run_id)
set(work "${bin_dir}/run_demo.${run_id}")
file(MAKE_DIRECTORY "${work}")
set(out "${work}/server.out")
set(err "${work}/server.err")
set(pid_file "${work}/server.pid")
set(rc_file "${work}/server.rc")

# Start the server in the background. The subshell records the server's pid, waits for it and
# records its exit code; its own output goes to /dev/null so execute_process returns at once.
# --seconds 20 bounds its life even if this script is interrupted.
execute_process(
  COMMAND sh -c [[( "$1" --port 0 --seconds 20 >"$2" 2>"$3" & echo $! >"$4"; wait $!; echo $? >"$5" ) >/dev/null 2>&1 </dev/null &]]
          sh "${SERVER}" "${out}" "${err}" "${pid_file}" "${rc_file}"
  RESULT_VARIABLE started)
if(NOT started EQUAL 0)
  message(FATAL_ERROR "run_demo: could not start ${SERVER}")
endif()

# Waits up to `tenths` tenths of a second until `file` exists and matches `regex`.
function(wait_for file regex tenths result)
  set(${result} "" PARENT_SCOPE)
  foreach(i RANGE ${tenths})
    if(EXISTS "${file}")
      file(READ "${file}" text)
      if(text MATCHES "${regex}")
        set(${result} "${CMAKE_MATCH_1}" PARENT_SCOPE)
        return()
      endif()
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.1)
  endforeach()
endfunction()

# Sends SIGINT, waits up to 5 s for the exit code (SIGKILL after that), returns the code.
function(stop_server result)
  wait_for("${pid_file}" "([0-9]+)" 20 pid)
  if(pid)
    execute_process(COMMAND kill -INT ${pid} OUTPUT_QUIET ERROR_QUIET)
  endif()
  wait_for("${rc_file}" "([0-9]+)" 50 rc)
  if(rc STREQUAL "")
    if(pid)
      execute_process(COMMAND kill -KILL ${pid} OUTPUT_QUIET ERROR_QUIET)
    endif()
    set(rc "no exit within 5 s of SIGINT")
  endif()
  set(${result} "${rc}" PARENT_SCOPE)
endfunction()

function(server_text var)
  set(text "")
  foreach(f "${out}" "${err}")
    if(EXISTS "${f}")
      file(READ "${f}" part)
      string(APPEND text "${part}")
    endif()
  endforeach()
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

# The server prints "echo_server: listening on 127.0.0.1:PORT (NAME backend)" once it accepts
# connections.
wait_for("${out}" "listening on [0-9.]+:([0-9]+)" 50 port)
wait_for("${out}" "listening on [^\n]*\\(([a-z_]+) backend\\)" 1 server_backend)
if(NOT port)
  stop_server(rc)
  server_text(text)
  file(REMOVE_RECURSE "${work}")
  message(FATAL_ERROR "run_demo: the server did not report a port within 5 s\n${text}")
endif()
message(STATUS "echo_server listening on 127.0.0.1:${port} (${server_backend} backend)")

# 64 connections x 2,000 messages x 64 bytes, 4 messages in flight per connection.
execute_process(
  COMMAND "${CLIENT}" --port ${port} --connections 64 --messages 2000 --size 64 --pipeline 4
          --timeout 30
  RESULT_VARIABLE client_rc OUTPUT_VARIABLE client_out ERROR_VARIABLE client_err TIMEOUT 40)

stop_server(server_rc)
server_text(server_out)
file(REMOVE_RECURSE "${work}")

string(STRIP "${client_out}${client_err}" client_out)
string(REGEX MATCH "echo_server: connections=[^\n]*" server_summary "${server_out}")
message("${client_out}")
message("${server_summary}")
if(NOT client_rc EQUAL 0)
  message(FATAL_ERROR "run_demo: echo_client failed (${client_rc})")
endif()
if(NOT server_rc EQUAL 0 OR NOT server_summary)
  message(FATAL_ERROR "run_demo: echo_server failed (${server_rc})\n${server_out}")
endif()
