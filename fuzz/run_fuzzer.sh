#!/usr/bin/env bash
# Usage: run_fuzzer.sh FUZZER SEED_DIR WORK_DIR [libFuzzer flags...]
# Fuzzes for TICKCAST_FUZZ_SECONDS (default 30; 0 replays the corpus only), starting from
# the seeds. New inputs go to WORK_DIR (the build tree), never into the repository; a crash,
# leak, timeout or failed check fails the run, and its reproducer is written into SEED_DIR,
# so that every later run replays it first and fails until the bug is fixed.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3
shift 3
mkdir -p "$seeds" "$work"
seconds=${TICKCAST_FUZZ_SECONDS:-30}
# libFuzzer reads -max_total_time=0 as "no limit".
if [[ $seconds == 0 ]]; then limit=(-runs=0); else limit=(-max_total_time="$seconds"); fi
dict=$(dirname "$0")/$(basename "$seeds").dict
extra=()
[[ -f $dict ]] && extra+=("-dict=$dict")
exec "$fuzzer" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -verbosity=0 -print_final_stats=1 \
  -artifact_prefix="$seeds/" "${extra[@]+"${extra[@]}"}" "$@" "$work" "$seeds"
