#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Benchmark runner: runs every server under every workload, interleaved, then the
# counters pass (syscalls, callgrind), the micro-benchmark and the memory probe, and writes
# report.md, raw.jsonl and PNG plots into --out.
#
#   python3 bench/run.py --bin build/release/bench --out bench/results [--reps 5]
#                        [--seconds 1.5] [--only pingpong,multi64,...] [--smoke]
#
# Why this method: on a shared 2-vCPU VM the host's noise moves figures by several percent
# over minutes, so the repetition loop is outermost and the servers take turns inside it
# (A B A B ...), each started fresh; figures are medians with min-max, and every figure is
# compared with the baseline (raw liburing, RECV) of the same run. Standard library only;
# matplotlib is optional (plots).
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree (CTest runs this)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import counters, proc, report, workloads  # noqa: E402
from runner.workloads import BY_NAME, EXTRA, SERVERS, TIMED  # noqa: E402

SMOKE_WORKLOADS = ["pingpong", "multi64", "posted64", "stream", "micro", "memory", "allocs"]


def parse_args(argv):
    p = argparse.ArgumentParser(description="sanport benchmark runner")
    p.add_argument("--bin", required=True, help="directory holding the bench executables")
    p.add_argument("--out", required=True, help="directory for report.md, raw.jsonl, PNGs")
    p.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("--seconds", type=float, default=1.5, help="measured window (default 1.5)")
    p.add_argument("--warmup", type=float, default=0.3, help="client warm-up (default 0.3)")
    p.add_argument("--only", default="", help="comma list of: " + ",".join(TIMED + EXTRA))
    p.add_argument("--skip-counters", action="store_true",
                   help="no syscall (perf/strace) and callgrind pass")
    p.add_argument("--callgrind-messages", default="20000,60000",
                   help="N1,N2 for the callgrind pass (default 20000,60000)")
    p.add_argument("--cachesim-messages", default="30000,90000",
                   help="N1,N2 for the cache-simulated pass at 10,000 connections "
                        "(default 30000,90000)")
    p.add_argument("--extra-servers", action="store_true",
                   help="also run uring_fixed_file and uring_multishot (registered files, "
                        "multishot receive)")
    p.add_argument("--smoke", action="store_true",
                   help="1 rep, 0.3 s, no 1,000/10,000, counters or plots; exit 1 on any failure")
    a = p.parse_args(argv)
    if a.smoke:
        a.reps, a.seconds, a.warmup, a.skip_counters = 1, 0.3, 0.1, True
    only = [w for w in a.only.split(",") if w]
    bad = [w for w in only if w not in TIMED + EXTRA]
    if bad:
        p.error(f"unknown workload(s) {','.join(bad)}; choose from {','.join(TIMED + EXTRA)}")
    a.selected = only or (SMOKE_WORKLOADS if a.smoke else TIMED + EXTRA)
    if a.smoke:
        a.selected = [w for w in a.selected if w in SMOKE_WORKLOADS]
    try:
        a.cg = [int(x) for x in a.callgrind_messages.split(",")]
        assert len(a.cg) == 2 and 0 < a.cg[0] < a.cg[1]
        a.cs = [int(x) for x in a.cachesim_messages.split(",")]
        assert len(a.cs) == 2 and 0 < a.cs[0] < a.cs[1]
    except (ValueError, AssertionError):
        p.error("--callgrind-messages and --cachesim-messages want N1,N2 with 0 < N1 < N2")
    if a.reps < 1 or a.seconds <= 0:
        p.error("--reps must be >= 1 and --seconds > 0")
    return a


def sh(argv, default="?"):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip() \
            or default
    except (OSError, subprocess.TimeoutExpired):
        return default


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


