#!/usr/bin/env bash
# Fails, naming the file and line, when a file of the transport layer (transports/) includes
# the timer app (tickcast/core/...: the Pomodoro protocol, the timer, the Hub). The targets
# enforce it too: no transport library but Socket.IO links tickcast::core, so such an include
# does not even compile; this names the offender plainly, and keeps the one known exception
# listed (Socket.IO's mapping of its events to the Pomodoro commands).
#   check_layers.sh SOURCE_DIR
set -euo pipefail
src=$1
allowed='^transports/socketio/src/(events\.(h|cpp)|sockets\.cpp|impl\.h):'
offending=$(cd "$src" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]tickcast/core/' transports |
  grep -vE "$allowed" || true)
if [[ -n $offending ]]; then
  echo "the transport layer must not include the timer app (tickcast/core/...):" >&2
  echo "$offending" >&2
  exit 1
fi
echo "ok: $(cd "$src" && find transports -name '*.h' -o -name '*.cpp' | wc -l) transport-layer files include no tickcast/core header"
