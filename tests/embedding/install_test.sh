#!/usr/bin/env bash
# Installs tickcast into a temporary prefix from a fresh configure of the source (tests,
# examples and bench off), builds embed-ticker, embed-chat and embed-httplib from their own
# folders as standalone projects against that prefix only, runs each on free ports and
# checks that a client of every transport gets the app's messages: WebSocket (ws_probe),
# SSE and long-poll (curl), MQTT (mosquitto_sub / mosquitto_pub).
#
#   install_test.sh SOURCE_DIR WORK_DIR WS_PROBE
# WORK_DIR is kept between runs so ninja rebuilds only what changed; the prefix is not.
set -euo pipefail

src=$(cd "$1" && pwd)
work=$2
ws_probe=$3
jobs=${TICKCAST_TEST_JOBS:-2}
prefix=$work/prefix
source "$(dirname "$0")/lib.sh"
log() { printf '[install-test %(%H:%M:%S)T] %s\n' -1 "$*"; }

mkdir -p "$work"
rm -rf "$prefix"

log "configure, build and install tickcast into $prefix"
cmake -S "$src" -B "$work/tickcast" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DTICKCAST_BUILD_TESTS=OFF -DTICKCAST_BUILD_EXAMPLES=OFF -DTICKCAST_BUILD_BENCH=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log" || fail "configure: see $work/configure.log"
cmake --build "$work/tickcast" -j "$jobs" >"$work/build.log" || fail "build: $(tail -30 "$work/build.log")"
cmake --install "$work/tickcast" >"$work/install.log"

for f in include/tickcast/core/transport.h include/tickcast/ws/ws_transport.h \
  include/tickcast/httplib/httplib_transport.h lib/cmake/tickcast/tickcastConfig.cmake \
  lib/cmake/tickcast/tickcastConfigVersion.cmake lib/cmake/tickcast/tickcast-ws-targets.cmake \
  lib/libtickcast_core.a lib/libtickcast_ws.a lib/libtickcast_mqtt.a lib/libtickcast_httplib.a; do
  [[ -e $prefix/$f ]] || fail "not installed: $f"
done
if find "$prefix/include" -path '*internal*' | grep -q .; then fail "internal headers installed"; fi

for example in embed-ticker embed-chat embed-httplib; do
  log "build $example standalone against the installed package"
  rm -f "$work/$example/CMakeCache.txt"
  cmake -S "$src/examples/$example" -B "$work/$example" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_PREFIX_PATH="$prefix" >"$work/$example.configure.log" ||
    fail "configure $example: $(tail -20 "$work/$example.configure.log")"
  grep -q "^tickcast_DIR:PATH=$prefix/lib/cmake/tickcast\$" "$work/$example/CMakeCache.txt" ||
    fail "$example did not use the package in $prefix"
  cmake --build "$work/$example" -j "$jobs" >"$work/$example.build.log" ||
    fail "build $example: $(tail -30 "$work/$example.build.log")"
  if grep -qE -- "-I$src/(core|transports)" "$work/$example/build.ninja"; then
    fail "$example compiles against the source tree, not the installed headers"
  fi
done

# --- embed-ticker: every transport gets the readings -------------------------------------
port=$(free_port)
mqtt_port=$(free_port)
base=http://127.0.0.1:$port
log "embed-ticker on $port (mqtt $mqtt_port)"
start embed-ticker "^embed-ticker: " "$work/embed-ticker/embed-ticker" --transport ws,sse,longpoll,mqtt \
  --port "$port" --mqtt-port "$mqtt_port" --room machine --interval-ms 200

"$ws_probe" "ws://127.0.0.1:$port/rooms/machine" --count 3 --timeout 10 >"$work/ticker.ws" ||
  fail "ws: $(cat "$work/ticker.ws")"
expect "$work/ticker.ws" '"event":"load".*"mem_available_kb":' 3

curl -sN --max-time 2 "$base/sse/rooms/machine" >"$work/ticker.sse" || true
expect "$work/ticker.sse" '^data: {"event":"load"' 3
expect "$work/ticker.sse" '^id: [0-9]' 3

curl -sf "$base/poll/rooms/machine" >"$work/ticker.poll"
expect "$work/ticker.poll" '^{"events":\[{"event":"load".*"next":[0-9]*}$'
next=$(sed -E 's/.*"next":([0-9]+)}$/\1/' "$work/ticker.poll")
curl -sf "$base/poll/rooms/machine?since=$next&timeout_ms=5000" >"$work/ticker.poll2"
expect "$work/ticker.poll2" "\"seq\":$((next + 1)),"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/poll/rooms/machine?since=x")
[[ $code == 400 ]] || fail "long-poll since=x: $code, expected 400"

mosquitto_sub -p "$mqtt_port" -t tickcast/rooms/machine/events -C 2 -W 10 >"$work/ticker.mqtt" ||
  fail "mqtt events: $(cat "$work/ticker.mqtt")"
expect "$work/ticker.mqtt" '"event":"load"' 2
mosquitto_sub -p "$mqtt_port" -t tickcast/rooms/machine/state -C 1 -W 10 >"$work/ticker.state" ||
  fail "mqtt retained state"
