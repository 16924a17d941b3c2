#!/usr/bin/env bash
# Starts a cluster on loopback to try failover by hand: 3 nats-servers (JetStream, R3,
# file storage in a temp folder) and 3 tickcast nodes on them. Every node serves clients:
# the one holding the cluster's writer lease runs the timers, the two followers feed their
# clients from JetStream, forward commands to it, and one of them takes over when it dies.
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
pids=()       # nats-servers
node_pids=()  # tickcast nodes: stopped first, while the engine still answers them
stop_all() {
  trap - INT TERM EXIT
  for pid in "${node_pids[@]}" "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
  echo "cluster.sh: stopped"
  exit 0
}
trap stop_all INT TERM EXIT

routes="nats://127.0.0.1:6301,nats://127.0.0.1:6302,nats://127.0.0.1:6303"
for i in 1 2 3; do
  mkdir -p "$dir/n$i"
  # setsid: Ctrl-C reaches the nodes, not the engine they need to stop cleanly.
  setsid nats-server -js -sd "$dir/n$i" -a 127.0.0.1 -p 430$i -m 822$i -n "n$i" --cluster_name tc \
    --cluster "nats://127.0.0.1:630$i" --routes "$routes" >"$dir/nats-n$i.log" 2>&1 &
  pids+=($!)
done
cluster="nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303"
for i in 1 2 3; do
  "$server" --port 808$i --node-id "node$i" --cluster "$cluster" --transport ws,sse,longpoll \
    >"$dir/node$i.log" 2>&1 &
  node_pids+=($!)
  echo "node$i (pid $!): http://127.0.0.1:808$i/  log $dir/node$i.log"
done
echo "nats monitoring: http://127.0.0.1:8221/jsz?streams=true (also 8222, 8223)"
for i in 1 2 3; do  # every node's page works once its /healthz answers
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:808$i/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
writer=$(curl -sf http://127.0.0.1:8081/api/cluster 2>/dev/null |
  sed -n 's/.*"writer":"\([^"]*\)".*/\1/p' || true)
echo "Every node's page works: open http://127.0.0.1:8081/ and http://127.0.0.1:8082/ on the"
echo "same room; a start on either reaches both. The timers run on ${writer:-the lease holder}"
echo "(see /api/cluster on any node). kill -9 its pid: the other nodes' pages keep their"
echo "connections and the countdown goes on from its deadline, seq without a gap. Ctrl-C stops"
echo "everything."
wait
