#!/usr/bin/env bash
# Starts a cluster on loopback to try failover by hand: 3 nats-servers (JetStream, R3,
# file storage in a temp folder) and 3 tickcast nodes on them. One node holds the cluster's
# writer lease and serves; the two others are standbys that start serving when it dies.
# Prints the URLs; Ctrl-C stops everything it started, by pid.
#   scripts/cluster.sh [--no-build]     (ports: nats 4301-4303, nodes 8081-8083)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} != --no-build ]]; then
  scripts/build.sh default tickcast-server
fi
server=build/default/examples/pomodoro-server/tickcast-server
command -v nats-server >/dev/null || { echo "cluster.sh: no nats-server (scripts/setup.sh)"; exit 1; }
dir=$(mktemp -d /tmp/tickcast-cluster-XXXXXX)
pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
  echo "cluster.sh: stopped"
}
trap stop_all INT TERM EXIT

routes="nats://127.0.0.1:6301,nats://127.0.0.1:6302,nats://127.0.0.1:6303"
for i in 1 2 3; do
  mkdir -p "$dir/n$i"
  nats-server -js -sd "$dir/n$i" -a 127.0.0.1 -p 430$i -m 822$i -n "n$i" --cluster_name tc \
    --cluster "nats://127.0.0.1:630$i" --routes "$routes" >"$dir/nats-n$i.log" 2>&1 &
  pids+=($!)
done
cluster="nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303"
for i in 1 2 3; do
  "$server" --port 808$i --node-id "node$i" --cluster "$cluster" --transport ws,sse,longpoll \
    >"$dir/node$i.log" 2>&1 &
  pids+=($!)
  echo "node$i (pid $!): http://127.0.0.1:808$i/  log $dir/node$i.log"
done
echo "nats monitoring: http://127.0.0.1:8221/jsz?streams=true (also 8222, 8223)"
echo "One node serves (it holds the writer lease); the others are standbys and answer once"
echo "they take over. Open the serving node's page, start a timer, kill -9 its pid, and open"
echo "the next node's page: the countdown goes on from its deadline. Ctrl-C stops everything."
wait
