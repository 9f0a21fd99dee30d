# SPDX-License-Identifier: MIT
# Statistics and the markdown report: medians with min-max per (workload, server), ratios and
# differences to the baseline server of the same run, the counters, and the performance targets
# with PASS / MISS computed from this run's medians.
#
# Why ratios of medians from one run: this 2-vCPU VM drifts by several percent between passes,
# so a figure is only comparable with the baseline measured interleaved with it.
import statistics

from .counters import is_wsprecv_immediate, wsabufs_of
from .workloads import BASELINE, BY_NAME, CPU_UNIT, METRIC_UNIT, SERVERS, WORKLOADS

FIELDS = ("metric", "cpu", "p50", "p99", "rss")


def spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def summarize(records):
    """{workload: {server: {field: (median, min, max) | None, 'ok': n, 'fail': n}}}"""
    raw = {}
    for r in records:
        wl = BY_NAME[r["workload"]]
        d = raw.setdefault(wl["name"], {}).setdefault(
            r["server"], {f: [] for f in FIELDS} | {"ok": 0, "fail": 0})
        if not r["ok"]:
            d["fail"] += 1
            continue
        d["ok"] += 1
        c = r["client"]
        d.setdefault("by_rep", {})[r.get("rep")] = {"metric": c[wl["metric"]],
                                                    "cpu": c[wl["cpu_key"]],
                                                    "p50": c.get("p50_us")}
        d["metric"].append(c[wl["metric"]])
        d["cpu"].append(c[wl["cpu_key"]])
        d["p50"].append(c.get("p50_us"))
        d["p99"].append(c.get("p99_us"))
        d["rss"].append(r.get("rss_per_conn_b"))
    for servers in raw.values():
        for d in servers.values():
            for f in FIELDS:
                d[f] = spread(d[f])
    return raw


def med(summary, wl, srv, field):
    s = summary.get(wl, {}).get(srv, {}).get(field)
    return s[0] if s else None


def paired(summary, wl, a, b, field, diff=False):
    """Per-repetition a/b (or a-b) of runs made back to back in the same repetition, as
    (median, min, max): steadier than a ratio of medians when the VM drifts within a pass."""
    ra = summary.get(wl, {}).get(a, {}).get("by_rep", {})
    rb = summary.get(wl, {}).get(b, {}).get("by_rep", {})
    vals = []
    for rep, x in ra.items():
        y = rb.get(rep)
        if y and x.get(field) is not None and y.get(field):
            vals.append(x[field] - y[field] if diff else x[field] / y[field])
    return spread(vals)


def fpaired(p, diff=False):
    if not p:
        return ""
    if diff:
        return f"; paired per rep {p[0]:+.0f} ns ({p[1]:+.0f} to {p[2]:+.0f})"
    return f"; paired per rep {p[0]:.3f}× ({p[1]:.3f}–{p[2]:.3f})"


def ratio(a, b):
    return a / b if a is not None and b else None


def fnum(v, unit=""):
    if v is None:
        return "–"
    if unit == "ns":
        return f"{v:.0f}"
    if unit == "GB/s" or abs(v) < 10:
        return f"{v:.2f}"
    if abs(v) < 100:
        return f"{v:.1f}"
    if abs(v) >= 10000:
        return f"{v / 1000:.0f}k" if abs(v) >= 100000 else f"{v / 1000:.1f}k"
    return f"{v:.0f}"


def fspread(s, unit=""):
    if not s:
        return "–"
    return f"{fnum(s[0], unit)} ({fnum(s[1], unit)}–{fnum(s[2], unit)})"


def fratio(r):
    return "–" if r is None else f"{r:.3f}"


def fdelta(d):
    return "–" if d is None else f"{d:+.0f}"


