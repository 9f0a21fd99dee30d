#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Load through the echo server: 10,000 client connections to samples/echo_server, every one
# echoed once (so the server has accepted it, and has a receive pending again once the echo's
# send completed), then kept idle; SIGINT with all 10,000 open. Required: exit status 0 within
# a bound (under the asan preset that includes LeakSanitizer's verdict: it exits non-zero on a
# leak), the summary line reporting all 10,000 connections, and nothing else on stderr.
#
#   echo_server_load.py <echo_server> [--connections N]
#
# Connections open in waves of 500, each wave echoed before the next, so the server's listen
# backlog never holds more than one wave. Prints "[sanport-skip] ..." and exits 77 (CTest's
# SKIP_RETURN_CODE) when the descriptor limit cannot hold N connections in this process (the
# server needs as many again).
import argparse
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import time

WAVE = 500
MARGIN = 64
STEP_S = 20.0  # bound on every wait


def fail(msg):
    print("echo_server_load: FAILED: " + msg, flush=True)
    sys.exit(1)


def recv_exactly(sock, n, deadline):
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return data
        poller = select.poll()  # select() cannot take descriptors above 1023
        poller.register(sock, select.POLLIN)
        if not poller.poll(left * 1000):
            return data
        chunk = sock.recv(n - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--connections", type=int, default=10000)
    args = ap.parse_args()
    n = args.connections

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + MARGIN:
        print(f"[sanport-skip] RLIMIT_NOFILE hard limit {hard} < {n + MARGIN}", flush=True)
        return 77
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it

    server = subprocess.Popen([args.server, "--port", "0", "--seconds", "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, restore_signals=True)
    socks = []
    try:
        # "echo_server: listening on 127.0.0.1:PORT (... backend)"
        r, _, _ = select.select([server.stdout], [], [], STEP_S)
        line = server.stdout.readline().decode() if r else ""
        m = re.search(r"listening on [0-9.]+:([0-9]+) \((\S+) backend\)", line)
        if not m:
            fail(f"no 'listening on' line within {STEP_S} s: {line!r}")
        port, backend = int(m.group(1)), m.group(2)

        t0 = time.monotonic()
        for base in range(0, n, WAVE):
            wave = []
            for i in range(base, min(base + WAVE, n)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(STEP_S)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.connect(("127.0.0.1", port))
                s.setblocking(False)
                socks.append(s)
                wave.append((i, s))
            for i, s in wave:
                s.sendall(b"E%07d" % i)  # 8 bytes; fits the socket buffer, never blocks
            deadline = time.monotonic() + STEP_S
            for i, s in wave:
                got = recv_exactly(s, 8, deadline)
                if got != b"E%07d" % i:
                    fail(f"connection {i}: echo {got!r}, expected {b'E%07d' % i!r}")
        open_s = time.monotonic() - t0
        time.sleep(0.5)  # the echoes' sends complete; every connection has a receive pending

        if server.poll() is not None:
            fail(f"the server exited early with {server.returncode}")
        t1 = time.monotonic()
        server.send_signal(signal.SIGINT)
        try:
            out, err = server.communicate(timeout=STEP_S)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
            fail(f"no exit within {STEP_S} s of SIGINT\n{err.decode(errors='replace')}")
        stop_s = time.monotonic() - t1
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        summary = re.search(
            r"echo_server: connections=(\d+) bytes=(\d+) receive_completions=(\d+)", out)
        print(f"load: echo_server backend={backend} connections={n} open+echo={open_s:.2f}s "
              f"sigint_to_exit={stop_s:.2f}s exit={server.returncode} "
              f"summary={summary.group(0) if summary else None!r}", flush=True)
        if server.returncode != 0:
            fail(f"exit status {server.returncode}\n{err}")
        if not summary:
            fail(f"no summary line\n{out}")
        if int(summary.group(1)) != n or int(summary.group(3)) != n:
            fail(f"summary reports {summary.group(1)} connections and {summary.group(3)} "
                 f"receive completions, expected {n} and {n}")
        if err.strip():
            fail(f"the server wrote to stderr:\n{err}")
        # After the server closed everything, every client sees the end of its stream.
        deadline = time.monotonic() + STEP_S
        not_closed = 0
        for s in socks:
            s.setblocking(True)
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if s.recv(1) != b"":
                    not_closed += 1
            except ConnectionResetError:
                pass
            except OSError:
                not_closed += 1
        if not_closed:
            fail(f"{not_closed} client connections were not closed by the server")
        print("load: echo_server verified", flush=True)
        return 0
    finally:
        for s in socks:
            s.close()
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
