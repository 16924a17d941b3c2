#!/usr/bin/env bash
# Failover figures for docs/cluster.md (not in CI; bounded, loopback): 3 nats-servers (R3)
# and a chain of tickcast nodes; each run kill -9s the writer at a random moment and the
# follower started for the run takes over (it serves from its start; the client resumes on it). See bench/cluster_faults.py for what is measured.
#   bench/cluster-faults.sh [--runs 10] [--tick-ms 100] [--build build/default] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/cluster_faults.py "$@"
