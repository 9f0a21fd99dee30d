#!/bin/sh
# SPDX-License-Identifier: MIT
# Linux <-> Windows interop check of the echo samples (the CTest test interop.echo of the mingw
# build, see samples/CMakeLists.txt):
#   (a) the Windows echo_server.exe under Wine serves the Linux echo_client;
#   (b) the Linux echo_server serves the Windows echo_client.exe under Wine.
# Each direction: 8 connections x 200 messages x 64 B, pipeline 4. The client checks every byte
# it gets back; the server must then report exactly those 102,400 bytes and exit by itself
# (--exit-after 8). Every wait is bounded (30 s at most).
#   scripts/interop.sh <wine> <windows samples dir> <linux samples dir>
# Skips when either build has no samples: a [sanport-skip] line says which, and the exit
# status is 77 (CTest's SKIP_RETURN_CODE).
set -u
wine=$1
win=$2
lin=$3
for f in "$win/echo_server.exe" "$win/echo_client.exe"; do
    [ -f "$f" ] || { echo "[sanport-skip] no Windows build at $win"; exit 77; }
done
for f in "$lin/echo_server" "$lin/echo_client"; do
    [ -x "$f" ] || { echo "[sanport-skip] no Linux build at $lin"; exit 77; }
done

connections=8 messages=200 size=64
bytes=$((connections * messages * size))
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# run <name> <server...> -- <client...>: the server on an ephemeral port, then the client.
run() {
    name=$1
    shift
    out="$work/$name.server"
    server=
    while [ "$1" != "--" ]; do server="$server '$1'"; shift; done
    shift
    # --seconds 30 bounds the server's life even where killing it fails: under Wine, $! is the
    # wine launcher, and killing it may leave the Windows process running until then.
    eval "$server --port 0 --exit-after $connections --seconds 30" >"$out" 2>&1 </dev/null &
    server_pid=$!
    port=
    i=0
    while [ $i -lt 300 ] && [ -z "$port" ]; do # up to 30 s: a cold Wine is slow to start
        port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$out")
        kill -0 "$server_pid" 2>/dev/null || break
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        echo "interop $name: the server did not report a port"
        cat "$out"
        return 1
    fi
    client_out=$(timeout 30 "$@" --port "$port" --connections $connections --messages $messages \
        --size $size --pipeline 4 --timeout 25 2>&1)
    client_rc=$?
    i=0
    while [ $i -lt 100 ] && kill -0 "$server_pid" 2>/dev/null; do # up to 10 s to exit
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null
        server_rc="no exit"
    else
        wait "$server_pid"
        server_rc=$?
    fi
    server_pid=
    summary=$(grep 'echo_server: connections=' "$out" | tr -d '\r')
    echo "interop $name:"
    echo "  $(printf '%s' "$client_out" | tr -d '\r')"
    echo "  $summary"
    expected="connections=$connections bytes=$bytes "
    if [ "$client_rc" != 0 ] || ! printf '%s' "$client_out" | grep -q 'verified=yes'; then
        echo "interop $name: FAILED: echo_client exit $client_rc"
        return 1
    fi
    case "$summary" in
    *"$expected"*) ;;
    *)
        echo "interop $name: FAILED: the server did not echo $bytes bytes on $connections connections"
        cat "$out"
        return 1
        ;;
    esac
    if [ "$server_rc" != 0 ]; then
        echo "interop $name: FAILED: echo_server exit $server_rc"
        cat "$out"
        return 1
    fi
}

status=0
run windows-server-linux-client "$wine" "$win/echo_server.exe" -- "$lin/echo_client" || status=1
run linux-server-windows-client "$lin/echo_server" -- "$wine" "$win/echo_client.exe" || status=1
exit $status
