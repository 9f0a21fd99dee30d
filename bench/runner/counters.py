# SPDX-License-Identifier: MIT
# The counters pass (after the timed repetitions) and the two non-server benchmarks:
#   syscalls per message on multi64 (perf raw_syscalls tracepoint, else strace -c),
#   user-space instructions per message under callgrind (two message counts, difference), and
#   with callgrind's cache simulation at 10,000 connections, cache misses per message,
#   bench_recv_immediate (Google Benchmark, medians) and bench_memory (one JSON object).
#
# Why counters are a separate pass: perf/strace/valgrind slow the server down, so their runs
# must never feed the timed figures. Callgrind takes two runs with N1 and N2 messages and
# reports (Ir2 - Ir1) / (N2 - N1), which cancels start-up, accept and shutdown exactly.
import os
import re
import shutil
import subprocess
import tempfile
import time

from .proc import RunError, Server, parse_json_output, pinned, run_json, spawn_tool, stop_tool
from .workloads import BY_NAME, SERVERS, client_argv, client_timeout, server_argv


def perf_usable():
    if shutil.which("perf") is None:
        return False
    try:
        res = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                             capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and b"raw_syscalls:sys_enter" in res.stderr \
        and b"not supported" not in res.stderr


def syscall_tool():
    if perf_usable():
        return "perf"
    return "strace" if shutil.which("strace") else None


def _count_perf(path):
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[2].startswith("raw_syscalls:sys_enter"):
                return int(parts[0])  # "<not counted>" raises ValueError -> failed run
    raise RunError("perf wrote no raw_syscalls:sys_enter count")


def _count_strace(path):
    with open(path) as f:
        for line in f:
            cols = line.split()
            if cols and cols[-1] == "total":
                return int(cols[3])
    raise RunError("strace -c wrote no total line")


def syscalls_per_msg(bindir, server, tool, seconds):
    """Count the server's syscalls over one multi64 client run (warm-up 0, so the msgs the
    client counts cover the whole run but the 64 echoes of the connect wave)."""
    wl = BY_NAME["multi64"]
    rec = {"pass": "syscalls", "server": server, "workload": "multi64", "tool": tool, "ok": False}
    srv = Server(server_argv(bindir, server, wl), cpu=wl["server_cpu"])
    out = tempfile.NamedTemporaryFile(prefix="bench-sys-", delete=False)
    out.close()
    tracer = None
    try:
        srv.start()
        if tool == "perf":
            tracer = spawn_tool(["perf", "stat", "-x,", "-o", out.name, "-e",
                                 "raw_syscalls:sys_enter", "-p", str(srv.pid)])
            time.sleep(0.3)
        else:
            tracer = spawn_tool(["strace", "-c", "-f", "-o", out.name, "-p", str(srv.pid)])
            time.sleep(0.8)
        if tracer.poll() is not None:
            raise RunError(f"{tool} exited at once: {stop_tool(tracer)[-300:]}")
        argv = client_argv(bindir, wl, srv.port, srv.pid, seconds, 0)
        res = run_json(argv, client_timeout(wl, seconds, 0) + 60)
        err = stop_tool(tracer)
        tracer = None
        count = _count_perf(out.name) if tool == "perf" else _count_strace(out.name)
        msgs = res.get("msgs") or 0
        if msgs <= 0:
            raise RunError(f"client echoed no messages ({err[-200:]})")
        rec.update(client=res, syscalls=count, msgs=msgs, per_msg=count / msgs, ok=True)
    except (RunError, ValueError, OSError) as e:
        rec["error"] = str(e)
    finally:
        if tracer is not None:
            stop_tool(tracer)
        srv.stop()
        os.unlink(out.name)
    return rec


# The simulated caches of the cache pass: 48 KiB 12-way L1 data, 1 MiB 16-way last level, 64 B
# lines (this VM has no hardware counters: perf's cache events read "not supported").
CACHE_SIM = ["--cache-sim=yes", "--D1=49152,12,64", "--LL=1048576,16,64"]


def _callgrind_totals(path):
    """Every event's total, by name (Ir; with the cache simulation also D1mr, DLmr, ...)."""
    events = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("totals:", "summary:")):
                values = [int(x) for x in line.split()[1:]]
                return dict(zip(events or ["Ir"], values))
    raise RunError(f"no totals line in {path}")


def _callgrind_total(path):
    return _callgrind_totals(path)["Ir"]


def callgrind_one(bindir, server, messages, workdir, workload="multi64", cache_sim=False):
    wl = BY_NAME[workload]
    out = os.path.join(workdir, f"callgrind.{server}.{workload}.{messages}.out")
    # --fair-sched=yes: valgrind runs one thread at a time, and with its default lock a server
    # thread that returns to io_uring_enter at once can starve the others (srv_sanport's
    # acceptor then never ran and the client saw no echo); the ticket lock takes turns.
    wrap = ["valgrind", "-q", "--tool=callgrind", "--fair-sched=yes",
            f"--callgrind-out-file={out}"]
    if cache_sim:
        wrap += CACHE_SIM
    argv = server_argv(bindir, server, wl, wrapper=wrap)
    if SERVERS[server][0] == "srv_sanport":
        # valgrind holds its lock while a thread blocks in io_uring_enter: bounded waits let
        # the acceptor and signal threads run (see server_common.hpp, poll_ms).
        argv += ["--poll-ms", "10"]
    elif server == "echo_server":
        argv += ["--wait-ms", "1"]  # the same, in the sample's words
    srv = Server(argv, cpu=wl["server_cpu"],
                 ready_timeout=30.0, grace=20.0)
    try:
        srv.start()
        argv = client_argv(bindir, wl, srv.port, srv.pid, 600, 0,
                           extra=["--messages", str(messages)])
        try:
            res = run_json(argv, client_timeout(wl, 600, 0))
        except RunError as e:
            raise RunError(f"{e} (server under callgrind{srv.stderr()[-200:]})")
    finally:
        code = srv.stop()
    if code != 0:
        raise RunError(f"server under callgrind exit {code}" + srv.stderr())
    msgs = res.get("msgs") or messages
    totals = _callgrind_totals(out)
    return (totals if cache_sim else totals["Ir"]), msgs


