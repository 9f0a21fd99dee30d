# SPDX-License-Identifier: MIT
# The servers and workloads of the bench harness, and one timed measurement (a fresh server, one client
# run, the server stopped again).
#
# Why here and not in run.py: the counters pass and the report need the same tables (which
# binary and flags make a server, which client flags make a workload, which JSON key is the
# headline figure), so they live in one place.
import os

from .proc import RunError, Server, pinned, proc_status_kb, run_json

BASELINE = "uring_recv"

# name -> (executable, extra server flags). Order = interleaving order inside a repetition.
SERVERS = {
    "sanport_uring": ("srv_sanport", ["--backend", "io_uring"]),
    "sanport_asio": ("srv_sanport", ["--backend", "asio"]),
    "uring_recv": ("srv_uring", ["--variant", "recv"]),
    "uring_readv_fixed": ("srv_uring", ["--variant", "readv_fixed"]),
    # Raw liburing on registered files: what IOSQE_FIXED_FILE would save (docs/design.md).
    "uring_fixed_file": ("srv_uring", ["--variant", "recv_fixed_file"]),
    # Raw liburing with one multishot receive per connection and provided buffers (echo only).
    "uring_multishot": ("srv_uring", ["--mode", "echo", "--variant", "recv_multishot"]),
    "asio": ("srv_asio", []),
    "epoll": ("srv_epoll", []),
    # The sample users copy (samples/echo_server.cpp): an accept thread, a per-connection
    # context, one completion queue. Echo workloads only; it takes no --mode.
    "echo_server": (os.path.join("..", "samples", "echo_server"), []),
    # srv_sanport on an engine with its own thread: each WSPRecv/WSPSend of the main thread is
    # handed to the engine's thread, as with the default engine. Measured where the cost of one
    # call shows (HANDOFF_WORKLOADS), not in every workload.
    "sanport_uring_thread": ("srv_sanport", ["--backend", "io_uring", "--engine", "thread"]),
}
ECHO_ONLY = ("echo_server", "uring_multishot")
# Raw liburing with what a plain RECV server does not use (docs/design.md): measured on request
# (run.py --extra-servers), not in the default report.
EXTRA_SERVERS = ("uring_fixed_file", "uring_multishot")
HANDOFF = ("sanport_uring_thread",)
HANDOFF_WORKLOADS = ("pingpong", "multi64")
SANPORT = ("sanport_uring", "sanport_asio")


def W(name, label, mode, client, metric, cpu_key, server_cpu=0, client_cpu=1, servers=None,
      server_extra=(), conns=None, baseline=BASELINE):
    return dict(name=name, label=label, mode=mode, client=list(client), metric=metric,
                cpu_key=cpu_key, server_cpu=server_cpu, client_cpu=client_cpu,
                servers=servers, server_extra=list(server_extra), conns=conns,
                baseline=baseline)


WORKLOADS = [
    W("pingpong", "(a) ping-pong, 64 B, 1 connection, server and client on CPU 0", "echo",
      ["--mode", "pingpong", "--size", "64"], "msgs_per_s", "server_cpu_ns_per_msg",
      client_cpu=0),
    W("multi64", "(b) 64 connections x 1 message in flight, 64 B", "echo",
      ["--mode", "multi", "--conns", "64", "--size", "64"], "msgs_per_s",
      "server_cpu_ns_per_msg", conns=64),
    W("multi1000", "(c) 1,000 connections x 1 message in flight, 64 B", "echo",
      ["--mode", "multi", "--conns", "1000", "--size", "64"], "msgs_per_s",
      "server_cpu_ns_per_msg", conns=1000),
    W("multi10000", "(c) 10,000 connections x 1 message in flight, 64 B", "echo",
      ["--mode", "multi", "--conns", "10000", "--size", "64"], "msgs_per_s",
      "server_cpu_ns_per_msg", conns=10000),
    W("posted64", "(d) one socket, 64 receives posted, 64 B sends (sanport only)", "sink",
      ["--mode", "stream", "--send-size", "64"], "recv_per_s", "server_cpu_ns_per_recv",
      servers=SANPORT, server_extra=["--posted", "64"], baseline="sanport_uring"),
    W("stream", "(e) streaming one direction, 1 MiB sends, 64 KiB receive buffers", "sink",
      ["--mode", "stream", "--send-size", "1048576"], "gbps", "server_cpu_ns_per_64k"),
]
TIMED = [w["name"] for w in WORKLOADS]
EXTRA = ["micro", "memory", "allocs"]  # not server workloads; run once after the timed reps
BY_NAME = {w["name"]: w for w in WORKLOADS}

