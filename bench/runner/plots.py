# SPDX-License-Identifier: MIT
# PNG plots of a run (matplotlib, Agg backend): throughput ratio to the baseline per workload,
# server CPU per message per workload, ping-pong p50/p99. Every bar is a median, every error
# bar the min-max of the repetitions.
#
# Why optional: matplotlib is the only dependency outside the standard library; without it the
# report is still complete, only the pictures are missing.
import os
import sys

from .report import med
from .workloads import BASELINE, BY_NAME, CPU_UNIT, SERVERS, WORKLOADS


def load_pyplot():
    try:
        import matplotlib
    except ImportError:
        # A pyenv/venv python does not see Debian's python3-matplotlib; try its directory.
        deb = "/usr/lib/python3/dist-packages"
        if not os.path.isdir(deb) or deb in sys.path:
            return None
        sys.path.append(deb)
        try:
            import matplotlib
        except ImportError:
            return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _servers(summary, wls):
    return [s for s in SERVERS if any(s in summary.get(w, {}) for w in wls)]


def _bars(ax, groups, servers, value_of, ylabel):
    width = 0.8 / max(1, len(servers))
    for i, srv in enumerate(servers):
        xs, ys, lo, hi = [], [], [], []
        for g, wl in enumerate(groups):
            v = value_of(wl, srv)
            if v is None:
                continue
            m, a, b = v
            xs.append(g + (i - (len(servers) - 1) / 2) * width)
            ys.append(m)
            lo.append(max(0.0, m - a))
            hi.append(max(0.0, b - m))
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=srv)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def make_plots(summary, outdir):
    """Writes the PNGs; returns [(title, relative path)] or [] without matplotlib."""
    plt = load_pyplot()
    if plt is None:
        print("run.py: warning: matplotlib not found (apt-get install python3-matplotlib): "
              "no plots", file=sys.stderr)
        return []
    made = []

    # 1. msgs/s (GB/s for stream) as a ratio to the baseline of the same run.
    wls = [w["name"] for w in WORKLOADS if w["baseline"] == BASELINE and w["name"] in summary]
    if wls:
        def ratio_of(wl, srv):
            d, b = summary[wl].get(srv), med(summary, wl, BASELINE, "metric")
            if not d or not d["metric"] or not b:
                return None
            return tuple(x / b for x in d["metric"])
        fig, ax = plt.subplots(figsize=(10, 4.5))
        _bars(ax, wls, _servers(summary, wls), ratio_of, f"throughput ÷ {BASELINE}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(0.98, color="red", linewidth=0.6, linestyle="--", label="0.98 target")
        lows = [r[1] for wl in wls for s in SERVERS if (r := ratio_of(wl, s))]
        ax.set_ylim(max(0.0, min(lows + [0.9]) - 0.05), None)
        ax.set_title("Throughput relative to raw liburing (median, min–max)")
        ax.legend(fontsize=8, ncol=7, loc="upper center", bbox_to_anchor=(0.5, -0.08))
        made.append(("throughput ratio", _save(fig, plt, outdir, "throughput_ratio.png")))

    # 2. Server CPU per message (per 64 KiB for stream): one panel per workload, own scale.
    wls = [w["name"] for w in WORKLOADS if w["name"] in summary]
    if wls:
        cols = min(3, len(wls))
        rows = (len(wls) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows), squeeze=False)
        for ax in axes.flat[len(wls):]:
            ax.set_visible(False)
        for ax, wl in zip(axes.flat, wls):
            servers = [s for s in SERVERS if s in summary[wl] and summary[wl][s]["cpu"]]
            vals = [summary[wl][s]["cpu"] for s in servers]
            ax.bar(range(len(servers)), [v[0] for v in vals],
                   yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]],
                   capsize=2, color=[f"C{list(SERVERS).index(s)}" for s in servers])
            ax.set_xticks(range(len(servers)))
            ax.set_xticklabels(servers, rotation=60, ha="right", fontsize=7)
            ax.set_title(wl, fontsize=9)
            ax.set_ylabel(f"server CPU {CPU_UNIT[BY_NAME[wl]['cpu_key']]}", fontsize=8)
            lo = min([v[1] for v in vals] or [0])
            ax.set_ylim(lo * 0.9, None)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("Server CPU per message (schedstat; median, min–max; y axis not at 0)")
        made.append(("server CPU per message", _save(fig, plt, outdir, "server_cpu.png")))

    # 3. Ping-pong latency.
    if "pingpong" in summary:
        fig, ax = plt.subplots(figsize=(8, 4))
        servers = _servers(summary, ["pingpong"])
        _bars(ax, ["p50", "p99"], servers,
              lambda q, s: summary["pingpong"].get(s, {}).get(q), "round trip µs")
        ax.set_title("Ping-pong 64 B, same core (median, min–max)")
        ax.legend(fontsize=8, ncol=3)
        made.append(("ping-pong latency", _save(fig, plt, outdir, "pingpong_latency.png")))
    return made


def _save(fig, plt, outdir, name):
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, name), dpi=110)
    plt.close(fig)
    return name
