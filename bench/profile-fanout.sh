#!/usr/bin/env bash
# What the process that writes a tick to every client costs per client (not in CI): runs
# one tickcast-bench row at N clients and, once they are all connected, `perf stat`s then
# `perf record`s that process: the tcp floor server for `tcp`, the embedded mosquitto for
# `mqtt` and `mqtt-mosquitto`, tickcast-server for the others.
#   bench/profile-fanout.sh ROW OUT_DIR
# Environment: N (default 10000), SERVER (build/default/examples/pomodoro-server/
# tickcast-server), BENCH (build/default/bench/tickcast-bench), BENCH_ARGS (default
# "--pin --client-poll-us 1000"). Writes OUT_DIR/ROW.{txt,json,stat,data}.
set -euo pipefail
cd "$(dirname "$0")/.."
row=$1
out=$2
mkdir -p "$out"
n=${N:-10000}
server=$(realpath "${SERVER:-build/default/examples/pomodoro-server/tickcast-server}")
bench=${BENCH:-build/default/bench/tickcast-bench}
read -r -a extra_args <<<"${BENCH_ARGS:---pin --client-poll-us 1000}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

floor_arg=--no-floor
[[ $row == tcp ]] && floor_arg=
"$bench" --server "$server" --transports "$row" --sizes "$n" --duration 30 --runs 1 \
  $floor_arg "${extra_args[@]}" --json "$out/$row.json" >"$out/$row.txt" 2>&1 &
bench_pid=$!

wait_for() {  # wait_for COMMAND...: until COMMAND prints a pid, or the bench has ended
  local pid=""
  while [[ -z $pid ]]; do
    kill -0 "$bench_pid" 2>/dev/null || { echo "the bench ended first: $out/$row.txt" >&2; exit 1; }
    pid=$("$@" | head -1) || true
    [[ -n $pid ]] || sleep 0.3
  done
  echo "$pid"
}
if [[ $row == tcp ]]; then
  pid=$(wait_for pgrep -P "$bench_pid" -f -- --floor-server)
else
  server_pid=$(wait_for pgrep -P "$bench_pid" -f "^$server ")
  pid=$server_pid
  [[ $row == mqtt* ]] && pid=$(wait_for pgrep -P "$server_pid" mosquitto)
fi
echo "profiling pid $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline)" >&2

# Every client connected: its established sockets, both ends on loopback.
until (($(ss -Htn state established | wc -l) >= 2 * n)); do
  kill -0 "$bench_pid" 2>/dev/null || { echo "the bench ended first: $out/$row.txt" >&2; exit 1; }
  sleep 0.5
done
sleep 6  # into the latency window, past the connects
perf stat -e 'task-clock,context-switches,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom' \
  -p "$pid" -- sleep 8 >"$out/$row.stat" 2>&1
perf record -F 999 -g -p "$pid" -o "$out/$row.data" -- sleep 6 >/dev/null 2>&1
wait "$bench_pid"
grep -E 'task-clock|sys_enter' "$out/$row.stat"
echo "perf report -i $out/$row.data --children --sort sym"
