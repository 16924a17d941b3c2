#!/usr/bin/env bash
# Usage: run_fuzzer.sh FUZZER SEED_DIR WORK_DIR [libFuzzer flags...]
# Fuzzes for TICKCAST_FUZZ_SECONDS (default 30), starting from the seeds. New inputs go to
# WORK_DIR (the build tree), never into the repository; a crash, leak, timeout or failed
# check fails the run, and its reproducer is written into SEED_DIR, so that every later run
# replays it first and fails until the bug is fixed.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3
shift 3
mkdir -p "$seeds" "$work"
dict=$(dirname "$0")/$(basename "$seeds").dict
extra=()
[[ -f $dict ]] && extra+=("-dict=$dict")
exec "$fuzzer" -max_total_time="${TICKCAST_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
  -verbosity=0 -print_final_stats=1 -artifact_prefix="$seeds/" "${extra[@]+"${extra[@]}"}" "$@" "$work" "$seeds"
