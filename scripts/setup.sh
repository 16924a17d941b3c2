#!/usr/bin/env bash
# Installs what tickcast needs to build, run and test, on Debian, as root.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config clang-format clang-tidy clang libfuzzer-14-dev
  libwebsockets-dev libwebsockets-evlib-ev libev-dev libcpp-httplib-dev nlohmann-json3-dev libcli11-dev
  libmosquitto-dev mosquitto mosquitto-clients libsqlite3-dev nats-server libnats-dev
  libjwt-dev libssl-dev openssl mosquitto-dev
  libgtest-dev libgmock-dev libbenchmark-dev python3-matplotlib
  curl chromium nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine that already has node and npm from elsewhere does not need Debian's.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The embedded broker is started by tickcast itself; the Debian service must not hold 1883.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi

if [[ ${TICKCAST_SETUP_NODE:-1} == 1 && -f package-lock.json ]]; then
  # npm ci again only when the lock file changed since the last install (a stamp copy).
  if [[ ! -d node_modules ]] || ! cmp -s package-lock.json node_modules/.tickcast-lock-stamp; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
    cp package-lock.json node_modules/.tickcast-lock-stamp
  fi
fi
echo "setup: done"
