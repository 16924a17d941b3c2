# Shell helpers of the embedding tests, sourced (not run). The caller sets `work` (the
# folder for logs) before calling start; processes started are stopped on exit.
# shellcheck shell=bash
pids=()

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN SECONDS [COUNT]: until FILE has COUNT (default 1) lines matching.
wait_for() {
  local deadline=$((SECONDS + $3)) n
  until n=$(grep -c -- "$2" "$1" 2>/dev/null) || true; ((${n:-0} >= ${4:-1})); do
    ((SECONDS < deadline)) || fail "no '$2' (x${4:-1}) in $1 after $3 s: $(head -c 800 "$1" 2>/dev/null)"
    sleep 0.1
  done
}

# expect FILE PATTERN [COUNT]: FILE has at least COUNT (default 1) lines matching PATTERN.
expect() {
  local n
  n=$(grep -c -- "$2" "$1" || true)
  ((n >= ${3:-1})) || fail "$1: expected ${3:-1} lines matching '$2', got $n: $(head -c 800 "$1")"
}

# start NAME READY-PATTERN COMMAND...: runs it in the background, output in $work/NAME.log,
# and waits (20 s at most) until that output matches READY-PATTERN.
start() {
  local name=$1 ready=$2
  shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_for "$work/$name.log" "$ready" 20
}

# stop_last: SIGTERM to the last process started; it must exit 0 within 10 s.
stop_last() {
  local pid=${pids[-1]}
  kill -TERM "$pid"
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "pid $pid did not stop within 10 s"
    sleep 0.1
  done
  wait "$pid" || fail "pid $pid exited with status $?"
  unset 'pids[-1]'
}
