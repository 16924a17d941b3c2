#!/usr/bin/env bash
# Before/after figures for a change (not in CI): runs tickcast-bench against two
# tickcast-server builds in interleaved rounds (before, after; then after, before; ...) so
# that the machine's load falls on both alike, and prints the median and range of each
# row's p50, p99, p99/tcp, server CPU and loss per build.
#   bench/compare-builds.sh BEFORE_SERVER AFTER_SERVER [OUT_DIR]
# Environment: SIZES (default 1000,10000), TRANSPORTS (ws,sse,longpoll,mqtt), ROUNDS (2),
# DURATION (10 s), BENCH (build/default/bench/tickcast-bench: one bench for both builds),
# BENCH_ARGS (more tickcast-bench flags, e.g. --pin).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
after=$(realpath "$2")
out=${3:-$(mktemp -d /tmp/tickcast-compare.XXXXXX)}
mkdir -p "$out"
bench=${BENCH:-build/default/bench/tickcast-bench}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
read -r -a extra_args <<<"${BENCH_ARGS:-}"

for ((round = 1; round <= ${ROUNDS:-2}; round++)); do
  order=(before after)
  ((round % 2 == 0)) && order=(after before)
  for build in "${order[@]}"; do
    server=$before
    [[ $build == after ]] && server=$after
    echo "round $round: $build ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$bench" --server "$server" --transports "${TRANSPORTS:-ws,sse,longpoll,mqtt}" \
      --sizes "${SIZES:-1000,10000}" --duration "${DURATION:-10}" "${extra_args[@]}" \
      --json "$out/$build-$round.json" >"$out/$build-$round.txt" 2>&1 ||
      echo "round $round $build: tickcast-bench failed, see $out/$build-$round.txt" >&2
  done
done

python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*-*.json"))):
    build = os.path.basename(path).split("-")[0]
    for run in json.load(open(path))["runs"]:
        key = (run["transport"], run["clients"], build)
        rows.setdefault(key, []).append(run)
def fmt(values, digits=1):
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
print("| transport | N | build | rounds | p50 ms | p99 ms | p99 / tcp | server CPU % | lost |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for (transport, n, build), runs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2] != "before")):
    held = [r for r in runs if r.get("held")]
    print(f"| {transport} | {n} | {build} | {len(held)}/{len(runs)} | "
          f"{fmt([r['latency_us']['p50'] / 1000 for r in held])} | "
          f"{fmt([r['latency_us']['p99'] / 1000 for r in held])} | "
          f"{fmt([r['ratio_to_tcp']['p99'] for r in held], 2)} | "
          f"{fmt([r['server']['cpu_percent'] for r in held])} | "
          f"{sum(r['lost'] for r in runs)} |")
PY
echo "raw results: $out" >&2
