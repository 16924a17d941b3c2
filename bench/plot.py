#!/usr/bin/python3
"""Plots tick-latency percentiles against the number of clients, one line per transport,
from the JSON of `tickcast-bench --json`. Writes PNG and SVG.

usage: bench/plot.py RESULTS.json [OUTPUT_BASENAME]   (default: beside the JSON)
Needs matplotlib: Debian's python3-matplotlib, for /usr/bin/python3 (the shebang).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["tcp", "ws", "sse", "longpoll", "mqtt", "ws-lws"]
STYLE = {
    "tcp": dict(color="black", linestyle="--", marker="s"),
    "ws": dict(color="tab:blue", marker="o"),
    "sse": dict(color="tab:green", marker="^"),
    "longpoll": dict(color="tab:red", marker="v"),
    "mqtt": dict(color="tab:purple", marker="D"),
    "ws-lws": dict(color="tab:cyan", linestyle=":", marker="o", markerfacecolor="none"),
}
PERCENTILES = [("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9")]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    base = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(path)[0]
    with open(path) as f:
        report = json.load(f)
    runs = [r for r in report["runs"] if r["held"] and r["latency_us"]["count"] > 0]
    transports = [t for t in ORDER if any(r["transport"] == t for r in runs)]
    transports += sorted({r["transport"] for r in runs} - set(transports))

    fig, axes = plt.subplots(1, len(PERCENTILES), figsize=(15, 4.8), sharey=True)
    for ax, (key, label) in zip(axes, PERCENTILES):
        for t in transports:
            points = sorted((r["clients"], r["latency_us"][key] / 1000.0) for r in runs if r["transport"] == t)
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=t, **STYLE.get(t, {}))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"tick latency {label}")
        ax.set_xlabel("clients (one room)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms from server_time_us to receipt")
    axes[-1].legend(loc="upper left")
    machine = report.get("machine", {})
    options = report.get("options", {})
    fig.suptitle(
        f"tickcast-bench: {machine.get('cpus', '?')} CPUs ({machine.get('cpu_model', '')}), "
        f"tick {options.get('tick_ms') or 'N/10 (100..1000)'} ms, {options.get('duration_s', '?')} s per run; "
        "missing points: size not held (see the table)",
        fontsize=9,
    )
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{base}.{ext}", dpi=110)
        print(f"wrote {base}.{ext}")


if __name__ == "__main__":
    main()
