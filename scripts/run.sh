#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs tickcast-server
# on its defaults (http://127.0.0.1:8080). Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
TICKCAST_SETUP_NODE=0 scripts/setup.sh
scripts/build.sh default tickcast-server tickcast-client
exec build/default/examples/pomodoro-server/tickcast-server "$@"
