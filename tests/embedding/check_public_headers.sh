#!/usr/bin/env bash
# Fails, naming the file and line, when a public (installed) header includes a third-party
# network library header: libwebsockets, cpp-httplib or mosquitto. Public headers are the
# include/ folders of core and the transports; internal/ and src/ are not installed.
#   check_public_headers.sh SOURCE_DIR
set -euo pipefail
src=$1
dirs=("$src"/core/include "$src"/transports/*/include)
offending=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]((lib)?websockets|libwebsockets|httplib|mosquitto|mqtt_protocol)(\.h|/)' \
  "${dirs[@]}" || true)
if [[ -n $offending ]]; then
  echo "public headers must not include libwebsockets, httplib or mosquitto headers (use a pimpl):" >&2
  echo "$offending" >&2
  exit 1
fi
echo "ok: $(find "${dirs[@]}" -name '*.h' | wc -l) public headers include no network library header"
