#!/usr/bin/env python3
"""Measures tickcast-server's memory per open SSE stream and per parked long-poll.

Starts the server, reads its RSS idle, opens N streams (or parks N polls), waits until
/metrics counts them all, reads RSS again, and prints (RSS with N open - idle) / N.
Usage: scripts/measure_stream_memory.py [path/to/tickcast-server] [N]
"""
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request

SERVER = sys.argv[1] if len(sys.argv) > 1 else "build/default/examples/pomodoro-server/tickcast-server"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def clients(port, transport):
    for line in get(port, "/metrics").splitlines():
        if line.startswith(f'tickcast_clients{{transport="{transport}"}}'):
            return int(line.split()[-1])
    return -1


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def open_many(port, path):
    sockets = []
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sockets.append(s)
    return sockets


def measure(transport, path):
    """One fresh server per measurement, so memory freed by an earlier one is not reused."""
    port = free_port()
    server = subprocess.Popen([SERVER, "--port", str(port), "--transport", "sse,longpoll",
                               "--max-clients", str(N * 2)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _healthy(port), "healthz")
        get(port, "/api/rooms/mem")  # the room exists before anyone joins it
        idle = rss_kib(server.pid)
        sockets = open_many(port, path)
        wait_for(lambda: clients(port, transport) == N, f"{N} {transport} clients")
        during = rss_kib(server.pid)
        for s in sockets:
            s.close()
        return {"idle_rss_kib": idle, "rss_with_n_kib": during,
                "bytes_per_client": round((during - idle) * 1024 / N)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {"n": N}
    for transport, path in (("sse", "/sse/rooms/mem"),
                            ("longpoll", "/poll/rooms/mem?since=0&timeout_ms=60000")):
        runs = [measure(transport, path) for _ in range(3)]
        runs.sort(key=lambda r: r["bytes_per_client"])
        results[transport] = {"median": runs[1], "runs": runs}
    print(json.dumps(results, indent=2))


def _healthy(port):
    try:
        return json.loads(get(port, "/healthz"))["status"] == "ok"
    except OSError:
        return False


if __name__ == "__main__":
    main()
