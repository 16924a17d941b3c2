#!/usr/bin/env bash
# Fails when clang-tidy (.clang-tidy at the root) finds something in the project's own
# sources. Needs build/default/compile_commands.json (scripts/build.sh default first);
# scripts/test.sh runs it after the default build. TICKCAST_TIDY=0 skips it.
#
# Scope: the library and app code (core, transports, stores, clients, examples; not their
# tests/ directories), run-clang-tidy -j 2 (TICKCAST_TIDY_JOBS). Headers are checked
# through the translation units that include them (HeaderFilterRegex in .clang-tidy).
# Run time on the shared 2-core machine (2026-12-04, other jobs running): every translation
# unit (133: tests, bench and fuzz too) 43 min 25 s at a load average of 10-12; this scope
# (51) 12 min 46 s at the same load (29% of it, about 3 min where the full run took
# 10 min 41 s), and 5 min 29 s at a load of 5-7. The tests and bench are most of the time:
# gtest, benchmark and httplib in every unit.
# TICKCAST_TIDY_ALL=1 checks every translation unit (tests, bench and fuzz too).
# TICKCAST_TIDY_BASE=<git ref> checks only the .cpp files changed since that ref (and the
# .cpp files beside a changed header), for a quick check while working.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${TICKCAST_TIDY:-1} == 1 ]] || { echo "tidy: skipped (TICKCAST_TIDY=0)"; exit 0; }
db=build/default
[[ -f $db/compile_commands.json ]] || { echo "tidy: no $db/compile_commands.json" >&2; exit 1; }
jobs=${TICKCAST_TIDY_JOBS:-2}

# The default scope: the directories checked, and the paths in them left out for now.
scope=(core transports stores clients examples)
# Paths left out of the scope (none now; one line each, with the reason).
skip=()
if [[ ${TICKCAST_TIDY_ALL:-0} == 1 ]]; then
  scope=(core transports stores clients examples bench tests fuzz)
  skip=()
fi

# The project's own translation units in scope, as the compile database names them
# (absolute): generated sources (build/) and node_modules are never in it.
root=$(pwd)
mapfile -t all < <(python3 - "$db/compile_commands.json" "$root" "${TICKCAST_TIDY_ALL:-0}" \
  "${scope[*]}" "${skip[@]+"${skip[@]}"}" <<'PY'
import json, os, sys
root, every, scope, skip = sys.argv[2], sys.argv[3] == "1", sys.argv[4].split(), sys.argv[5:]
seen = set()
for entry in json.load(open(sys.argv[1])):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if parts[0] not in scope or path in seen:
        continue
    if not every and "tests" in parts[1:]:
        continue
    if any(rel.startswith(s) for s in skip):
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
status=0
run-clang-tidy -quiet -p "$db" -j "$jobs" "${files[@]}" >"$log" 2>&1 || status=$?
# Without its colours, once per finding (a header's finding comes from every unit), and
# without the findings in the skipped paths' headers.
findings=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^/.*: (warning|error): ' | sort -u |
  sed "s|^$root/||" || true)
skipped=0
for s in "${skip[@]+"${skip[@]}"}"; do
  n=$(grep -c "^$s" <<<"$findings" || true)
  skipped=$((skipped + n))
  findings=$(grep -v "^$s" <<<"$findings" || true)
done
took="${#files[@]} translation units, $((SECONDS - start)) s, -j $jobs"
if [[ -n $findings ]]; then
  echo "$findings"
  echo "$findings" | grep -oE '\[[a-z-]+' | tr -d '[' | sort | uniq -c | sort -rn
  echo "tidy: $(grep -c . <<<"$findings") findings ($took)"
  exit 1
fi
if ((status != 0 && skipped == 0)); then
  tail -40 "$log"
  echo "tidy: run-clang-tidy failed ($took)"
  exit 1
fi
echo "tidy: clean ($took; $skipped findings in skipped paths not counted)"
