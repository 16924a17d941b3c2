#!/usr/bin/env bash
# Soak test (not in CI): one tickcast-server, CLIENTS clients split across TRANSPORTS for
# DURATION_S, while the server's RSS, descriptors and counters are sampled every 10 s from
# /proc and /metrics, and one room runs a full Pomodoro cycle (short phases, so that it
# ends within the soak). Clients are tickcast-bench processes against the running server
# (--target), one per transport, each in its own room: they check every seq (loss,
# duplicates, order) and time every tick.
#
#   bench/soak.sh [--duration-s 600] [--clients 10000] [--transports ws,sse,longpoll,mqtt]
#                 [--tick-ms 500] [--build build/default] [--out soak-out]
#                 [--cycle-ms WORK,SHORT,LONG,CYCLES]   (default 20000,5000,10000,4)
#
# Writes OUT/samples.csv, OUT/cycle.json, OUT/bench-*.json, OUT/summary.md and, with
# python3-matplotlib, OUT/soak.png and .svg.
set -euo pipefail
cd "$(dirname "$0")/.."

duration_s=600
clients=10000
transports=ws,sse,longpoll,mqtt
tick_ms=500
build=build/default
out=soak-out
cycle_ms=20000,5000,10000,4
while (($#)); do
  case "$1" in
    --duration-s) duration_s=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --tick-ms) tick_ms=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cycle-ms) cycle_ms=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

server=$build/examples/pomodoro-server/tickcast-server
bench=$build/bench/tickcast-bench
for f in "$server" "$bench"; do
  [[ -x $f ]] || { echo "soak.sh: $f not built (scripts/build.sh default tickcast-server tickcast-bench)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
rm -f "$out"/bench-*.json "$out"/bench-*.log "$out/samples.csv" "$out/cycle.json" "$out/stop"

IFS=, read -r -a names <<<"$transports"
per=$((clients / ${#names[@]}))
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(free_port)
mqtt_port=$(free_port)
base=http://127.0.0.1:$port

"$server" --transport "$transports" --port "$port" --mqtt-port "$mqtt_port" --tick-ms "$tick_ms" \
  --work 24h --max-clients $((per + 64)) >"$out/server.log" 2>&1 &
server_pid=$!
helpers=()
cleanup() {
  touch "$out/stop"
  for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 150); do
  curl -sf "$base/healthz" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log"; exit 1; }
  sleep 0.2  # waiting for the server to listen
done

{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
  echo "command: bench/soak.sh --duration-s $duration_s --clients $clients --transports $transports --tick-ms $tick_ms --cycle-ms $cycle_ms"
  echo "server: $server --transport $transports --tick-ms $tick_ms --work 24h --max-clients $((per + 64))"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.txt"

python3 bench/soak.py sample "$server_pid" "$base" "$out/samples.csv" "$out/stop" 10 &
sampler_pid=$!
helpers+=($sampler_pid)
IFS=, read -r work short long cycles <<<"$cycle_ms"
python3 bench/soak.py cycle "$base" soak-cycle "$out/cycle.json" "$work" "$short" "$long" "$cycles" &
cycle_pid=$!
helpers+=($cycle_pid)

benches=()
for t in "${names[@]}"; do
  "$bench" --target "$base" --target-mqtt "mqtt://127.0.0.1:$mqtt_port" --transports "$t" \
    --sizes "$per" --duration "$duration_s" --commands 0 --no-floor --connect-timeout 300 \
    --tick-ms "$tick_ms" --json "$out/bench-$t.json" >"$out/bench-$t.log" 2>&1 &
  benches+=($!)
done
status=0
for pid in "${benches[@]}"; do wait "$pid" || status=1; done
wait "$cycle_pid" || status=1
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
touch "$out/stop"
wait "$sampler_pid" || true  # it takes its last sample, sees the stop file and ends
cleanup
trap - EXIT
/usr/bin/python3 bench/soak.py report "$out" || python3 bench/soak.py report "$out"
exit $status