# Units and formats of the figures, for progress lines and the report.
METRIC_UNIT = {"msgs_per_s": "msgs/s", "recv_per_s": "receives/s", "gbps": "GB/s"}
CPU_UNIT = {"server_cpu_ns_per_msg": "ns/msg", "server_cpu_ns_per_recv": "ns/recv",
            "server_cpu_ns_per_64k": "ns/64KiB"}


def available_servers(bindir, extras=False):
    have, missing = [], []
    for name, (exe, _) in SERVERS.items():
        if name in EXTRA_SERVERS and not extras:
            continue
        path = os.path.join(bindir, exe)
        (have if os.path.isfile(path) and os.access(path, os.X_OK) else missing).append(name)
    return have, missing


def servers_for(workload, have):
    allowed = workload["servers"] or list(SERVERS)
    return [s for s in allowed
            if s in have and (s not in ECHO_ONLY or workload["mode"] == "echo")
            and (s not in HANDOFF or workload["name"] in HANDOFF_WORKLOADS)]


def server_argv(bindir, server, workload, wrapper=()):
    exe, extra = SERVERS[server]
    argv = list(wrapper) + [os.path.join(bindir, exe), "--port", "0"]
    if server in ECHO_ONLY:
        return argv + extra
    return argv + ["--mode", workload["mode"]] + extra + workload["server_extra"]


def client_argv(bindir, workload, port, pid, seconds, warmup, extra=()):
    argv = [os.path.join(bindir, "bench_client"), "--port", str(port)] + workload["client"]
    argv += ["--seconds", f"{seconds:g}", "--warmup", f"{warmup:g}", "--server-pid", str(pid)]
    return pinned(workload["client_cpu"], argv + list(extra))


def client_timeout(workload, seconds, warmup):
    conns = workload["conns"] or 1
    return seconds + warmup + 30 + conns / 500.0


def derive(workload, res):
    """Add the figures the report needs that the client does not print itself."""
    if workload["name"] == "posted64":
        secs = res.get("seconds") or 0
        res["recv_per_s"] = res.get("server_receives", 0) / secs if secs > 0 else 0.0
    return res


def check(workload, res):
    need = [workload["metric"], workload["cpu_key"]]
    if workload["name"] == "pingpong":
        need += ["p50_us", "p99_us"]
    lost = [k for k in need if not isinstance(res.get(k), (int, float))]
    if lost:
        raise RunError(f"client JSON lacks {', '.join(lost)}")
    if res[workload["metric"]] <= 0:
        raise RunError(f"{workload['metric']} is {res[workload['metric']]}")


def measure(bindir, server, workload, seconds, warmup):
    """One measurement. Returns a record for raw.jsonl (ok or failed, never raises RunError)."""
    rec = {"server": server, "workload": workload["name"], "ok": False}
    srv = Server(server_argv(bindir, server, workload), cpu=workload["server_cpu"])
    try:
        srv.start()
        rec["server_cmd"] = " ".join(srv.argv)
        rss0 = proc_status_kb(srv.pid, "VmRSS")
        argv = client_argv(bindir, workload, srv.port, srv.pid, seconds, warmup)
        rec["client_cmd"] = " ".join(argv)
        try:
            res = run_json(argv, client_timeout(workload, seconds, warmup))
        except RunError as e:
            raise RunError(str(e) + srv.stderr())
        hwm = proc_status_kb(srv.pid, "VmHWM")
        if not srv.alive():
            raise RunError("server died during the run" + srv.stderr())
        derive(workload, res)
        check(workload, res)
        rec["client"] = res
        if workload["conns"] and rss0 is not None and hwm is not None:
            rec["rss_before_kb"], rec["hwm_after_kb"] = rss0, hwm
            rec["rss_per_conn_b"] = (hwm - rss0) * 1024.0 / workload["conns"]
        rec["ok"] = True
    except RunError as e:
        rec["error"] = str(e)
    finally:
        code = srv.stop()
        if rec["ok"] and code not in (0, None):
            rec["ok"], rec["error"] = False, f"server exit {code} after SIGTERM" + srv.stderr()
    return rec


def progress_figure(workload, rec):
    if not rec["ok"]:
        return "FAILED: " + rec.get("error", "?")[:160]
    res, m, c = rec["client"], workload["metric"], workload["cpu_key"]
    val = res[m]
    txt = f"{val:.2f} GB/s" if m == "gbps" else f"{val / 1000:.1f}k {METRIC_UNIT[m]}"
    txt += f", {res[c]:.0f} {CPU_UNIT[c]}"
    if workload["name"] == "pingpong":
        txt += f", p50 {res['p50_us']:.2f} us p99 {res['p99_us']:.2f} us"
    return txt
