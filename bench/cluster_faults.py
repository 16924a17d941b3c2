#!/usr/bin/env python3
"""Fault figures for the NATS JetStream cluster (docs/cluster.md), bounded, loopback.

Set-up: 3 nats-servers (JetStream R3, file storage, monitoring port each) and 3 tickcast
nodes on them (one writer, two followers, every node serving SSE); --rooms rooms (default
100) all started, ticking every --tick-ms (default 1000). SSE clients: --sample rooms on
every node, and every room on one follower; each client logs every event with its arrival
wall time. A client whose node dies reconnects to another node with Last-Event-ID; a node
(re)started later gets clients of its own for the sampled rooms.

Faults, each --faults times (default 3), in a shuffled order, each at a random moment
(2-6 s after the cluster is steady again):
  kill_writer  kill -9 of the writer; a follower takes over; a new node is started.
  stop_writer  SIGSTOP of the writer until a follower has taken over and committed, then
               SIGCONT: the stale writer must exit (fenced) and nothing it sends after
               waking may conflict with the stream; a new node is started.
  kill_leader  kill -9 of the nats-server leading the stream TICKCAST_tickcast (as /jsz
               reports it); ticks resume after the election; it is restarted on its store.

Measured (JSON in --out/cluster-faults.json, a summary printed):
  failover per fault kind: the longest gap between consecutive event arrivals across the
    fault, minus the tick, on clients of the nodes that stayed up (worst client per fault,
    and every client); p50/p99/max.
  lost (seq gaps), duplicated, seq regressions, conflicting (one room and seq with two
    payloads across all clients, or a payload different from what a node's long-poll
    ring, loaded from the stream, answers at the end), resumes answered with a snapshot,
    new histories: all must be 0.
  timer error after each takeover: remaining_ms of the first tick after the gap minus the
    remaining the deadline gives (last event before the gap) at its server_time_us.
  cross-node latency: server_time_us to arrival, clients on the writer vs on followers,
    p50/p99 (one host clock; events within a fault's window or just after a (re)connect
    are left out).
  CPU seconds and RSS of every process alive at the end.
Every process is started and stopped by pid; every wait is for a condition, with a deadline.
"""
import argparse
import gzip
import http.client
import json
import os
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

STREAM = "TICKCAST_tickcast"  # the node's default cluster name is "tickcast"


def now_us():
    return time.time_ns() // 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, step=0.05):
    """Polls `cond` until it is true (returns True) or `timeout` s passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def http_get(port, path, timeout=2.0):
    """(status, body) of a GET on loopback, or (None, None) when nothing answers."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException):
        return None, None


def http_json(port, path, timeout=2.0):
    status, body = http_get(port, path, timeout)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def quantile(values, q):
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def spread(values, scale=1.0, digits=1):
    """p50/p99/max/min/n of `values` (times `scale`), rounded."""
    if not values:
        return dict(n=0)
    r = lambda x: round(x * scale, digits)
    return dict(n=len(values), p50=r(quantile(values, 0.5)), p99=r(quantile(values, 0.99)),
                max=r(max(values)), min=r(min(values)))


def lease_reads(port, count=12, timeout=1.0):
    """The cluster lease as `count` direct gets (answered by any replica of the bucket, as
    the nodes read it) and one get from the stream leader see it: "revision holder" each,
    over the NATS protocol (evidence when a takeover does not happen)."""
    body = '{"last_by_subj":"$KV.tickcast_tickcast.lease"}'
    out = dict(direct=[], leader=None)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _LR.* 1\r\n')
        subjects = [("direct", "$JS.API.DIRECT.GET.KV_tickcast_tickcast")] * count + \
                   [("leader", "$JS.API.STREAM.MSG.GET.KV_tickcast_tickcast")]
        for n, (kind, subject) in enumerate(subjects):
            s.sendall(f"PUB {subject} _LR.{n} {len(body)}\r\n{body}\r\n".encode())
            answer = read_reply(s, f, f"_LR.{n}")
            if kind == "direct":
                out["direct"].append(answer)
            else:
                out["leader"] = answer
        s.close()
    except OSError as e:
        out["error"] = str(e)
    return out


def read_reply(s, f, inbox):
    """The reply on `inbox` as "revision holder" (direct get headers or a MSG.GET body)."""
    while True:
        line = f.readline()
        if not line:
            raise OSError("closed")
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
            continue
        parts = line.split()
        if parts[:1] not in ([b"MSG"], [b"HMSG"]):
            continue
        size = int(parts[-1])
        data = f.read(size + 2)[:size]
        if parts[1].decode() != inbox:
            continue
        if parts[0] == b"HMSG":
            hsize = int(parts[-2])
            head = data[:hsize].decode(errors="replace")
            seq = [l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.startswith("Nats-Sequence:")]
            return f"{seq[0] if seq else head.splitlines()[0]} {data[hsize:].decode(errors='replace')}"
        msg = json.loads(data).get("message")
        if not msg:
            return json.dumps(json.loads(data).get("error"))
        import base64
        return f"{msg['seq']} {base64.b64decode(msg.get('data', '')).decode(errors='replace')}"


# ---------------------------------------------------------------- processes

