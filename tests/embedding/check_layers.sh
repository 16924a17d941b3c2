#!/usr/bin/env bash
# Fails, naming the offender plainly, when the transport layer (transports/) depends on the
# timer app (tickcast/core/...: the Pomodoro protocol, the timer, the Hub):
#  - a file of transports/ that includes a tickcast/core/ header (file and line);
#  - a transport library that links tickcast_core, directly or through another target
#    (its link closure, computed by CMake: tests/embedding/CMakeLists.txt).
# There is no exception: Socket.IO, the last transport that linked the app, is on the
# shared fan-out and renders the app's errors through the Sink like the others.
#   check_layers.sh SOURCE_DIR [TARGET=DEP,DEP,... ...]
set -euo pipefail
src=$1
shift
status=0
offending=$(cd "$src" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]tickcast/core/' transports || true)
if [[ -n $offending ]]; then
  echo "the transport layer must not include the timer app (tickcast/core/...):" >&2
  echo "$offending" >&2
  status=1
fi
checked=()
for links in "$@"; do
  target=${links%%=*}
  deps=",${links#*=},"
  checked+=("$target")
  if [[ $deps == *",tickcast_core,"* ]]; then
    echo "$target links the timer app (tickcast_core); its link closure: ${links#*=}" >&2
    status=1
  fi
done
if ((status == 0)); then
  echo "ok: $(cd "$src" && find transports -name '*.h' -o -name '*.cpp' | wc -l) transport-layer files include no tickcast/core header"
  if ((${#checked[@]})); then
    echo "ok: ${checked[*]} link no tickcast_core"
  fi
fi
exit $status
