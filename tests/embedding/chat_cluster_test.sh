#!/usr/bin/env bash
# Two embed-chat nodes share a room through the transport layer's NATS JetStream backplane
# (tickcast::cluster): a message posted on either node reaches the SSE client on the other,
# both nodes number it alike, a long-poll resume on node B from a position seen on node A
# gets exactly what came after it, and a third node started later answers resumes from the
# stream's history. Real nats-server and embed-chat processes on free loopback ports.
#   chat_cluster_test.sh EMBED_CHAT WORK_DIR
set -euo pipefail
chat=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
source "$(dirname "$0")/lib.sh"

nats_port=$(free_port)
start nats "Server is ready" nats-server -js -sd "$work/js" -a 127.0.0.1 -p "$nats_port"
cluster=nats://127.0.0.1:$nats_port
a=$(free_port)
b=$(free_port)
start node-a "^embed-chat: " "$chat" --transport sse,longpoll --port "$a" --cluster "$cluster"
start node-b "^embed-chat: " "$chat" --transport sse,longpoll --port "$b" --cluster "$cluster"

# An SSE client on each node, then one message posted on each node.
curl -sN --max-time 30 "http://127.0.0.1:$a/sse/rooms/lobby" >"$work/sse.a" 2>&1 &
pids+=($!)
curl -sN --max-time 30 "http://127.0.0.1:$b/sse/rooms/lobby" >"$work/sse.b" 2>&1 &
pids+=($!)
wait_for "$work/sse.a" '"type":"welcome"' 10
wait_for "$work/sse.b" '"type":"welcome"' 10
curl -sf -d 'from-a' "http://127.0.0.1:$a/chat/rooms/lobby" >"$work/post.a" || fail "post on a"
curl -sf -d 'from-b' "http://127.0.0.1:$b/chat/rooms/lobby" >"$work/post.b" || fail "post on b"
seq_a=$(sed -nE 's/.*"seq":([0-9]+).*/\1/p' "$work/post.a")
seq_b=$(sed -nE 's/.*"seq":([0-9]+).*/\1/p' "$work/post.b")
((seq_b > seq_a)) || fail "the second post is numbered $seq_b, after $seq_a"
for node in a b; do
  wait_for "$work/sse.$node" '"text":"from-b"' 10
  grep '^data: {"type":"message"' "$work/sse.$node" >"$work/messages.$node"
done
cmp -s "$work/messages.a" "$work/messages.b" ||
  fail "the nodes' clients saw different messages: $(diff "$work/messages.a" "$work/messages.b")"
grep -q "\"seq\":$seq_a,\"from\":\"http\",\"text\":\"from-a\"" "$work/messages.b" ||
  fail "node b's client did not get node a's message as $seq_a: $(cat "$work/messages.b")"
(($(wc -l <"$work/messages.a") == 2)) || fail "expected 2 messages: $(cat "$work/messages.a")"

# Resume on node b from the position node a's client had after the first message.
curl -sf "http://127.0.0.1:$b/poll/rooms/lobby?since=$seq_a&timeout_ms=0" >"$work/poll.b"
grep -qE "^\{\"events\":\[\{[^]]*\"seq\":$seq_b,[^]]*\"text\":\"from-b\"\}\],\"next\":$seq_b\}$" "$work/poll.b" ||
  fail "resume on b from $seq_a: $(cat "$work/poll.b")"

# A node started now rebuilds the room from the stream and answers the same resume.
c=$(free_port)
start node-c "^embed-chat: " "$chat" --transport longpoll --port "$c" --cluster "$cluster"
deadline=$((SECONDS + 10))
until curl -sf "http://127.0.0.1:$c/poll/rooms/lobby?since=$seq_a&timeout_ms=0" >"$work/poll.c" &&
  cmp -s "$work/poll.b" "$work/poll.c"; do
  ((SECONDS < deadline)) || fail "node c's resume from $seq_a: $(cat "$work/poll.c")"
  sleep 0.1
done
echo "ok: two nodes, one sequence ($seq_a, $seq_b); resume on another node and on a late one"
