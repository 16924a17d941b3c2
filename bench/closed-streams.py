#!/usr/bin/env python3
"""What a server does once its SSE clients close their streams (not in CI).

Opens 50 SSE streams in a room nobody starts, closes them all with a FIN or a reset, and
prints the server's CPU over the next 5 s. A server that does not notice the closed
streams spins until its next write to them (the heartbeat, set to a minute here).

    bench/closed-streams.py SERVER fin|rst libev|poll
"""
import os
import socket
import struct
import subprocess
import sys
import time

from cluster_faults import free_port, port_accepts, wait_for  # bench/'s process helpers

STREAMS = 50
WINDOW_S = 5


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def main():
    server, how, event_lib = sys.argv[1], sys.argv[2], sys.argv[3]
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--transport", "sse", "--sse-heartbeat", "60s",
         "--event-lib", event_lib, "--data-dir", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for(lambda: port_accepts(port), 10):
            sys.exit("the server did not listen")
        streams = []
        for _ in range(STREAMS):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /sse/rooms/closed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            streams.append(s)
        for s in streams:  # each stream's headers and snapshot: it is open on the server
            s.settimeout(10)
            if not s.recv(65536):
                sys.exit("a stream was refused")
        for s in streams:
            if how == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        before = cpu_ticks(proc.pid)
        time.sleep(WINDOW_S)  # the measurement window, not a wait for a condition
        used = cpu_ticks(proc.pid) - before
        hz = os.sysconf("SC_CLK_TCK")
        print(f"{os.path.basename(server)} {event_lib} {how}: {used} clock ticks in {WINDOW_S} s "
              f"({100 * used / hz / WINDOW_S:.0f}% of a core)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