class Proc:
    """A child process started and stopped by pid, its output in a log file."""

    def __init__(self, label, kind, args, log):
        self.label, self.kind, self.args, self.log = label, kind, args, log
        self.popen = None
        self.started_us = None

    def start(self):
        out = open(self.log, "a")
        self.popen = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()
        self.started_us = now_us()
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, grace=10):
        if not self.alive():
            return self.popen.returncode if self.popen else None
        self.send(sig)
        rc = self.wait_exit(grace)
        if rc is None:
            self.send(signal.SIGKILL)
            rc = self.popen.wait()
        return rc

    def output(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def usage(self):
        """Cumulative CPU seconds and RSS now, from /proc."""
        st = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
        rss = int(open(f"/proc/{self.pid}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return dict(pid=self.pid, cpu_s=round(cpu, 2), rss_mb=round(rss / 2**20, 1))


class Cluster:
    """3 nats-servers and the tickcast nodes on them; which node is the writer, when."""

    def __init__(self, a, tmp):
        self.a, self.tmp = a, tmp
        self.nats_ports = [free_port() for _ in range(3)]
        self.routes = [free_port() for _ in range(3)]
        self.monitors = [free_port() for _ in range(3)]
        self.nats = []
        self.nodes = {}           # label -> Proc (every node ever started)
        self.node_port = {}       # label -> HTTP port
        self.available = []       # labels clients may connect to (up, not stopped)
        self.lock = threading.Lock()
        self.writer_timeline = []  # (t_us, label)
        self.node_count = 0
        self.url = ",".join(f"nats://127.0.0.1:{p}" for p in self.nats_ports)

    # nats-servers
    def nats_args(self, i):
        d = f"{self.tmp}/n{i}"
        os.makedirs(d, exist_ok=True)
        others = ",".join(f"nats://127.0.0.1:{r}" for j, r in enumerate(self.routes) if j != i)
        return ["nats-server", "-js", "-sd", d, "-a", "127.0.0.1", "-p", str(self.nats_ports[i]),
                "-m", str(self.monitors[i]), "-n", f"n{i}", "--cluster_name", "tc", "--cluster",
                f"nats://127.0.0.1:{self.routes[i]}", "--routes", others]

    def start_nats(self, i):
        p = Proc(f"n{i}", "nats-server", self.nats_args(i), f"{self.tmp}/nats-n{i}.log").start()
        if i < len(self.nats):
            self.nats[i] = p
        else:
            self.nats.append(p)
        return p

    def nats_healthy(self, i):
        return self.nats[i].alive() and http_get(self.monitors[i], "/healthz")[0] == 200

    def stream_leader(self):
        """The name (n0..n2) of the nats-server leading the events stream, or None."""
        for i, p in enumerate(self.nats):
            if not p.alive():
                continue
            jsz = http_json(self.monitors[i], "/jsz?accounts=true&streams=true")
            for acc in (jsz or {}).get("account_details", []):
                for s in acc.get("stream_detail", []):
                    leader = (s.get("cluster") or {}).get("leader")
                    if s.get("name") == STREAM and leader:
                        return leader
        return None

    def replicas(self):
        """Each alive nats-server's own copy of each stream: last_seq (evidence when a
        takeover does not happen: a replica behind the others)."""
        out = {}
        for i, p in enumerate(self.nats):
            jsz = http_json(self.monitors[i], "/jsz?accounts=true&streams=true") if p.alive() else None
            for acc in (jsz or {}).get("account_details", []):
                for st in acc.get("stream_detail", []):
                    out.setdefault(st["name"], {})[f"n{i}"] = st.get("state", {}).get("last_seq")
        return out

    def lease_reads(self):
        for i, p in enumerate(self.nats):
            if p.alive():
                return lease_reads(self.nats_ports[i])
        return None

    # tickcast nodes
    def start_node(self):
        label = f"node{self.node_count}"
        self.node_count += 1
        port = free_port()
        args = [self.a.server, "--port", str(port), "--node-id", label, "--cluster", self.url,
                "--transport", "sse,longpoll", "--tick-ms", str(self.a.tick_ms), "--work", "1h",
                "--room-create-rate", "0", "--room-idle", "0"]
        p = Proc(label, "tickcast-server", args, f"{self.tmp}/{label}.log").start()
        self.nodes[label], self.node_port[label] = p, port
        return label

    def node_healthy(self, label):
        return self.nodes[label].alive() and http_get(self.node_port[label], "/healthz")[0] == 200

    def role(self, label):
        info = http_json(self.node_port[label], "/api/cluster", timeout=1.0)
        return info.get("role") if info else None

    def serving(self):
        """Labels of the nodes alive now (a stopped one included), oldest first."""
        return [l for l, p in self.nodes.items() if p.alive()]

    def set_available(self, label, yes):
        with self.lock:
            if yes and label not in self.available:
                self.available.append(label)
            if not yes and label in self.available:
                self.available.remove(label)

    def pick(self, rng, exclude):
        with self.lock:
            choice = [l for l in self.available if l != exclude]
            if not choice:
                return None, None
            label = rng.choice(choice)
            return label, self.node_port[label]

    def set_writer(self, label, t_us):
        self.writer_timeline.append((t_us, label))

    def writer(self):
        return self.writer_timeline[-1][1]

    def writer_at(self, t_us):
        w = None
        for t, label in sorted(self.writer_timeline):
            if t > t_us:
                break
            w = label
        return w


# ---------------------------------------------------------------- SSE clients

class SseClient:
    """One SSE reader of a room; reconnects to another node with Last-Event-ID when its
    connection ends. Its log: (arrival_us, node, raw data, event)."""

    def __init__(self, cid, room):
        self.cid, self.room = cid, room
        self.node = None
        self.sock = None
        self.buf = b""
        self.header_done = False
        self.last_seq = None
        self.events = []
        self.connects = []  # (t_us, node, last_event_id or None)
        self.failed_connects = 0
        self.next_try = 0.0
        self.closed_at = None

    def connect(self, node, port):
        hdr = f"GET /sse/rooms/{self.room} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if self.last_seq is not None:
            hdr += f"Last-Event-ID: {self.last_seq}\r\n"
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall((hdr + "\r\n").encode())
            s.setblocking(False)
        except OSError:
            self.failed_connects += 1
            return False
        self.sock, self.node, self.buf, self.header_done = s, node, b"", False
        self.connects.append((now_us(), node, self.last_seq))
        self.closed_at = None
        return True

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.closed_at = time.monotonic()

    def feed(self, chunk, at_us):
        """Takes bytes read; returns False when the answer is not an event stream."""
        self.buf += chunk
        if not self.header_done:
            if b"\r\n\r\n" not in self.buf:
                return True
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                return False
            self.header_done = True
        while b"\n\n" in self.buf:
            block, self.buf = self.buf.split(b"\n\n", 1)
            data = b"\n".join(l[5:].lstrip() for l in block.split(b"\n") if l.startswith(b"data:"))
            if not data:
                continue  # retry:, comments (heartbeats)
            try:
                ev = json.loads(data)
            except ValueError:
                ev = {"reason": "unparsable", "raw": data.decode(errors="replace")}
            self.events.append((at_us, self.node, data, ev))
            if "seq" in ev:
                self.last_seq = ev["seq"]
        return True


class Readers(threading.Thread):
    """Reads every client's socket on one thread (arrival times taken at recv), and
    reconnects a client whose connection ended to another available node."""

    def __init__(self, cluster, rng):
        super().__init__(daemon=True)
        self.cluster, self.rng = cluster, rng
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.pending = []
        self.lock = threading.Lock()
        self.stopping = False

    def add(self, client, node):
        with self.lock:
            self.clients.append(client)
            self.pending.append((client, node))

    def run(self):
        while not self.stopping:
            self.take_pending()
            for key, _ in self.sel.select(timeout=0.05):
                self.read(key.data)
            self.reconnect_down()

    def take_pending(self):
        with self.lock:
            pending, self.pending = self.pending, []
        for client, node in pending:
            if client.connect(node, self.cluster.node_port[node]):
                self.sel.register(client.sock, selectors.EVENT_READ, client)
            else:
                client.closed_at = time.monotonic()

    def read(self, client):
        try:
            chunk = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        at = now_us()
        if not chunk or not client.feed(chunk, at):
            self.sel.unregister(client.sock)
            client.close()

    def reconnect_down(self):
        t = time.monotonic()
        for c in self.clients:
            if c.sock is not None or c.closed_at is None or t < c.next_try:
                continue
            node, port = self.cluster.pick(self.rng, exclude=c.node)
            if node is not None and c.connect(node, port):
                self.sel.register(c.sock, selectors.EVENT_READ, c)
            else:
                c.next_try = t + 0.2  # a retry period, not a synchronisation

    def stop(self):
        self.stopping = True
        self.join(5)
        for c in self.clients:
            c.close()


# ---------------------------------------------------------------- the run

class Watcher(threading.Thread):
    """Notes, with their times, every node exit (status, last log line) and every change
    of the writer that /api/cluster names (asked of an available node every 0.25 s)."""

    def __init__(self, cluster, note):
        super().__init__(daemon=True)
        self.cluster, self.note = cluster, note
        self.timeline = []  # (t_us, what, label, detail)
        self.exited = set()
        self.stopping = False

    def run(self):
        last_ask = 0.0
        while not self.stopping:
            for label, p in list(self.cluster.nodes.items()):
                if label not in self.exited and p.popen.poll() is not None:
                    self.exited.add(label)
                    lines = [l for l in p.output().splitlines() if "exiting" in l or "cannot" in l]
                    self.event("exit", label, dict(status=p.popen.returncode, why=lines[-1:] or None))
            if time.monotonic() - last_ask >= 0.25:
                last_ask = time.monotonic()
                self.ask_writer()
            time.sleep(0.1)  # a polling period

    def ask_writer(self):
        c = self.cluster
        with c.lock:
            asked = list(c.available)
        for label in asked:
            info = http_json(c.node_port[label], "/api/cluster", timeout=0.5)
            writer = (info or {}).get("writer")
            if writer:
                if writer != c.writer():
                    c.set_writer(writer, now_us())
                    self.event("writer", writer, dict(as_told_by=label))
                return

    def event(self, what, label, detail):
        self.timeline.append((now_us(), what, label, detail))
        self.note(f"{what} {label} {json.dumps(detail)}")


class Run:
    """The cluster, its clients and the faults injected into them."""

    def __init__(self, a, tmp):
        self.a = a
        self.rng = random.Random(a.seed)
        self.cluster = Cluster(a, tmp)
        self.readers = Readers(self.cluster, random.Random(a.seed + 1))
        self.watcher = Watcher(self.cluster, self.note)
        self.rooms = [f"r{i:03d}" for i in range(a.rooms)]
        self.sample = sorted(self.rng.sample(self.rooms, min(a.sample, a.rooms)))
        self.faults = []
        self.notes = []
        self.next_client = 0
        self.t0 = time.monotonic()

    def note(self, text):
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def problem(self, text):
        self.notes.append(text)
        self.note("PROBLEM: " + text)

    # set-up
    def start(self):
        c = self.cluster
        for i in range(3):
            c.start_nats(i)
        if not wait_for(lambda: all(c.nats_healthy(i) for i in range(3)), 60):
            sys.exit("the nats-servers are not healthy: " + c.nats[0].output()[-2000:])
        first = c.start_node()
        if not wait_for(lambda: c.node_healthy(first), 60):
            sys.exit("the first node did not start: " + c.nodes[first].output()[-2000:])
        c.set_writer(first, now_us())
        c.set_available(first, True)
        self.watcher.start()
        self.start_rooms(first)
        for _ in range(2):
            self.add_node()
        self.readers.start()
        self.add_clients(first, self.sample)
        followers = [l for l in c.serving() if l != first]
        for f in followers:
            self.add_clients(f, self.sample)
        self.add_clients(followers[0], [r for r in self.rooms if r not in self.sample])
        self.note(f"{len(self.readers.clients)} clients on {c.serving()}; writer {first}; "
                  f"nats {c.url}, monitoring {c.monitors}")

    def start_rooms(self, node):
        port = self.cluster.node_port[node]
        for room in self.rooms:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", f"/api/rooms/{room}/commands", body='{"type":"start"}',
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            if r.status != 200:
                sys.exit(f"start of {room}: {r.status} {body!r}")

    def add_node(self):
        """Starts a node, waits for it to serve as a follower, gives it its clients."""
        c = self.cluster
        label = c.start_node()
        ok = wait_for(lambda: c.node_healthy(label), 90)
        if not ok:
            self.problem(f"{label} not healthy within 90 s: " + c.nodes[label].output()[-1500:])
            return label
        if c.role(label) != "follower":
            self.problem(f"{label} started as {c.role(label)}, not a follower")
        c.set_available(label, True)
        return label

    def add_clients(self, node, rooms):
        for room in rooms:
            self.readers.add(SseClient(self.next_client, room), node)
            self.next_client += 1

    # conditions
    def steady(self, tick_s):
        c = self.cluster
        if not all(c.nats_healthy(i) for i in range(3)):
            return False
        up = c.serving()
        if len(up) != 3 or not all(c.node_healthy(l) for l in up):
            return False
        roles = [c.role(l) for l in up]
        if roles.count("writer") != 1 or roles.count("follower") != 2:
            return False
        limit = now_us() - int(2.5 * tick_s * 1e6)
        return all(cl.sock is not None and cl.events and cl.events[-1][0] > limit
                   for cl in self.readers.clients)

    def wait_steady(self, timeout=60):
        tick_s = self.a.tick_ms / 1000
        ok = wait_for(lambda: self.steady(tick_s), timeout, step=0.2)
        if not ok:
            self.problem("the cluster was not steady within %d s" % timeout)
        return now_us()

    def wait_takeover(self, survivors, timeout=30):
        found = []

        def writer_among():
            for l in survivors:
                if self.cluster.role(l) == "writer":
                    found.append(l)
                    return True
            return False

        if wait_for(writer_among, timeout, step=0.02):
            return found[0], now_us()
        return None, now_us()

    def events_after(self, nodes, t_us, count):
        """True when every client connected to one of `nodes` has `count` events produced
        (server_time_us) after t_us."""
        for cl in self.readers.clients:
            if cl.node in nodes and cl.sock is not None:
                fresh = sum(1 for e in cl.events[-count - 2:]
                            if e[3].get("server_time_us", 0) > t_us and e[3].get("reason") != "snapshot")
                if fresh < count:
                    return False
        return True

    # faults
    def writer_victim(self):
        """(victim, survivors, None): the live writer to fault, marked unavailable, and the
        serving nodes that stay; (None, None, a skipped record) when the writer
        /api/cluster names is gone already."""
        c = self.cluster
        victim = c.writer()
        if not c.nodes[victim].alive():
            self.problem(f"no live writer to fault (the cluster names {victim})")
            return None, None, dict(kind="skipped", victim=victim, survivors=[],
                                    t_fault_us=now_us())
        survivors = [l for l in c.serving() if l != victim]
        c.set_available(victim, False)
        return victim, survivors, None

    def takeover_record(self, kind, victim, survivors, t, new, t_over, what):
        """The fault's record; when no follower took over, the replicas and lease as the
        engine shows them, reported as a problem."""
        rec = dict(kind=kind, victim=victim, survivors=survivors, t_fault_us=t,
                   new_writer=new, takeover_seen_ms=round((t_over - t) / 1000))
        if new is None:
            c = self.cluster
            rec["replicas_after"], rec["lease_reads"] = c.replicas(), c.lease_reads()
            self.problem(f"no follower took over {what}: {rec['replicas_after']} "
                         f"lease reads {rec['lease_reads']}")
        return rec

    def kill_writer(self):
        c = self.cluster
        victim, survivors, skipped = self.writer_victim()
        if skipped:
            return skipped
        t = now_us()
        c.nodes[victim].send(signal.SIGKILL)
        c.nodes[victim].wait_exit(10)
        new, t_over = self.wait_takeover(survivors)
        rec = self.takeover_record("kill_writer", victim, survivors, t, new, t_over,
                                   f"after kill -9 of {victim}")
        if new is None:
            return rec
        c.set_writer(new, t_over)
        wait_for(lambda: self.events_after(survivors, t, 2), 20)
        rec["restarted"] = self.add_node()
        return rec

    def stop_writer(self):
        c = self.cluster
        victim, survivors, skipped = self.writer_victim()
        if skipped:
            return skipped
        p = c.nodes[victim]
        t = now_us()
        p.send(signal.SIGSTOP)
        new, t_over = self.wait_takeover(survivors, timeout=30)
        rec = self.takeover_record("stop_writer", victim, survivors, t, new, t_over,
                                   f"from the stopped {victim}")
        if new is not None:
            c.set_writer(new, t_over)
            # the new writer has committed ticks of its own before the stale one wakes
            if not wait_for(lambda: self.events_after(survivors, t_over, 2), 20):
                self.problem("survivors' clients got no new events after the takeover")
        t_cont = now_us()
        p.send(signal.SIGCONT)
        # The fence waits at most 60 s for the engine; without a takeover the writer
        # rightly goes on (it still holds the lease): it is then killed, to go on.
        rc = p.wait_exit(70 if new else 5)
        rec.update(t_cont_us=t_cont, stopped_ms=round((t_cont - t) / 1000), exit_status=rc,
                   exit_after_cont_ms=round((now_us() - t_cont) / 1000) if rc is not None else None)
        if rc is None:
            if new:
                self.problem(f"the stale writer {victim} did not exit within 70 s of SIGCONT")
            p.stop(signal.SIGKILL)
            rec["killed_after_sigcont"] = True
        elif rc != 75:
            self.problem(f"the stale writer {victim} exited with {rc}, not 75")
        rec["restarted"] = self.add_node()
        return rec

    def kill_leader(self):
        c = self.cluster
        leader = []

        def found():
            name = c.stream_leader()
            if name:
                leader.append(name)
            return bool(name)

        if not wait_for(found, 15):
            self.problem("no stream leader reported by /jsz")
            return dict(kind="kill_leader", victim=None, survivors=c.serving(), t_fault_us=now_us())
        i = int(leader[0][1:])
        nodes = c.serving()
        t = now_us()
        c.nats[i].send(signal.SIGKILL)
        c.nats[i].wait_exit(10)
        elected = []  # when another nats-server leads the stream, as /jsz reports it

        def resumed():
            if not elected and c.stream_leader() not in (None, leader[0]):
                elected.append(now_us())
            return self.events_after(nodes, t, 2)

        ok = wait_for(resumed, 60, step=0.05)
        t_res = now_us()
        rec = dict(kind="kill_leader", victim=leader[0], survivors=nodes, t_fault_us=t,
                   leader_elected_ms=round((elected[0] - t) / 1000) if elected else None,
                   ticks_resumed_ms=round((t_res - t) / 1000) if ok else None)
        if not ok:
            self.problem(f"ticks did not resume within 60 s of kill -9 of nats {leader[0]}")
        c.start_nats(i)
        back = wait_for(lambda: c.nats_healthy(i), 60)
        rec["restarted_healthy_ms"] = round((now_us() - t_res) / 1000) if back else None
        if not back:
            self.problem(f"nats {leader[0]} not healthy within 60 s of its restart")
        rec["new_leader"] = c.stream_leader()
        return rec

    def repair(self, rec):
        """Replaces every node that exited besides the fault's victim (a problem), so that
        3 serve again; returns those nodes with their last log line."""
        c = self.cluster
        lost = [l for l, p in c.nodes.items() if not p.alive() and l in c.available]
        for label in lost:
            c.set_available(label, False)
        gone = []
        for label in lost:
            if label != rec.get("victim"):
                why = [l for l in c.nodes[label].output().splitlines() if "exiting" in l]
                gone.append(dict(node=label, status=c.nodes[label].popen.returncode, why=why[-1:]))
                self.problem(f"{rec['kind']}: {label} exited: {why[-1:]}")
        while len(c.serving()) < 3:
            self.add_node()
        return gone

    def warm_up(self):
        """Every client has 3 events produced after its start, before the first fault."""
        t = now_us()
        if not wait_for(lambda: self.events_after(self.cluster.serving(), t, 3), 30):
            self.problem("some clients got no events before the first fault")

    def run_faults(self):
        kinds = self.a.kinds * self.a.faults
        self.rng.shuffle(kinds)
        for n, kind in enumerate(kinds):
            if time.monotonic() - self.t0 > self.a.budget_s:
                self.problem(f"time budget ({self.a.budget_s} s) spent: {len(kinds) - n} faults not run")
                break
            delay = self.rng.uniform(2.0, 6.0)  # the random moment of the fault
            time.sleep(delay)
            before = self.cluster.replicas()
            rec = getattr(self, kind)()
            rec["replicas_before"] = before
            rec["unexpected_exits"] = self.repair(rec)
            rec["t_steady_us"] = self.wait_steady()
            rec["steady"] = self.steady(self.a.tick_ms / 1000)
            rec["delay_s"] = round(delay, 2)
            self.faults.append(rec)
            self.note(f"fault {n + 1}/{len(kinds)} {kind} of {rec.get('victim')}: " +
                      json.dumps({k: v for k, v in rec.items() if not k.startswith("t_")}))
            if not rec["steady"]:
                # A cluster that did not come back (no writer, a node down) would make the
                # next faults hit dead processes: what follows would not measure them.
                self.problem(f"not steady after fault {n + 1}: the {len(kinds) - n - 1} "
                             "faults left are not run")
                break

    def finish(self):
        """Lets every client get a few more events, then the usage and the stream check."""
        t = now_us()
        if not wait_for(lambda: self.events_after(self.cluster.serving(), t, 3), 30):
            self.problem("some clients got no events at the end")
        self.readers.stop()
        self.watcher.stopping = True
        c = self.cluster
        usage = {p.label: dict(kind=p.kind, **p.usage(),
                               age_s=round((now_us() - p.started_us) / 1e6, 1))
                 for p in c.nats + [c.nodes[l] for l in c.serving()] if p.alive()}
        stream = ring_check(self.readers.clients, {l: c.node_port[l] for l in c.serving()})
        return usage, stream

    def stop_all(self):
        for l in self.cluster.serving():
            self.cluster.nodes[l].send(signal.SIGCONT)
            self.cluster.nodes[l].stop()
        for p in self.cluster.nats:
            p.stop()


# ---------------------------------------------------------------- analysis

def canonical(ev):
    return json.dumps(ev, sort_keys=True, separators=(",", ":"))


def ring_check(clients, node_ports):
    """Compares every event the clients got with what each node's long-poll ring (loaded
    from the stream) answers for its room and seq. Returns counts and examples."""
    seen = {}
    for cl in clients:
        for _, node, _, ev in cl.events:
            if ev.get("reason") != "snapshot" and "seq" in ev:
                seen.setdefault(cl.room, {}).setdefault(ev["seq"], (canonical(ev), cl.cid, node))
    out = dict(compared=0, conflicts=0, not_in_ring=0, examples=[])
    for node, port in node_ports.items():
        for room, by_seq in seen.items():
            stored = poll_ring(port, room, min(by_seq) - 1, max(by_seq))
            for seq, (payload, cid, got_on) in by_seq.items():
                if seq not in stored:
                    out["not_in_ring"] += 1
                    continue
                out["compared"] += 1
                if stored[seq] != payload:
                    out["conflicts"] += 1
                    if len(out["examples"]) < 5:
                        out["examples"].append(dict(room=room, seq=seq, client=cid, got_on=got_on,
                                                    client_payload=payload, ring_node=node,
                                                    ring_payload=stored[seq]))
    return out


def poll_ring(port, room, since, last):
    """seq -> canonical payload of the events a node's long-poll answers after `since`."""
    stored = {}
    while since < last:
        answer = http_json(port, f"/poll/rooms/{room}?since={since}&timeout_ms=0", timeout=5)
        events = (answer or {}).get("events") or []
        events = [e for e in events if e.get("reason") != "snapshot"]
        if not events:
            break
        for e in events:
            stored[e["seq"]] = canonical(e)
        since = events[-1]["seq"]
    return stored


def client_sequences(clients):
    """Per client: seq gaps (lost), repeats, regressions, snapshots on resume, new
    histories; across clients: one room and seq with two payloads."""
    tot = dict(clients=len(clients), events=0, lost=0, duplicated=0, regressions=0,
               conflicting=0, snapshot_resumes=0, new_histories=0, unparsable=0, reconnects=0,
               examples=[])
    payloads = {}
    for cl in clients:
        prev, seqs = None, set()
        resumed_at = {t for t, _, last in cl.connects if last is not None}
        tot["reconnects"] += sum(1 for _, _, last in cl.connects if last is not None)
        conn_times = sorted(t for t, _, _ in cl.connects)
        for at, node, raw, ev in cl.events:
            if ev.get("reason") == "snapshot":
                started = max([t for t in conn_times if t <= at], default=None)
                if started in resumed_at:
                    tot["snapshot_resumes"] += 1
                    example(tot, "snapshot on resume", cl, node, at, ev)
                continue
            if "seq" not in ev:
                tot["unparsable"] += 1
                example(tot, "unparsable", cl, node, at, ev)
                continue
            tot["events"] += 1
            seq = ev["seq"]
            key = (cl.room, seq)
            payload = canonical(ev)
            if payloads.setdefault(key, payload) != payload:
                tot["conflicting"] += 1
                example(tot, "conflict", cl, node, at, ev, other=payloads[key])
            if seq in seqs:
                tot["duplicated"] += 1
                example(tot, "duplicate", cl, node, at, ev)
            seqs.add(seq)
            if prev is not None:
                if seq <= prev:
                    tot["regressions"] += 1
                    example(tot, "regression", cl, node, at, ev, other=prev)
                elif seq - prev > 1_000_000:
                    tot["new_histories"] += 1
                    example(tot, "new history", cl, node, at, ev, other=prev)
                elif seq > prev + 1:
                    tot["lost"] += seq - prev - 1
                    example(tot, "gap", cl, node, at, ev, other=prev)
            prev = seq if prev is None else max(prev, seq)
    return tot


def example(tot, what, cl, node, at, ev, other=None):
    if len(tot["examples"]) < 20:
        tot["examples"].append(dict(what=what, client=cl.cid, room=cl.room, node=node,
                                    arrival_us=at, event=ev, other=other))


def failover(faults, clients, cluster, tick_ms):
    """Per fault: the longest arrival gap (minus the tick) of each client that stayed on a
    surviving node across the fault; the timer error at that gap."""
    by_kind = {}
    for f in faults:
        t0 = f["t_fault_us"] - int(1.5 * tick_ms * 1000)
        t1 = f.get("t_steady_us") or now_us()
        gaps, errors, on_role = [], [], dict(writer=[], follower=[])
        for cl in clients:
            g = client_gap(cl, f, t0, t1)
            if g is None:
                continue
            gap_ms, err, node = g
            gaps.append(gap_ms - tick_ms)
            on_role["writer" if cluster.writer_at(t1) == node else "follower"].append(gap_ms - tick_ms)
            if err is not None:
                errors.append(err)
        for role, v in on_role.items():
            if v:
                f[f"failover_median_on_{role}_ms"] = round(statistics.median(v), 1)
        f["clients_measured"] = len(gaps)
        if gaps:
            f["failover_worst_ms"] = round(max(gaps), 1)
            f["failover_median_ms"] = round(statistics.median(gaps), 1)
        if errors:
            f["timer_error_ms"] = [round(min(errors), 1), round(max(errors), 1)]
        k = by_kind.setdefault(f["kind"], dict(worst=[], every=[], timer=[], writer=[], follower=[]))
        if gaps:
            k["worst"].append(max(gaps))
            k["every"].extend(gaps)
        for role, v in on_role.items():
            k[role].extend(v)
        k["timer"].extend(errors)
    out = {}
    for kind, k in by_kind.items():
        out[kind] = dict(faults=len(k["worst"]), per_fault_worst_client_ms=spread(k["worst"]),
                         every_client_ms=spread(k["every"]), timer_error_ms=spread(k["timer"]),
                         clients_on_the_writer_ms=spread(k["writer"]),
                         clients_on_a_follower_ms=spread(k["follower"]))
        for key in ("takeover_seen_ms", "leader_elected_ms", "ticks_resumed_ms"):
            seen = [f[key] for f in faults if f["kind"] == kind and f.get(key) is not None]
            if seen:  # fault to: the new writer's /api/cluster role, a new stream leader, ticks
                out[kind][key] = spread(seen, digits=0)
    return out


def client_gap(cl, f, t0, t1):
    """(gap ms, timer error ms) of one client across fault `f`, or None when the client
    was not on a surviving node for the whole window."""
    if not cl.connects or cl.connects[0][0] > t0 or any(t0 <= t <= t1 for t, _, _ in cl.connects):
        return None
    evs = [e for e in cl.events if t0 <= e[0] <= t1 and e[3].get("reason") != "snapshot"]
    if len(evs) < 2 or evs[0][1] not in f["survivors"] or evs[0][1] == f.get("victim"):
        return None
    i = max(range(1, len(evs)), key=lambda k: evs[k][0] - evs[k - 1][0])
    gap_ms = (evs[i][0] - evs[i - 1][0]) / 1000
    last = evs[i - 1][3]
    first_tick = next((e[3] for e in evs[i:] if e[3].get("reason") == "tick"), None)
    err = None
    if first_tick is not None and last.get("state", {}).get("running"):
        elapsed_ms = (first_tick["server_time_us"] - last["server_time_us"]) / 1000
        err = first_tick["state"]["remaining_ms"] - (last["state"]["remaining_ms"] - elapsed_ms)
    return gap_ms, err, evs[0][1]


def latency(clients, cluster, faults, tick_ms):
    """server_time_us to arrival (ms), clients on the writer vs on followers, leaving out
    the faults' windows and the first 2 s after each (re)connect (replayed events)."""
    windows = [(f["t_fault_us"] - 1_000_000, (f.get("t_steady_us") or now_us()) + 2_000_000)
               for f in faults]
    out = dict(writer=[], follower=[])
    for cl in clients:
        conns = [t for t, _, _ in cl.connects]
        for at, node, _, ev in cl.events:
            if ev.get("reason") == "snapshot" or "server_time_us" not in ev:
                continue
            if any(a <= at <= b for a, b in windows) or any(0 <= at - t < 2_000_000 for t in conns):
                continue
            role = "writer" if cluster.writer_at(at) == node else "follower"
            out[role].append((at - ev["server_time_us"]) / 1000)
    return {role: spread(v, digits=2) for role, v in out.items()}


def stale_events(faults, clients):
    """Events the stopped writers' clients got after SIGCONT (they must all agree with the
    stream: the conflict counts say so)."""
    out = []
    for f in faults:
        if f["kind"] != "stop_writer" or "t_cont_us" not in f or not f.get("new_writer"):
            continue
        late = [e for cl in clients for e in cl.events
                if e[1] == f["victim"] and e[0] >= f["t_cont_us"] and e[3].get("reason") != "snapshot"]
        f["events_from_stale_after_sigcont"] = len(late)
        out.append(len(late))
    return out


def save_client_logs(path, clients):
    with gzip.open(path, "wt") as f:
        for cl in clients:
            for at, node, raw, _ in cl.events:
                f.write(f'{{"client":{cl.cid},"room":"{cl.room}","node":"{node}","arrival_us":{at},'
                        f'"data":{raw.decode()}}}\n')


def print_table(s):
    """The figures of docs/cluster.md, as a Markdown table."""
    rows = [("figure", "value")]
    fmt = lambda t: f"p50 {t['p50']} ms, p99 {t['p99']} ms, max {t['max']} ms"
    for kind, k in sorted(s["failover"].items()):
        w, e = k["per_fault_worst_client_ms"], k["every_client_ms"]
        if w.get("n"):
            rows.append((f"failover {kind}: worst client per fault (gap minus the tick)",
                         f"{fmt(w)} ({k['faults']} faults)"))
            rows.append((f"failover {kind}: every surviving client", f"{fmt(e)} ({e['n']} samples)"))
        for role, key in (("writer", "clients_on_the_writer_ms"), ("follower", "clients_on_a_follower_ms")):
            t = k[key]
            if t.get("n"):
                new = "new " if kind != "kill_leader" and role == "writer" else ""
                rows.append((f"failover {kind}: clients on the {new}{role}", f"{fmt(t)} ({t['n']} samples)"))
        for key, what in (("takeover_seen_ms", "a survivor answers role writer"),
                          ("leader_elected_ms", "/jsz names a new stream leader"),
                          ("ticks_resumed_ms", "every client has 2 new events")):
            t = k.get(key)
            if t:
                rows.append((f"{kind}: fault to {what}", f"p50 {t['p50']} ms, max {t['max']} ms ({t['n']})"))
        t = k["timer_error_ms"]
        if t.get("n"):
            rows.append((f"timer error after {kind}", f"{t['min']} … {t['max']} ms (p50 {t['p50']})"))
    q = s["sequences"]
    rows.append(("events received / lost / duplicated / conflicting / regressions",
                 f"{q['events']} / {q['lost']} / {q['duplicated']} / {q['conflicting']} / {q['regressions']}"))
    rows.append(("resumes answered with a snapshot / new histories / reconnects",
                 f"{q['snapshot_resumes']} / {q['new_histories']} / {q['reconnects']}"))
    r = s["ring_check"]
    rows.append(("client events vs the nodes' rings at the end: compared / conflicts / not in ring",
                 f"{r['compared']} / {r['conflicts']} / {r['not_in_ring']}"))
    rows.append(("events from stale writers after SIGCONT", str(s["events_from_stale_writers_after_sigcont"])))
    for role, l in s["latency_ms"].items():
        if l.get("n"):
            rows.append((f"latency server_time_us to receipt, client on the {role}",
                         f"p50 {l['p50']} ms, p99 {l['p99']} ms ({l['n']} events)"))
    for label, u in s["usage_end"].items():
        rows.append((f"{label} ({u['kind']}, up {u['age_s']} s)", f"{u['cpu_s']} CPU s, {u['rss_mb']} MB RSS"))
    for line in rows:
        print("| " + " | ".join(line) + " |")
        if line is rows[0]:
            print("|---|---|")
    for p in s["problems"]:
        print("PROBLEM:", p)


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Bounded: stops injecting faults after --budget-s and reports what ran.")
    ap.add_argument("--faults", type=int, default=3, help="faults of each kind (default 3)")
    ap.add_argument("--rooms", type=int, default=100, help="rooms, all started (default 100)")
    ap.add_argument("--tick-ms", type=int, default=1000, help="tick period (default 1000)")
    ap.add_argument("--sample", type=int, default=12,
                    help="rooms with a client on every node (default 12); every room also "
                         "has a client on one follower")
    ap.add_argument("--kinds", default="kill_writer,stop_writer,kill_leader",
                    help="fault kinds to inject (default: all three)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    ap.add_argument("--out", default="cluster-faults-out", help="folder of cluster-faults.json "
                    "and clients.jsonl.gz (every event with its arrival time)")
    ap.add_argument("--build", default="build/default", help="build folder of tickcast-server")
    ap.add_argument("--server", default=None, help="tickcast-server binary (default: from --build)")
    ap.add_argument("--budget-s", type=float, default=480,
                    help="no fault starts after this many seconds (default 480)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores); kept anyway after a problem")
    a = ap.parse_args()
    a.kinds = a.kinds.split(",")
    if not set(a.kinds) <= {"kill_writer", "stop_writer", "kill_leader"}:
        ap.error("--kinds: kill_writer, stop_writer, kill_leader")
    if a.seed is None:
        a.seed = int(time.time()) % 100000
    a.server = a.server or os.path.join(a.build, "examples/pomodoro-server/tickcast-server")
    if not os.access(a.server, os.X_OK):
        ap.error(f"no tickcast-server at {a.server} (--build or --server)")
    return a


def main():
    a = parse_args()
    tmp = tempfile.mkdtemp(prefix="tickcast-faults-")
    run = Run(a, tmp)
    run.note(f"seed {a.seed}, {a.rooms} rooms at {a.tick_ms} ms, {a.faults} faults per kind, logs {tmp}")
    started = time.time()
    try:
        run.start()
        run.wait_steady()
        run.warm_up()
        run.run_faults()
        usage, ring = run.finish()
    finally:
        run.readers.stopping = True
        run.stop_all()
    clients = run.readers.clients
    seqs = client_sequences(clients)
    summary = dict(
        seed=a.seed, rooms=a.rooms, tick_ms=a.tick_ms, sampled_rooms=len(run.sample),
        duration_s=round(time.time() - started), faults_run=len(run.faults),
        failover=failover(run.faults, clients, run.cluster, a.tick_ms),
        sequences={k: v for k, v in seqs.items() if k != "examples"},
        ring_check={k: v for k, v in ring.items() if k != "examples"},
        events_from_stale_writers_after_sigcont=stale_events(run.faults, clients),
        latency_ms=latency(clients, run.cluster, run.faults, a.tick_ms),
        usage_end=usage, problems=run.notes)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "cluster-faults.json"), "w") as f:
        json.dump(dict(summary=summary, faults=run.faults, timeline=run.watcher.timeline, examples=seqs["examples"],
                       ring_examples=ring["examples"], logs=tmp), f, indent=1)
    save_client_logs(os.path.join(a.out, "clients.jsonl.gz"), clients)
    for p in list(run.cluster.nodes.values()) + run.cluster.nats:
        if "exiting" in p.output() or "took over" in p.output():
            for line in p.output().splitlines():
                if "exiting" in line or "took over" in line:
                    summary.setdefault("node_log_lines", []).append(f"{p.label}: {line}")
    print(json.dumps(summary, indent=1))
    print_table(summary)
    if not a.keep and not run.notes:
        subprocess.run(["rm", "-rf", tmp])
    bad = seqs["lost"] + seqs["duplicated"] + seqs["conflicting"] + seqs["regressions"] + ring["conflicts"]
    return 1 if bad or run.notes else 0


if __name__ == "__main__":
    sys.exit(main())
