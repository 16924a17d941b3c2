#!/usr/bin/env python3
"""Where tickcast-server's heap goes per idle connection, by call site.

Starts the server, connects 20 clients (so that the room and the loop's tables exist),
then records glibc's malloc/calloc/realloc/free (perf uprobes, with DWARF call stacks)
while N more ws or sse clients connect one after another. Allocations still live at the
end are grouped by their call stack and shown per connection, largest first.
Needs root and perf. Usage: scripts/connection_allocations.py SERVER ws|sse [N]
"""
import collections
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
PROBES = ["malloc bytes=%di", "calloc n=%di sz=%si", "realloc p=%di bytes=%si", "free p=%di",
          "malloc_ret=malloc%return $retval", "calloc_ret=__libc_calloc%return $retval",
          "realloc_ret=realloc%return $retval"]
REQUESTS = {
    "ws": "GET /rooms/mem HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "sse": "GET /sse/rooms/mem HTTP/1.1\r\nHost: x\r\n\r\n",
}


def add_probes():
    listed = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True).stdout
    for probe in PROBES:
        name = probe.split("=")[0].split()[0]
        if f"probe_libc:{name} " not in listed and f"probe_libc:{name}__return " not in listed:
            subprocess.run(["perf", "probe", "-q", "-x", LIBC, "--add", probe], check=True)


def connect(port, transport, sockets):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(REQUESTS[transport].encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed a connection")
        head += chunk
    sockets.append(s)


def record(server, transport, n, data):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--transport", transport, "--port", str(port), "--data-dir",
                             "none", "--max-clients", str(n + 100)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sockets = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for _ in range(20):
            connect(port, transport, sockets)
        perf = subprocess.Popen(["perf", "record", "-q", "-o", data, "-e", "probe_libc:*",
                                 "--call-graph", "dwarf,8192", "--mmap-pages", "8192", "-p", str(proc.pid)])
        time.sleep(2)  # perf attaches its probes
        for _ in range(n):
            connect(port, transport, sockets)
            time.sleep(0.002)  # lets perf drain its buffer: lost events are missed frees too
        time.sleep(1)
        perf.send_signal(signal.SIGINT)
        perf.wait()
    finally:
        proc.terminate()
        proc.wait()


def frames(lines, depth):
    out = []
    for line in lines[:depth]:
        address, _, symbol = line.strip().partition(" ")
        symbol = re.sub(r"\+0x[0-9a-f]+", "", symbol)
        if symbol.startswith("[unknown]"):  # a stripped library: its offset and its name
            symbol = address + symbol[len("[unknown]"):].replace("/usr/lib/x86_64-linux-gnu/", "")
        out.append(symbol[:110])
    return tuple(out)


def live_allocations(script_output):
    """Pairs each call with its return per thread (realloc(NULL) calls malloc inside)."""
    head_re = re.compile(r"^\S+\s+(\d+)\s+\[\d+\]\s+[\d.]+:\s+probe_libc:(\w+):.*?\)\s*(.*)$")
    live, pending = {}, collections.defaultdict(list)
    for block in script_output.split("\n\n"):
        lines = block.strip("\n").split("\n")
        match = head_re.match(lines[0])
        if not match:
            continue
        thread, event, args = match.groups()
        arg = dict(kv.split("=") for kv in args.split())
        if event in ("malloc", "calloc", "realloc"):
            size = int(arg["n"], 16) * int(arg["sz"], 16) if event == "calloc" else int(
                arg["bytes"], 16)
            pending[thread].append((event, size, arg.get("p")))
        elif event.endswith("__return"):
            kind = event.split("_ret")[0]
            calls = pending[thread]
            for i in range(len(calls) - 1, -1, -1):
                if calls[i][0] == kind:
                    _, size, old = calls.pop(i)
                    break
            else:
                continue
            if old and int(old, 16):
                live.pop(old, None)
            if int(arg["arg1"], 16):  # the return's stack starts at the caller
                live[arg["arg1"]] = (size, frames(lines[1:], 7))
        elif event == "free":
            live.pop(arg["p"], None)
    return live


def main():
    server, transport = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    add_probes()
    with tempfile.TemporaryDirectory() as tmp:
        data = f"{tmp}/perf.data"
        record(server, transport, n, data)
        script = subprocess.run(["perf", "script", "-i", data], capture_output=True,
                                text=True).stdout
    by_site = collections.defaultdict(lambda: [0, 0])
    for size, stack in live_allocations(script).values():
        by_site[stack][0] += size
        by_site[stack][1] += 1
    total = sum(b for b, _ in by_site.values())
    count = sum(c for _, c in by_site.values())
    # perf may drop samples under load; the per-connection figures are as recorded.
    print(f"{transport}: {n} connections, {total / n:.0f} live bytes and {count / n:.1f} "
          f"allocations per connection")
    for stack, (size, calls) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[:12]:
        print(f"\n{size / n:6.0f} B/conn  {calls / n:4.2f} calls/conn  {size / calls:6.0f} B each")
        for frame in stack:
            print("       ", frame)


if __name__ == "__main__":
    main()