expect "$work/ticker.state" '"event":"load"'
stop_last

# --- embed-chat: what anyone sends reaches everyone ---------------------------------------
port=$(free_port)
mqtt_port=$(free_port)
base=http://127.0.0.1:$port
log "embed-chat on $port (mqtt $mqtt_port)"
start embed-chat "^embed-chat: " "$work/embed-chat/embed-chat" --transport ws,sse,longpoll,mqtt \
  --port "$port" --mqtt-port "$mqtt_port"

# Listeners: a welcome, then the three messages.
"$ws_probe" "ws://127.0.0.1:$port/rooms/lobby" --count 4 --timeout 20 >"$work/chat.ws" 2>&1 &
ws_pid=$!
curl -sN --max-time 20 "$base/sse/rooms/lobby" >"$work/chat.sse" 2>&1 &
sse_pid=$!
stdbuf -oL mosquitto_sub -d -p "$mqtt_port" -t tickcast/rooms/lobby/events -C 3 -W 20 >"$work/chat.mqtt" 2>&1 &
mqtt_pid=$!
wait_for "$work/chat.ws" '"type":"welcome"' 10
wait_for "$work/chat.sse" '"type":"welcome"' 10
wait_for "$work/chat.mqtt" "received SUBACK" 10 # -d, line-buffered: subscribed

# Senders: one per way in.
"$ws_probe" "ws://127.0.0.1:$port/rooms/lobby" --send 'from-ws' --count 2 --timeout 10 \
  >"$work/chat.ws-sender" || fail "ws sender: $(cat "$work/chat.ws-sender")"
curl -sf -d 'from-rest' "$base/chat/rooms/lobby" >"$work/chat.post"
expect "$work/chat.post" '"success":true'
mosquitto_pub -p "$mqtt_port" -t tickcast/rooms/lobby/commands -m 'from-mqtt'

wait "$ws_pid" || fail "ws listener: $(cat "$work/chat.ws")"
wait "$mqtt_pid" || fail "mqtt listener: $(cat "$work/chat.mqtt")"
wait_for "$work/chat.sse" 'from-mqtt' 10
kill "$sse_pid" 2>/dev/null || true
for file in chat.ws chat.sse chat.mqtt; do
  expect "$work/$file" '"from":"ws","text":"from-ws"'
  expect "$work/$file" '"from":"http","text":"from-rest"'
  expect "$work/$file" '"from":"mqtt","text":"from-mqtt"'
done
# Long-poll from the start of the room gets all three, in order, in one answer.
curl -sf "$base/poll/rooms/lobby?since=0&timeout_ms=0" >"$work/chat.poll"
expect "$work/chat.poll" 'from-ws.*from-rest.*from-mqtt.*"next":3}$'
stop_last

# --- embed-httplib: the Hub on cpp-httplib through tickcast::httplib ----------------------
port=$(free_port)
base=http://127.0.0.1:$port
log "embed-httplib on $port"
start embed-httplib "^embed-httplib: " "$work/embed-httplib/embed-httplib" --port "$port" --tick-ms 100 \
  --threads 16 --max-clients 8
curl -sf "$base/healthz" >/dev/null || fail "embed-httplib /healthz"
curl -sf -d '{"type":"start"}' "$base/api/rooms/focus/commands" >"$work/httplib.start"
expect "$work/httplib.start" '"success":true'
code=$(curl -s -o "$work/httplib.again" -w '%{http_code}' -d '{"type":"start"}' \
  "$base/api/rooms/focus/commands")
[[ $code == 409 ]] || fail "second start: $code, expected 409"
expect "$work/httplib.again" '"code":"already_running"'
curl -sN --max-time 1 "$base/sse/rooms/focus" >"$work/httplib.sse" || true
expect "$work/httplib.sse" '^data: {"event":"timer".*"reason":"snapshot"'
expect "$work/httplib.sse" '^data: {"event":"timer".*"reason":"tick"' 3
# Seqs start at a wall-clock base (docs/protocol.md): resume from the room's own position.
at=$(curl -sf "$base/api/rooms/focus" | sed -E 's/.*"seq":([0-9]+),.*/\1/')
curl -sf "$base/poll/rooms/focus?since=$at&timeout_ms=2000" >"$work/httplib.poll"
expect "$work/httplib.poll" "^{\"events\":\\[{\"event\":\"timer\".*\"seq\":$((at + 1)),"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/sse/rooms/bad%20room")
[[ $code == 404 ]] || fail "bad room: $code, expected 404"
# RFC 9112 3.2 on the app's own routes too (REST, /healthz), with the contract's error body.
for path in /api/rooms/focus /healthz /sse/rooms/focus; do
  code=$(curl -s -o "$work/httplib.nohost" -w '%{http_code}' -H 'Host:' "$base$path")
  [[ $code == 400 ]] || fail "no Host on $path: $code, expected 400"
  expect "$work/httplib.nohost" '"code":"bad_request"'
done
stop_last

log "ok"
