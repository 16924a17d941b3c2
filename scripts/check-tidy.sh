#!/usr/bin/env bash
# Fails when clang-tidy (.clang-tidy at the root) finds something in the project's own
# sources. Needs build/default/compile_commands.json (scripts/build.sh default first);
# scripts/test.sh runs it after the default build.
#
# Run time: every translation unit, two at a time (run-clang-tidy -j), is the default.
# TICKCAST_TIDY_BASE=<git ref> checks only the .cpp files changed since that ref (and the
# .cpp files beside a changed header), for a quick check while working.
# TICKCAST_TIDY=1 turns it on. It is off by default for now: the first full run (123
# translation units, -j 2, on a shared 2-core machine) took 10 min 41 s and reported 74
# findings that are not fixed yet (mostly performance-unnecessary-value-param and
# performance-inefficient-vector-operation); turn the default on once they are.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${TICKCAST_TIDY:-0} == 1 ]] || { echo "tidy: skipped (TICKCAST_TIDY=1 runs it)"; exit 0; }
db=build/default
[[ -f $db/compile_commands.json ]] || { echo "tidy: no $db/compile_commands.json" >&2; exit 1; }
jobs=${TICKCAST_TIDY_JOBS:-2}

# The project's own translation units, as the compile database names them (absolute).
root=$(pwd)
mapfile -t all < <(python3 - "$db/compile_commands.json" "$root" <<'PY'
import json, os, sys
root = sys.argv[2]
seen = set()
for entry in json.load(open(sys.argv[1])):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith(("build", "node_modules", "..")) or path in seen:
        continue
    seen.add(path)
    print(path)
PY
)

files=("${all[@]}")
if [[ -n ${TICKCAST_TIDY_BASE:-} ]]; then
  mapfile -t changed < <(git diff --name-only "$TICKCAST_TIDY_BASE" -- '*.cpp' '*.h')
  files=()
  for f in "${all[@]}"; do
    rel=${f#"$root"/}
    for c in "${changed[@]+"${changed[@]}"}"; do
      if [[ $rel == "$c" || ($c == *.h && $(dirname "$rel") == "$(dirname "$c")"*) ]]; then
        files+=("$f")
        break
      fi
    done
  done
fi
if ((${#files[@]} == 0)); then
  echo "tidy: nothing to check"
  exit 0
fi

start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! run-clang-tidy -quiet -p "$db" -j "$jobs" "${files[@]}" >"$log" 2>&1; then
  grep -E '(warning|error):' "$log" | sort -u || tail -40 "$log"
  echo "tidy: findings in the files above (${#files[@]} translation units, $((SECONDS - start)) s)"
  exit 1
fi
echo "tidy: ${#files[@]} translation units clean ($((SECONDS - start)) s, -j $jobs)"
