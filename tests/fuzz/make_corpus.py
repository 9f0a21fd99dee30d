#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of tests/fuzz (run from anywhere; rewrites the seed_* files).

fuzz_recv_stream: byte 0 = set-up bits (1 completion queue, 2 skip-on-success, 4 WSAEDISCON
mode, 8 read-ahead (bits 6-7: size), 16 strict registration, 32 SO_KEEPALIVE), then ops:
  0 RECV nbufs lens.. flags how   1 SEND len how cut   2 DELIVER n   3 EOF   4 ERROR k
  5 RACE a b   6 SHUTDOWN how   7 CLOSE   8 RESULT i   9 REGISTER a   10 DEREGISTER i
  11 REAP   12 DRAIN   13 SEND_DONE a   14 MODE a
fuzz_recv_args: see fuzz_recv_args.cpp (calls of 16 bytes each).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
RECV, SEND, DELIVER, EOF, ERROR, RACE, SHUT, CLOSE, RESULT, REG, DEREG, REAP, DRAIN, SDONE, MODE = range(15)


def recv(lens, flags=0, how=0):
    return [RECV, len(lens) - 1] + list(lens) + [flags, how]


STREAM = {
    # several receives, segments of every size, posting order
    "order": [1] + recv([3, 4]) + recv([1]) + recv([5, 0, 2]) + recv([8]) +
             [DELIVER, 2, REAP, DELIVER, 9, REAP, DELIVER, 1, REAP, DELIVER, 30, REAP, DRAIN],
    # MSG_WAITALL re-armed, then FIN: the partial one keeps its bytes
    "waitall_fin": [1] + recv([4, 6], 2, 1) + recv([5]) + [DELIVER, 3, REAP, DELIVER, 2, REAP,
                    EOF, REAP, DRAIN] + recv([4]) + [DRAIN],
    # data, RST (sticky), receives and sends after it
    "rst": [3] + recv([8]) + recv([8], 2) + [DELIVER, 5, REAP, ERROR, 0, REAP] + recv([4]) +
           [SEND, 5, 0, 2, DRAIN, RESULT, 1],
    # a cancel that races with data at close, sends pending
    "close_race": [1] + recv([16], 0, 1) + recv([16]) + [SEND, 10, 1, 3, REAP, SDONE, 3 << 3,
                   RACE, 1 | (6 << 2), 4, CLOSE, DRAIN, RESULT, 0, RESULT, 1],
    # zero-byte receive (probe), peek, then data
    "probe_peek": [1] + recv([0]) + [DELIVER, 4, REAP] + recv([8], 1) + [DELIVER, 4, REAP] +
                  recv([8]) + [DELIVER, 4, REAP, DRAIN],
    # registered memory: receive into it, deregister while pending (refused), after (ok)
    "registered": [1, REG, 3] + recv([8, 8], 0, 4) + [DEREG, 0, DELIVER, 16, REAP, DEREG, 0,
                   REG, 1] + recv([4], 0, 4 | 8) + [DRAIN],
    # read-ahead: immediate completions, peek from the buffer, skip-on-success
    "read_ahead": [1 | 2 | 8 | (1 << 6), DELIVER, 8, REAP] + recv([3]) + recv([10], 1) +
                  recv([10]) + [DELIVER, 5] + recv([2]) + [REAP, DRAIN],
    # shutdown both ways with receives pending, WSAEDISCON mode, keep-alive time-out
    "shutdown": [1 | 4 | 32] + recv([6]) + [SHUT, 0] + recv([6]) + [SEND, 4, 0, 0, SHUT, 1,
                 REAP, SDONE, 4 << 3, REAP, ERROR, 2, REAP, SHUT, 3, DRAIN],
    # strict registration, low bit of hEvent, WSPGetOverlappedResult on pending ops
    "strict_lowbit": [1 | 16] + recv([4]) + [REG, 3] + recv([4], 0, 2 | 4) + [RESULT, 1,
                      DELIVER, 3, REAP, RESULT, 1, MODE, 1, CLOSE, DRAIN],
}

# fuzz_recv_args: a socket set-up byte, then calls (each: selector byte + 15 argument bytes,
# the first of which picks the socket: 0 is the good one). Below, each call is written without
# that socket byte; with_socket() puts a 0 in, so every seed starts on the good socket.
ARGS_WITHOUT_SOCKET = {
    "nulls": bytes([0]) + bytes([0, 0, 0, 1, 0] + [0] * 11) + bytes([0, 1, 0, 0, 0] + [0] * 11),
    "counts": bytes([1]) + bytes([0, 1, 2, 3, 0xff, 0xff, 0xff, 0xff] + [0] * 8) +
              bytes([0, 1, 1, 0, 0x01, 0x10, 0, 0] + [0] * 8),
    "lengths": bytes([0]) + bytes([0, 1, 1, 4, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0]),
    "flags": bytes([0]) + bytes([0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 0x80, 0]),
    "memory": bytes([0]) + bytes([3, 1, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]) +
              bytes([4, 0, 0, 0, 1, 0, 0, 0] + [0] * 8) + bytes([4, 2] + [0] * 14),
    "shutdown_send": bytes([2]) + bytes([5, 9, 0, 0] + [0] * 12) + bytes([1, 1, 1, 2, 8] + [0] * 11)
                     + bytes([2, 1, 0, 0] + [0] * 12),
}



def with_socket(data):
    out = bytearray(data[:1])
    for at in range(1, len(data), 16):
        call = data[at:at + 16]
        out += (call[:1] + bytes([0]) + call[1:])[:16]
    return bytes(out)


ARGS = {k: with_socket(v) for k, v in ARGS_WITHOUT_SOCKET.items()}


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(bytes(data))


if __name__ == "__main__":
    for k, v in STREAM.items():
        write("recv_stream", k, v)
    for k, v in ARGS.items():
        write("recv_args", k, v)
