#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
# Configures and builds one CMake preset (default: "default"); more arguments name targets.
preset=${1:-default}
shift || true
cmake --preset "$preset" >/dev/null
if (($#)); then
  cmake --build --preset "$preset" -j "$(nproc)" --target "$@"
else
  cmake --build --preset "$preset" -j "$(nproc)"
fi
