#!/bin/sh
# SPDX-License-Identifier: MIT
# Syscalls per steady-state receive of bench/recv_counters, counted by strace.
#
#   scripts/measure_syscalls.sh [path/to/recv_counters] [receives]
#
# Runs the bench under `strace -f -c` once per mode (default engine, --driven) and prints, per
# receive: every syscall of the process, the same without the peer thread's sendto calls (the
# bench's own load generator; sanport never calls sendto on this path), and io_uring_enter
# alone. strace slows every syscall down, so the run is shorter (default 50,000 receives) and
# the rates it prints are not meaningful. When perf is usable, the same counts are taken again
# at full speed with perf's syscall tracepoints (lines "syscalls(perf):"). The counts cover the whole run,
# set-up and warm-up included (a few hundred calls for 64 sockets: noise at 50,000 receives).
set -eu

bench=${1:-build/dev/bench/recv_counters}
receives=${2:-50000}
command -v strace >/dev/null 2>&1 || { echo "measure_syscalls: strace not found" >&2; exit 2; }
[ -x "$bench" ] || { echo "measure_syscalls: $bench not built (cmake --build <dir> --target recv_counters)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

for mode in default driven; do
    flag=
    [ "$mode" = driven ] && flag=--driven
    # shellcheck disable=SC2086
    strace -f -c -o "$tmp/$mode.strace" "$bench" $flag --receives "$receives" >"$tmp/$mode.out"
    cat "$tmp/$mode.out"
    total=$(sed -n 's/.*receives_total=\([0-9]*\).*/\1/p' "$tmp/$mode.out")
    # strace -c table: "% time seconds usecs/call calls errors syscall"; the total line is
    # "100.00 ... total" with calls in column 4 (errors column may be empty).
    awk -v n="$total" -v mode="$mode" '
        $NF == "total" { all = $4 }
        $NF == "sendto" { sendto = $4 }
        $NF == "io_uring_enter" { enter = $4 }
        $NF == "futex" { futex = $4 }
        END {
            if (n == 0) { print "syscalls: mode=" mode " no receives"; exit 1 }
            printf "syscalls: mode=%s receives=%d all=%d per_recv=%.3f without_peer_sendto=%.3f io_uring_enter=%d per_recv=%.3f futex_per_recv=%.3f\n",
                   mode, n, all, all / n, (all - sendto) / n, enter, enter / n, futex / n
        }' "$tmp/$mode.strace"
    echo "--- strace -c ($mode), top entries"
    head -n 14 "$tmp/$mode.strace"

    # strace changes the pace (every syscall costs tens of microseconds), and with it how often
    # the engine sleeps and must be woken. Where perf's syscall tracepoints work, count again at
    # full speed; these are the numbers to quote for the real cost.
    if command -v perf >/dev/null 2>&1 && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        perf stat -x, -o "$tmp/$mode.perf" -e raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_sendto \
            -- "$bench" $flag --receives "$receives" >"$tmp/$mode.pout"
        cat "$tmp/$mode.pout"
        ptotal=$(sed -n 's/.*receives_total=\([0-9]*\).*/\1/p' "$tmp/$mode.pout")
        awk -F, -v n="$ptotal" -v mode="$mode" '
            $3 == "raw_syscalls:sys_enter" { all = $1 }
            $3 == "syscalls:sys_enter_io_uring_enter" { enter = $1 }
            $3 == "syscalls:sys_enter_futex" { futex = $1 }
            $3 == "syscalls:sys_enter_write" { wr = $1 }
            $3 == "syscalls:sys_enter_sendto" { sendto = $1 }
            END {
                if (n == 0) exit 1
                printf "syscalls(perf): mode=%s receives=%d all=%d per_recv=%.3f without_peer_sendto=%.3f io_uring_enter_per_recv=%.3f futex_per_recv=%.3f write_per_recv=%.3f\n",
                       mode, n, all, all / n, (all - sendto) / n, enter / n, futex / n, wr / n
            }' "$tmp/$mode.perf"
    fi
done
