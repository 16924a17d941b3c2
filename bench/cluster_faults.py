#!/usr/bin/env python3
"""Failover figures for the NATS JetStream cluster (docs/cluster.md), bounded, loopback.

3 nats-servers (R3, file storage) stay up; tickcast nodes come and go: a writer and a
follower (which serves clients from its start). Each run: a client reads the room's SSE
stream on the writer, the writer is killed (kill -9) at a random moment, the client
reconnects to the follower with Last-Event-ID and stays connected while the follower takes
the lease. A new follower is started for the next run.
Figures: failover time (gap between the last event before and the first after, minus the
tick), events lost / duplicated / conflicting, seq regressions, timer error after takeover.
Every process is started and stopped by pid.
"""
import argparse, json, os, random, signal, socket, statistics, subprocess, sys, tempfile, time
import http.client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/healthz")
        return c.getresponse().status == 200
    except OSError:
        return False


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Sse:
    def __init__(self, port, room, last_id=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        hdr = f"GET /sse/rooms/{room} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if last_id is not None:
            hdr += f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall((hdr + "\r\n").encode())
        self.buf = b""
        self.header_done = False

    def next(self, timeout=10):
        self.sock.settimeout(timeout)
        while True:
            if not self.header_done and b"\r\n\r\n" in self.buf:
                self.buf = self.buf.split(b"\r\n\r\n", 1)[1]
                self.header_done = True
            if self.header_done and b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                data = [l[5:].strip() for l in block.split(b"\n") if l.startswith(b"data:")]
                if data:
                    return json.loads(b"".join(data))
                continue
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                return None
            if not chunk:
                return None
            # chunked transfer: strip size lines crudely by keeping only SSE lines
            self.buf += chunk.replace(b"\r\n", b"\n") if self.header_done else chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tick-ms", type=int, default=100)
    ap.add_argument("--build", default="build/default")
    ap.add_argument("--out", default="cluster-faults-out")
    a = ap.parse_args()
    server = os.path.join(a.build, "examples/pomodoro-server/tickcast-server")
    tmp = tempfile.mkdtemp(prefix="tickcast-faults-")
    procs = []

    def spawn(args, log):
        p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    ports = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    nats = []
    for i in range(3):
        d = f"{tmp}/n{i}"
        os.makedirs(d)
        nats.append(spawn(["nats-server", "-js", "-sd", d, "-a", "127.0.0.1", "-p", str(ports[i]),
                           "-n", f"n{i}", "--cluster_name", "tc", "--cluster",
                           f"nats://127.0.0.1:{routes[i]}", "--routes",
                           ",".join(f"nats://127.0.0.1:{r}" for r in routes)], f"{tmp}/nats{i}.log"))
    cluster = ",".join(f"nats://127.0.0.1:{p}" for p in ports)

    def node(n):
        port = free_port()
        p = spawn([server, "--port", str(port), "--node-id", f"node{n}", "--cluster", cluster,
                   "--transport", "sse,longpoll", "--tick-ms", str(a.tick_ms), "--work", "1h"],
                  f"{tmp}/node{n}.log")
        return p, port

    results = []
    try:
        writer, wport = node(0)
        if not wait_for(lambda: healthz(wport), 60):
            sys.exit("the first node did not start: " + open(f"{tmp}/node0.log").read())
        c = http.client.HTTPConnection("127.0.0.1", wport, timeout=10)
        c.request("POST", "/api/rooms/faults/commands", body='{"type":"start"}')
        assert c.getresponse().status == 200
        for run in range(a.runs):
            standby, sport = node(run + 1)
            client = Sse(wport, "faults")
            seen = []
            deadline = time.monotonic() + random.uniform(1.0, 3.0)
            while time.monotonic() < deadline:
                e = client.next()
                if e is None:
                    break
                seen.append(e)
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
            while True:  # what was on the wire before the kill
                e = client.next(timeout=1)
                if e is None:
                    break
                seen.append(e)
            events = [e for e in seen if e["reason"] != "snapshot"]
            last = events[-1]
            if not wait_for(lambda: healthz(sport), 60):
                sys.exit("the follower does not answer: " + open(f"{tmp}/node{run + 1}.log").read())
            resumed = Sse(sport, "faults", last_id=last["seq"])
            after = []
            while len(after) < 5:
                e = resumed.next()
                if e is None:
                    break
                after.append(e)
            # The takeover is the longest gap between consecutive events across the kill.
            chain = events + [e for e in after if e["reason"] != "snapshot"]
            i = max(range(1, len(chain)), key=lambda k: chain[k]["server_time_us"] - chain[k - 1]["server_time_us"])
            last, first = chain[i - 1], chain[i]
            gap_ms = (first["server_time_us"] - last["server_time_us"]) / 1000 - a.tick_ms
            seqs = [e["seq"] for e in events] + [e["seq"] for e in after]
            lost = sum(max(0, b - x - 1) for x, b in zip(seqs, seqs[1:]))
            dup = len(seqs) - len(set(seqs))
            regress = sum(1 for x, b in zip(seqs, seqs[1:]) if b <= x)
            snapshots = sum(1 for e in after if e["reason"] == "snapshot")
            # timer error: remaining after the takeover vs the absolute deadline as of `last`.
            expect = last["state"]["remaining_ms"] - (first["server_time_us"] - last["server_time_us"]) / 1000
            timer_err = first["state"]["remaining_ms"] - expect
            results.append(dict(run=run, failover_ms=gap_ms, lost=lost, dup=dup, regress=regress,
                                snapshots=snapshots, timer_error_ms=timer_err))
            print(json.dumps(results[-1]), flush=True)
            writer, wport = standby, sport
        usage = {}
        for p in procs:
            if p.poll() is None:
                try:
                    st = open(f"/proc/{p.pid}/stat").read().split()
                    rss = int(open(f"/proc/{p.pid}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                    cpu = (int(st[13]) + int(st[14])) / os.sysconf("SC_CLK_TCK")
                    usage[f"{os.path.basename(p.args[0])}:{p.pid}"] = dict(cpu_s=cpu, rss_mb=round(rss / 2**20, 1))
                except OSError:
                    pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
    f = sorted(r["failover_ms"] for r in results)
    q = lambda p: f[min(len(f) - 1, int(round(p * (len(f) - 1))))]
    summary = dict(runs=len(results), tick_ms=a.tick_ms, failover_p50_ms=q(0.5), failover_p99_ms=q(0.99),
                   failover_max_ms=f[-1], lost=sum(r["lost"] for r in results), dup=sum(r["dup"] for r in results),
                   regressions=sum(r["regress"] for r in results), snapshots=sum(r["snapshots"] for r in results),
                   timer_error_ms_max=max(abs(r["timer_error_ms"]) for r in results), usage_end=usage)
    os.makedirs(a.out, exist_ok=True)
    json.dump(dict(summary=summary, runs=results), open(os.path.join(a.out, "cluster-faults.json"), "w"), indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