class Progress:
    """`[i/total] workload rep r/R server: figure (ETA)` on stderr; ETA from estimated cost of
    each remaining item, scaled by how long the finished ones really took."""

    def __init__(self, costs):
        self.costs, self.i, self.t0, self.done_cost = costs, 0, time.monotonic(), 0.0

    def step(self, text):
        self.done_cost += self.costs[self.i]
        self.i += 1
        spent = time.monotonic() - self.t0
        left = sum(self.costs[self.i:]) * spent / max(self.done_cost, 1e-9)
        print(f"[{self.i}/{len(self.costs)}] {text}  (~{int(left // 60)}:{int(left % 60):02d} "
              "left)", file=sys.stderr, flush=True)


def main(argv):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    have, missing = workloads.available_servers(a.bin, a.extra_servers)
    client_ok = os.access(os.path.join(a.bin, "bench_client"), os.X_OK)
    problems = []
    for m in missing:
        print(f"run.py: warning: {SERVERS[m][0]} not in {a.bin}: {m} skipped", file=sys.stderr)
    if not client_ok:
        print(f"run.py: warning: bench_client not in {a.bin}: no server workloads",
              file=sys.stderr)
        problems.append("bench_client missing")
    problems += [f"{m} missing" for m in missing]

    timed = [w for w in TIMED if w in a.selected] if client_ok else []
    def rotated(servers, r):  # repetition r starts with the r-th server: no fixed position
        return servers[r % len(servers):] + servers[:r % len(servers)] if servers else servers

    plan = [(r, wl, s) for r in range(a.reps) for wl in timed
            for s in rotated(workloads.servers_for(BY_NAME[wl], have), r)]
    tool = None if a.skip_counters or "multi64" not in timed else counters.syscall_tool()
    sys_servers = [s for s in SERVERS if s in have] if tool else []
    cg_servers = [s for s in ("sanport_uring", "uring_recv", "sanport_asio", "asio", "echo_server")
                  if s in have] \
        if not a.skip_counters and "multi64" in timed and shutil.which("valgrind") else []
    # The cache simulation at 10,000 connections, where connections outnumber the cache: with
    # the callgrind pass, and only when multi10000 was asked for; sanport and its baseline only
    # (each server costs minutes there).
    cs_servers = [s for s in cg_servers if s in ("sanport_uring", "uring_recv")] \
        if "multi10000" in timed else []
    extras = [e for e in EXTRA if e in a.selected]

    def cost(wl):
        w = BY_NAME[wl]
        return a.seconds + a.warmup + 0.5 + (w["conns"] or 0) / 2000
    costs = [cost(wl) for _, wl, _ in plan] + [a.seconds + 1.5] * len(sys_servers) \
        + [15.0] * len(cg_servers) + [90.0] * len(cs_servers) \
        + [5.0 if a.smoke else 30.0] * len(extras)
    prog = Progress(costs)
    runs, cnt = [], []
    raw = open(os.path.join(a.out, "raw.jsonl"), "w")

    def keep(rec, into):
        into.append(rec)
        raw.write(json.dumps(rec) + "\n")
        raw.flush()

    for r, wl, srv in plan:
        rec = workloads.measure(a.bin, srv, BY_NAME[wl], a.seconds, a.warmup)
        rec["rep"] = r + 1
        keep(rec, runs)
        prog.step(f"{wl} rep {r + 1}/{a.reps} {srv}: "
                  + workloads.progress_figure(BY_NAME[wl], rec))
    for srv in sys_servers:
        rec = counters.syscalls_per_msg(a.bin, srv, tool, a.seconds)
        keep(rec, cnt)
        prog.step(f"syscalls ({tool}) multi64 {srv}: "
                  + (f"{rec['per_msg']:.3f}/msg" if rec["ok"] else "FAILED: " + rec["error"]))
    def counted(label, rec, figure):  # keeps one counters record and reports its figure
        keep(rec, cnt)
        prog.step(f"{label}: " + (figure(rec) if rec["ok"] else "FAILED: " + rec["error"]))

    if cg_servers:
        with tempfile.TemporaryDirectory(prefix="bench-cg-") as tmp:
            for srv in cg_servers:
                counted(f"callgrind multi64 {srv}",
                        counters.callgrind_per_msg(a.bin, srv, a.cg[0], a.cg[1], tmp),
                        lambda r: f"{r['per_msg']:.0f} Ir/msg")
            for srv in cs_servers:
                counted(f"callgrind cache simulation multi10000 {srv}",
                        counters.cache_misses_per_msg(a.bin, srv, a.cs[0], a.cs[1], tmp),
                        lambda r: f"{r['ll_miss_per_msg']:.1f} LL misses/msg")
    for e in extras:
        exe = {"micro": "bench_recv_immediate", "memory": "bench_memory",
               "allocs": "recv_counters"}[e]
        if not os.access(os.path.join(a.bin, exe), os.X_OK):
            print(f"run.py: warning: {exe} not in {a.bin}: {e} skipped", file=sys.stderr)
            problems.append(f"{exe} missing")
            prog.step(f"{e}: skipped ({exe} missing)")
            continue
        rec = (counters.micro(a.bin, a.smoke) if e == "micro" else
               counters.memory(a.bin) if e == "memory" else counters.allocs(a.bin, a.smoke))
        keep(rec, cnt)
        prog.step(f"{e}: " + ("ok" if rec["ok"] else "FAILED: " + rec["error"]))
    raw.close()

    failures = [f"{x['workload']} rep {x['rep']} {x['server']}: {x.get('error')}" for x in runs
                if not x["ok"]]
    failures += [f"{x['pass']} {x['workload']} {x['server']}: {x.get('error')}" for x in cnt
                 if not x["ok"]]
    summary = report.summarize(runs)
    plots = [] if a.smoke else report_plots(summary, a.out)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    header = [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("git commit", sh(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
         # The results being written are no change to the code measured.
         + (" (with uncommitted changes)" if sh(["git", "-C", repo, "status", "--porcelain",
                                                  "--untracked-files=no", "--", ".",
                                                  ":(exclude)" + os.path.relpath(
                                                      os.path.abspath(a.out), repo)],
                                                 "") else "")),
        ("kernel", platform.release()), ("CPU", cpu_model()), ("nproc", str(os.cpu_count())),
        ("command", "`" + shlex.join(["python3"] + [os.path.relpath(sys.argv[0], repo)
                                                    if sys.argv else "run.py"] + argv) + "`"),
        ("repetitions", f"{a.reps} (servers interleaved inside each repetition, order rotated "
                        "by one server per repetition)"),
        ("window", f"{a.seconds:g} s measured after {a.warmup:g} s warm-up per run"),
        ("pinning", "server on CPU 0, client on CPU 1 (ping-pong: both on CPU 0)"),
        ("servers measured", ", ".join(s for s in SERVERS if s in have) or "none"),
        ("servers missing", ", ".join(missing) or "none"),
        ("syscall counter", tool or ("not run" if a.skip_counters or "multi64" not in timed
                                     else "not run: neither perf nor strace usable")),
        ("callgrind", ", ".join(cg_servers) or ("not run" if a.skip_counters
                                                or "multi64" not in timed
                                                else "not run: valgrind missing")),
        ("runs", f"{len(runs) + len(cnt) - len(failures)} ok, {len(failures)} failed"),
    ]
    meta = {"header": header, "failures": failures + [f"not run: {p}" for p in problems]}
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(report.render(meta, summary, cnt, plots))
    print(f"run.py: report in {os.path.join(a.out, 'report.md')}, raw runs in "
          f"{os.path.join(a.out, 'raw.jsonl')}; {len(failures)} failed run(s)", file=sys.stderr)
    if a.smoke and (failures or problems):
        for x in failures + problems:
            print(f"run.py: smoke failure: {x}", file=sys.stderr)
        return 1
    return 0 if runs or cnt else 1


def report_plots(summary, out):
    from runner import plots
    try:
        return plots.make_plots(summary, out)
    except Exception as e:  # a plotting bug must not lose the measured report
        print(f"run.py: warning: plots failed: {e!r}", file=sys.stderr)
        return []


def _on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in background
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("run.py: interrupted; stopping what is still running", file=sys.stderr)
        sys.exit(130)
    finally:
        proc.kill_all()