def workload_table(summary, wl, sys_by_server):
    w = BY_NAME[wl]
    rows = summary.get(wl)
    if not rows:
        return []
    base = w["baseline"]
    unit, cunit = METRIC_UNIT[w["metric"]], CPU_UNIT[w["cpu_key"]]
    bm, bc = med(summary, wl, base, "metric"), med(summary, wl, base, "cpu")
    head = [f"server", f"{unit} median (min–max)", f"÷ {base}",
            f"server CPU {cunit} median (min–max)", f"÷ {base}", f"Δ ns vs {base}"]
    if wl == "pingpong":
        head += ["p50 µs (min–max)", f"p50 ÷ {base}", "p99 µs (min–max)"]
    if wl == "multi64":
        head.append("syscalls/msg")
    if w["conns"] and w["conns"] >= 1000:
        head.append("RSS growth B/conn")
    head.append("runs ok/failed")
    out = [f"### {w['label']}", "", "| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
    for srv in SERVERS:
        d = rows.get(srv)
        if d is None:
            continue
        m, c = d["metric"], d["cpu"]
        cells = [srv, fspread(m, unit), fratio(ratio(m and m[0], bm)), fspread(c, "ns"),
                 fratio(ratio(c and c[0], bc)),
                 fdelta(c[0] - bc if c and bc is not None else None)]
        if wl == "pingpong":
            p50 = d["p50"]
            cells += [fspread(p50), fratio(ratio(p50 and p50[0], med(summary, wl, base, "p50"))),
                      fspread(d["p99"])]
        if wl == "multi64":
            s = sys_by_server.get(srv)
            cells.append(f"{s:.3f}" if s is not None else "–")
        if w["conns"] and w["conns"] >= 1000:
            cells.append(fspread(d["rss"], "ns"))
        cells.append(f"{d['ok']}/{d['fail']}")
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def _target(rows, name, measured, ok):
    rows.append((name, measured, None if ok is None else ("PASS" if ok else "MISS")))


def targets(summary, sys_by_server, micro_rec, memory_rec, allocs_rec=None):
    rows, S, A = [], "sanport_uring", "sanport_asio"
    m = lambda wl, srv, f="metric": med(summary, wl, srv, f)  # noqa: E731

    def vs_ratio(name, wl, srv, other, bound, field="metric", le=False):
        r = ratio(m(wl, srv, field), m(wl, other, field))
        ok = None if r is None else (r <= bound if le else r >= bound)
        p = fpaired(paired(summary, wl, srv, other, field))
        _target(rows, name, "–" if r is None else f"{fratio(r)}×{p}", ok)

    def vs_delta(name, wl, bound):
        a, b = m(wl, S, "cpu"), m(wl, BASELINE, "cpu")
        d = a - b if a is not None and b is not None else None
        p = fpaired(paired(summary, wl, S, BASELINE, "cpu", diff=True), diff=True)
        _target(rows, name, "–" if d is None else f"{a:.0f} vs {b:.0f} ns ({d:+.0f} ns){p}",
                None if d is None else d <= bound)

    vs_ratio("(b) msgs/s ≥ 0.98× uring_recv", "multi64", S, BASELINE, 0.98)
    vs_ratio("(b) msgs/s ≥ 1.02× asio", "multi64", S, "asio", 1.02)
    vs_delta("(b) server CPU/msg ≤ uring_recv + 70 ns", "multi64", 70)
    s = sys_by_server.get(S)
    _target(rows, "(b) syscalls/msg ≤ 0.07", "–" if s is None else f"{s:.4f}",
            None if s is None else s <= 0.07)
    for wl in ("multi1000", "multi10000"):
        n = BY_NAME[wl]["conns"]
        vs_ratio(f"(c) {n:,} conns: msgs/s ≥ 0.98× uring_recv", wl, S, BASELINE, 0.98)
        vs_delta(f"(c) {n:,} conns: server CPU/msg ≤ uring_recv + 100 ns", wl, 100)
    vs_ratio("(a) ping-pong p50 ≤ 1.02× uring_recv", "pingpong", S, BASELINE, 1.02, "p50", True)
    vs_ratio("(e) stream CPU per 64 KiB ≤ 1.02× uring_recv", "stream", S, BASELINE, 1.02, "cpu",
             True)
    for wl in ("multi64", "multi1000", "multi10000"):
        vs_ratio(f"Asio fallback {wl}: msgs/s ≥ 0.97× asio", wl, A, "asio", 0.97)
    medians = (micro_rec or {}).get("medians_ns") or {}
    cands = {n: v for n, v in medians.items() if is_wsprecv_immediate(n)}
    uring = {n: v for n, v in cands.items() if "io_uring" in n}
    for k, bound in ((1, 450), (2, 550)):
        for label, pool in (("io_uring", uring), ("any backend", cands)):
            hits = {n: v for n, v in pool.items() if wsabufs_of(n) == k}
            if hits or label == "any backend":
                break
        worst = max(hits.items(), key=lambda kv: kv[1]) if hits else None
        _target(rows, f"(f) immediate WSPRecv, {k} WSABUF{'s' if k > 1 else ''} ≤ {bound} ns",
                "–" if not worst else f"{worst[1]:.0f} ns (slowest of {len(hits)}: {worst[0]})",
                None if not worst else worst[1] <= bound)
    mem = (memory_rec or {}).get("result") or {}
    for key, val in flatten(mem):
        low = key.lower()
        if not isinstance(val, (int, float)) or isinstance(val, bool) or low.startswith("targets"):
            continue
        if "idle" in low and (low.endswith("_bytes") or low.startswith("structures.idle_total")):
            _target(rows, f"per idle connection: {key} ≤ 256 B", f"{val:.0f} B", val <= 256)
        elif "posted_receive" in low and low.endswith("_bytes"):
            k = wsabufs_of(key) or 1
            _target(rows, f"per posted receive: {key} ≤ 64 + 16×{k} B", f"{val:.0f} B",
                    val <= 64 + 16 * k)
        elif "alloc" in low and ("recv" in low or "receive" in low):
            _target(rows, f"{key} = 0", f"{val:g}", val == 0)
    allocs = (allocs_rec or {}).get("result") or {}
    for key, val in allocs.items():
        _target(rows, f"0 allocations per receive ({key.replace('_', ' ')})", f"{val:.4f}",
                val == 0)
    if not allocs:
        _target(rows, "0 allocations per receive", "not measured (bench/recv_counters)", None)
    return rows


def flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, obj


def render(meta, summary, counters, plots):
    sys_recs = [r for r in counters if r.get("pass") == "syscalls"]
    sys_by_server = {r["server"]: r["per_msg"] for r in sys_recs if r["ok"]}
    micro_rec = next((r for r in counters if r.get("pass") == "micro"), None)
    memory_rec = next((r for r in counters if r.get("pass") == "memory"), None)
    allocs_rec = next((r for r in counters if r.get("pass") == "allocs"), None)
    L = ["# sanport benchmark report", ""]
    L += [f"- {k}: {v}" for k, v in meta["header"]]
    L += ["", "## Targets (bench/README.md, from this run's medians)", "",
          "PASS/MISS compares medians of this run. \"Paired per rep\" makes the same comparison "
          "inside each repetition (its runs are seconds apart, servers in rotating order) and gives the "
          "median and range of those: when that range straddles the bound, this VM cannot "
          "resolve the target either way.", "",
          "| target | measured | result |", "|---|---|---|"]
    for name, measured, res in targets(summary, sys_by_server, micro_rec, memory_rec, allocs_rec):
        L.append(f"| {name} | {measured} | {res or 'not measured'} |")
    L += ["", "## Workloads", "",
          f"Medians over the repetitions with (min–max); `÷` is the ratio of medians to the "
          f"baseline of the same run (`{BASELINE}`; for (d) `sanport_uring`), `Δ ns` the "
          "difference of server CPU medians. Server CPU is schedstat time of all server "
          "threads over the measured window.", ""]
    for w in WORKLOADS:
        L += workload_table(summary, w["name"], sys_by_server)
    L += counters_section(sys_recs, counters, micro_rec, memory_rec)
    if plots:
        L += ["## Plots", ""] + [f"![{t}]({p})" for t, p in plots] + [""]
    fails = meta.get("failures", [])
    if fails:
        L += ["## Failed runs", ""] + [f"- {f}" for f in fails] + [""]
    return "\n".join(L) + "\n"


def counters_section(sys_recs, counters, micro_rec, memory_rec):
    L = []
    if sys_recs:
        tool = sys_recs[0]["tool"]
        how = ("`perf stat -e raw_syscalls:sys_enter -p PID`" if tool == "perf"
               else "`strace -c -f -p PID` (perf unavailable; strace slows the server)")
        L += ["## Syscalls per message (multi64, one client run, warm-up 0)", "",
              f"Counted with {how} over the whole client run, divided by the messages echoed.",
              "", "| server | syscalls | msgs | syscalls/msg |", "|---|---|---|---|"]
        for r in sys_recs:
            L.append(f"| {r['server']} | {r.get('syscalls', '–')} | {r.get('msgs', '–')} | "
                     + (f"{r['per_msg']:.3f} |" if r["ok"] else "failed |"))
        L.append("")
    cg = [r for r in counters if r.get("pass") == "callgrind"]
    if cg:
        base = next((r["per_msg"] for r in cg if r["server"] == BASELINE and r["ok"]), None)
        L += ["## User-space instructions per message (callgrind, multi64)", "",
              "Server under `valgrind --tool=callgrind`, client `--messages N1` and `N2`; "
              "Ir/msg = (Ir2 − Ir1) / (N2 − N1), which cancels start-up and shutdown. "
              "Includes libc and the library, not the kernel.", "",
              "| server | N1, N2 | Ir1, Ir2 | Ir/msg | ÷ uring_recv | Δ vs uring_recv |",
              "|---|---|---|---|---|---|"]
        for r in cg:
            if not r["ok"]:
                L.append(f"| {r['server']} | {r['messages'][0]}, {r['messages'][1]} | failed: "
                         f"see Failed runs | – | – | – |")
                continue
            d = r["per_msg"] - base if base is not None else None
            L.append(f"| {r['server']} | {r['msgs'][0]}, {r['msgs'][1]} | {r['ir'][0]:,}, "
                     f"{r['ir'][1]:,} | {r['per_msg']:.0f} | {fratio(ratio(r['per_msg'], base))}"
                     f" | {fdelta(d)} |")
        L.append("")
    cs = [r for r in counters if r.get("pass") == "cachesim"]
    if cs:
        L += ["## Simulated cache misses per message (callgrind --cache-sim, multi10000)", "",
              f"Server under callgrind with `{cs[0]['caches']}`, client `--messages N1` and "
              "`N2` over 10,000 connections; each figure is (total2 − total1) / (N2 − N1). "
              "D1: L1 data misses (reads and writes); LL: last-level misses (data and "
              "instructions). The VM exposes no hardware cache counters.", "",
              "| server | N1, N2 | Ir/msg | D1 misses/msg | LL misses/msg |",
              "|---|---|---|---|---|"]
        for r in cs:
            if not r["ok"]:
                L.append(f"| {r['server']} | {r['messages'][0]}, {r['messages'][1]} | failed: "
                         f"{r.get('error', '?')} | – | – |")
                continue
            L.append(f"| {r['server']} | {r['msgs'][0]}, {r['msgs'][1]} | "
                     f"{r['ir_per_msg']:.0f} | {r['d1_miss_per_msg']:.1f} | "
                     f"{r['ll_miss_per_msg']:.1f} |")
        L.append("")
    if micro_rec:
        L += ["## (f) One WSPRecv that completes at once (bench_recv_immediate, CPU 0)", ""]
        if micro_rec["ok"]:
            L += ["| benchmark | median ns | WSABUFs |", "|---|---|---|"]
            for n, v in micro_rec["medians_ns"].items():
                L.append(f"| {n} | {v:.0f} | {wsabufs_of(n) or '–'} |")
        else:
            L.append(f"failed: {micro_rec.get('error')}")
        L.append("")
    if memory_rec:
        L += ["## Memory (bench_memory)", ""]
        if memory_rec["ok"]:
            L += ["| key | value |", "|---|---|"]
            L += [f"| {k} | {v} |" for k, v in flatten(memory_rec["result"])]
        else:
            L.append(f"failed: {memory_rec.get('error')}")
        L += ["", "RSS growth per connection in the 10,000-connection table is (VmHWM after "
              "the client − VmRSS before) / connections, for each server; it includes the "
              "pages of the server's own 64 KiB receive buffers that were touched (about one "
              "4 KiB page per connection with 64 B messages; registered buffers are pinned "
              "whole); socket buffers are kernel memory and not counted.", ""]
    return L
