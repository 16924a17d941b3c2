#!/usr/bin/env bash
# Fault figures for docs/cluster.md (not in CI; bounded, loopback, every process started
# and stopped by pid): 3 nats-servers (R3) and 3 tickcast nodes (a writer, two followers);
# 100 rooms at 1 Hz with SSE clients on every node; kill -9 of the writer, SIGSTOP of the
# writer past its lease then SIGCONT, and kill -9 of the stream's leader nats-server, each
# several times at random moments in a shuffled order. See bench/cluster_faults.py for
# what is measured; --help for the options:
#   bench/cluster-faults.sh [--faults 3] [--rooms 100] [--tick-ms 1000] [--sample 12]
#                           [--seed N] [--out DIR] [--build build/default | --server PATH]
#                           [--budget-s 480] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/cluster_faults.py "$@"
