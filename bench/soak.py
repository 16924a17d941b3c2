#!/usr/bin/python3
"""Helpers of bench/soak.sh (standard library only, except `report`, which plots with
matplotlib when it is there):

  soak.py sample PID BASE_URL OUT.csv STOP_FILE [PERIOD_S]
      every PERIOD_S (10) seconds until STOP_FILE exists: the server's RSS, descriptors and
      threads from /proc/PID, its children's (the embedded broker), and its /metrics.
  soak.py cycle BASE_URL ROOM OUT.json WORK_MS SHORT_MS LONG_MS CYCLES
      drives one full Pomodoro cycle in ROOM (configure, then `start` whenever the timer
      waits) and records every phase change and the seq it was seen at.
  soak.py report OUT_DIR
      reads samples.csv, cycle.json and bench-*.json in OUT_DIR and writes summary.md
      (and soak.png / soak.svg with matplotlib).
"""
import csv
import glob
import json
import os
import sys
import time
import urllib.request

PAGE = 4096


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def post(url, body, timeout=5):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def proc_status(pid):
    out = {"rss_kib": 0, "threads": 0, "cpu_s": 0.0}
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_kib"] = int(line.split()[1])
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        out["fds"] = 0
    return out


def children(pid):
    """Child processes started by any of the server's threads (the broker is one)."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def metrics(base):
    """Sums each metric family over its labels: {name: total}."""
    totals = {}
    try:
        text = get(base + "/metrics")
    except OSError:
        return totals
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        family = name.split("{")[0]
        try:
            totals[family] = totals.get(family, 0) + float(value)
        except ValueError:
            pass
    return totals


def sample(pid, base, out_path, stop_file, period=10.0):
    fields = ["t_s", "rss_kib", "fds", "threads", "broker_rss_kib", "broker_fds", "clients",
              "events_broadcast", "messages_sent", "ticks_dropped", "closed_slow", "load1",
              "cpu_s"]
    start = time.monotonic()
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        while True:
            s = proc_status(pid)
            if s["rss_kib"] == 0:
                break  # the server is gone
            broker = [proc_status(c) for c in children(pid)]
            m = metrics(base)
            with open("/proc/loadavg") as la:
                load1 = float(la.read().split()[0])
            w.writerow([round(time.monotonic() - start, 1), s["rss_kib"], s["fds"], s["threads"],
                        sum(b["rss_kib"] for b in broker), sum(b["fds"] for b in broker),
                        int(m.get("tickcast_clients", 0)),
                        int(m.get("tickcast_events_broadcast_total", 0)),
                        int(m.get("tickcast_messages_sent_total", 0)),
                        int(m.get("tickcast_ticks_dropped_total", 0)),
                        int(m.get("tickcast_clients_closed_slow_total", 0)), load1,
                        round(s["cpu_s"], 2)])
            f.flush()
            if os.path.exists(stop_file):
                break
            # sleep to the next period boundary; this is a sampling pace, not a sync
            time.sleep(period - ((time.monotonic() - start) % period))


EXPECTED = ["work", "short_break", "work", "short_break", "work", "short_break", "work",
            "long_break", "work"]


def cycle(base, room, work_ms, short_ms, long_ms, cycles, out_path):
    url = f"{base}/api/rooms/{room}"
    status, body = post(url + "/commands", {"type": "configure", "work_ms": work_ms,
                                            "short_break_ms": short_ms,
                                            "long_break_ms": long_ms, "cycles": cycles})
    expected = (["work", "short_break"] * cycles)[:-1] + ["long_break", "work"]
    record = {"room": room, "configured": {"work_ms": work_ms, "short_break_ms": short_ms,
                                           "long_break_ms": long_ms, "cycles": cycles},
              "configure_status": status, "expected": expected, "phases": [], "errors": []}
    last = None
    last_seq = -1
    started_at = None
    deadline = time.monotonic() + 3 * (cycles * (work_ms + short_ms) + long_ms) / 1000 + 120
    while time.monotonic() < deadline:
        try:
            snap = json.loads(get(url))
        except (OSError, ValueError) as e:
            record["errors"].append(f"GET failed: {e}")
            time.sleep(1)
            continue
        state, seq = snap["state"], snap["seq"]
        if seq < last_seq:
            record["errors"].append(f"seq went back: {last_seq} -> {seq}")
        last_seq = seq
        now = time.monotonic()
        if last is None or state["phase"] != last:
            record["phases"].append({"phase": state["phase"], "seen_s": round(now, 3),
                                     "seq": seq, "completed_work": state["completed_work"]})
            if started_at is not None and len(record["phases"]) >= 2:
                # how long the previous phase ran, from its start command to this change
                record["phases"][-2]["ran_s"] = round(now - started_at, 3)
            last = state["phase"]
            if len(record["phases"]) == len(expected):
                break
        if not state["running"]:
            code, text = post(url + "/commands", {"type": "start"})
            if code == 200:
                started_at = time.monotonic()
            elif code != 409:
                record["errors"].append(f"start: {code} {text}")
        time.sleep(0.05)  # polling pace
    record["sequence"] = [p["phase"] for p in record["phases"]]
    record["complete"] = record["sequence"] == expected
    with open(out_path, "w") as f:
        json.dump(record, f, indent=2)


def report(out_dir):
    rows = list(csv.DictReader(open(os.path.join(out_dir, "samples.csv"))))
    cyc = json.load(open(os.path.join(out_dir, "cycle.json"))) if os.path.exists(
        os.path.join(out_dir, "cycle.json")) else None
    benches = []
    for path in sorted(glob.glob(os.path.join(out_dir, "bench-*.json"))):
        try:
            benches.extend(json.load(open(path))["runs"])
        except (OSError, ValueError, KeyError):
            pass
    num = lambda r, k: float(r[k])  # noqa: E731
    lines = ["# Soak summary", ""]
    meta = os.path.join(out_dir, "meta.txt")
    if os.path.exists(meta):
        lines += ["```", open(meta).read().strip(), "```", ""]
    if rows:
        steady = [r for r in rows if int(r["clients"]) > 0] or rows
        first, last = steady[0], steady[-1]
        rss = [num(r, "rss_kib") / 1024 for r in steady]
        fds = [int(r["fds"]) for r in steady]
        lines += [
            f"Samples: {len(rows)} every 10 s over {rows[-1]['t_s']} s.",
            "",
            "| | first loaded sample | last sample | min | max |",
            "|---|---|---|---|---|",
            f"| server RSS MiB | {rss[0]:.1f} | {rss[-1]:.1f} | {min(rss):.1f} | {max(rss):.1f} |",
            f"| server fds | {fds[0]} | {fds[-1]} | {min(fds)} | {max(fds)} |",
            f"| broker RSS MiB | {num(first, 'broker_rss_kib') / 1024:.1f} | "
            f"{num(last, 'broker_rss_kib') / 1024:.1f} | | |",
            f"| clients (gauge, all transports) | {first['clients']} | {last['clients']} | | |",
            f"| load average (1 min) | {first['load1']} | {last['load1']} | | |",
            "",
            (f"Server CPU over the loaded samples: "
             f"{100 * (num(last, 'cpu_s') - num(first, 'cpu_s')) / max(1e-9, num(last, 't_s') - num(first, 't_s')):.1f}% of one core."
             if "cpu_s" in first else "Server CPU: not sampled (older samples.csv)."),
            "",
            f"Events broadcast: {last['events_broadcast']}; messages sent: "
            f"{last['messages_sent']}; ticks dropped: {last['ticks_dropped']}; "
            f"closed as slow: {last['closed_slow']}.",
            "",
        ]
    if benches:
        lines += ["| transport | clients | connected | p50 ms | p99 ms | p99.9 ms | max ms | "
                  "events | lost | dup | ooo | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for b in benches:
            lat = b["latency_us"]
            lines.append(
                f"| {b['transport']} | {b['clients']} | {b['connected']} | "
                f"{lat['p50'] / 1000:.2f} | {lat['p99'] / 1000:.2f} | {lat['p99_9'] / 1000:.2f} | "
                f"{lat['max'] / 1000:.2f} | {b['events']} | {b['lost']} | {b['duplicated']} | "
                f"{b['out_of_order']} | {b['note']} |")
        lines.append("")
    if cyc:
        lines += [f"Pomodoro cycle in room `{cyc['room']}` ({cyc['configured']}): "
                  f"{'complete' if cyc['complete'] else 'INCOMPLETE'}; phases "
                  f"{' -> '.join(cyc['sequence'])}; errors: {cyc['errors'] or 'none'}.", ""]
        ran = [f"{p['phase']} {p['ran_s']} s" for p in cyc["phases"] if "ran_s" in p]
        if ran:
            lines += ["Each phase, from its `start` to the next phase (polled every 50 ms): " +
                      ", ".join(ran) + ".", ""]
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return
    t = [num(r, "t_s") for r in rows]
    fig, ax = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    ax[0].plot(t, [num(r, "rss_kib") / 1024 for r in rows], label="server")
    ax[0].plot(t, [num(r, "broker_rss_kib") / 1024 for r in rows], label="broker")
    ax[0].set_ylabel("RSS MiB")
    ax[0].legend()
    ax[1].plot(t, [int(r["fds"]) for r in rows], label="server fds")
    ax[1].plot(t, [int(r["clients"]) for r in rows], label="clients gauge")
    ax[1].legend()
    rates = [0] + [(int(b["messages_sent"]) - int(a["messages_sent"])) / max(1e-9, num(b, "t_s") - num(a, "t_s"))
                   for a, b in zip(rows, rows[1:])]
    ax[2].plot(t, rates)
    ax[2].set_ylabel("messages sent/s")
    ax[2].set_xlabel("seconds")
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out_dir, f"soak.{ext}"))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    a = sys.argv[2:]
    if cmd == "sample":
        sample(int(a[0]), a[1], a[2], a[3], float(a[4]) if len(a) > 4 else 10.0)
    elif cmd == "cycle":
        cycle(a[0], a[1], int(a[3]), int(a[4]), int(a[5]), int(a[6]), a[2])
    elif cmd == "report":
        report(a[0])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
