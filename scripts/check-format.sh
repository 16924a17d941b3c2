#!/usr/bin/env bash
# Fails when a C++ file of the project is not clang-formatted (.clang-format at the root).
# scripts/test.sh runs it first; `clang-format -i FILE` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find core stores transports clients examples bench tests fuzz support -name '*.cpp' -o -name '*.h' 2>/dev/null | sort)
if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/tickcast-format.$$; then
  grep -E '^[^ ].*: (warning|error):' /tmp/tickcast-format.$$ | cut -d: -f1 | sort -u | sed 's/^/not clang-formatted: /'
  rm -f /tmp/tickcast-format.$$
  exit 1
fi
rm -f /tmp/tickcast-format.$$
echo "format: ${#files[@]} files clang-formatted"