def callgrind_per_msg(bindir, server, n1, n2, workdir):
    rec = {"pass": "callgrind", "server": server, "workload": "multi64", "ok": False,
           "messages": [n1, n2]}
    try:
        ir1, m1 = callgrind_one(bindir, server, n1, workdir)
        ir2, m2 = callgrind_one(bindir, server, n2, workdir)
        if m2 <= m1:
            raise RunError(f"message counts {m1}, {m2} do not grow")
        rec.update(ir=[ir1, ir2], msgs=[m1, m2], per_msg=(ir2 - ir1) / (m2 - m1), ok=True)
    except (RunError, OSError) as e:
        rec["error"] = str(e)
    return rec


def cache_misses_per_msg(bindir, server, n1, n2, workdir, workload="multi10000"):
    """Ir and simulated misses per message: D1 (L1 data) and LL (last level, data and
    instruction) misses, each as (total2 - total1) / (N2 - N1)."""
    rec = {"pass": "cachesim", "server": server, "workload": workload, "ok": False,
           "messages": [n1, n2], "caches": " ".join(CACHE_SIM[1:])}
    try:
        t1, m1 = callgrind_one(bindir, server, n1, workdir, workload, cache_sim=True)
        t2, m2 = callgrind_one(bindir, server, n2, workdir, workload, cache_sim=True)
        if m2 <= m1:
            raise RunError(f"message counts {m1}, {m2} do not grow")

        def per(*names):
            return sum(t2.get(n, 0) - t1.get(n, 0) for n in names) / (m2 - m1)

        rec.update(msgs=[m1, m2], ir_per_msg=per("Ir"), d1_miss_per_msg=per("D1mr", "D1mw"),
                   ll_miss_per_msg=per("DLmr", "DLmw", "ILmr"), ok=True)
    except (RunError, OSError, KeyError) as e:
        rec["error"] = str(e)
    return rec


_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def micro(bindir, smoke):
    """bench_recv_immediate on CPU 0: median real time per benchmark name, in ns."""
    rec = {"pass": "micro", "server": "sanport", "workload": "micro", "ok": False}
    argv = [os.path.join(bindir, "bench_recv_immediate"), "--benchmark_format=json",
            "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"]
    if smoke:
        argv[2] = "--benchmark_repetitions=2"
        argv.append("--benchmark_min_time=0.01")
    try:
        doc = run_json(pinned(0, argv), 120 if smoke else 600, "bench_recv_immediate")
        medians = {}
        for b in doc.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            name = b.get("run_name") or b.get("name")
            medians[name] = b["real_time"] * _UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
        if not medians:
            raise RunError("no benchmarks in the JSON")
        rec.update(medians_ns=medians, ok=True)
    except (RunError, KeyError, TypeError) as e:
        rec["error"] = str(e)
    return rec


def wsabufs_of(name):
    """How many WSABUFs a benchmark or key name says it uses (None if it does not say):
    `buffers:2`, `posted_receive_8_wsabufs`, `2buf`, or a bare `/1` or `/2` argument."""
    low = name.lower()
    m = re.search(r"(?:wsa)?buf(?:fer)?s?[:=_ -]?(\d+)", low) or \
        re.search(r"(\d+)[_ -]?(?:wsa)?buf(?:fer)?s?\b", low)
    if m:
        return int(m.group(1))
    m = re.search(r"/(\d+)(?:/|$)", low)
    return int(m.group(1)) if m and int(m.group(1)) in (1, 2) else None


def is_wsprecv_immediate(name):
    """The benchmarks target (f) is about: a WSPRecv through the kernel, not the raw syscall
    references and not a receive served from sanport's read-ahead buffer."""
    low = name.lower()
    return "wsprecv" in low and "read_ahead" not in low and "readahead" not in low


def memory(bindir):
    rec = {"pass": "memory", "server": "sanport", "workload": "memory", "ok": False}
    try:
        rec["result"] = run_json([os.path.join(bindir, "bench_memory")], 300, "bench_memory")
        rec["ok"] = True
    except RunError as e:
        rec["error"] = str(e)
    return rec


def allocs(bindir, smoke):
    """recv_counters in both engine modes: operator new calls per steady-state receive."""
    rec = {"pass": "allocs", "server": "sanport", "workload": "allocs", "ok": False,
           "result": {}}
    receives = "20000" if smoke else "200000"
    try:
        for mode, extra in (("default", []), ("driven", ["--driven"])):
            argv = [os.path.join(bindir, "recv_counters"), "--receives", receives] + extra
            out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RunError(f"recv_counters {mode} exit {out.returncode}: {out.stderr[-200:]}")
            m = re.search(r"allocs_per_recv=([0-9.]+)", out.stdout)
            if not m:
                raise RunError(f"recv_counters {mode}: no allocs_per_recv in its output")
            rec["result"][f"allocations_per_receive_{mode}_engine"] = float(m.group(1))
        rec["ok"] = True
    except (RunError, OSError, subprocess.TimeoutExpired) as e:
        rec["error"] = str(e)
    return rec
