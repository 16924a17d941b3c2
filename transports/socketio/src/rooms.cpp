// Socket.IO's side of the shared fan-out (LoopTransport/Fanout): a socket's place in a room
// is a session; the room's answer CONNECTs the socket (or moves it); events are framed once per
// room; a session wakes its Engine.IO session, which writes for all its sockets.
#include "events.h"
#include "impl.h"

namespace tickcast::socketio {

std::uint64_t SocketIoTransport::Impl::subscribe(Engine& engine, const std::string& nsp,
                                                 const std::string& room,
                                                 std::optional<std::uint64_t> resume_after,
                                                 SioSession::Purpose purpose, std::string pid,
                                                 std::optional<std::uint64_t> ack) {
  auto fresh = std::make_unique<SioSession>(options.max_queue, options.stuck_timeout);
  fresh->room = room;
  fresh->engine = &engine;
  fresh->nsp = nsp;
  fresh->purpose = purpose;
  fresh->pid = std::move(pid);
  fresh->ack = ack;
  SioSession& session = admit(std::move(fresh), nullptr, "socketio", engine.peer);
  if (sink) sink->on_subscribe(room, resume_after, session.client);
  return session.id;
}

// Every session the Hub heard of is also let go of (LoopTransport::closed), so the room
// knows when it is idle.
void SocketIoTransport::Impl::unsubscribe(std::uint64_t id, bool spill) {
  if (!id) return;
  SioSession* session = fanout.find(id);
  if (!session) return;
  if (auto socket = session->engine->sockets.find(session->nsp);
      socket != session->engine->sockets.end() && socket->second.live == session) {
    socket->second.live = nullptr;
  }
  if (spill && !session->closing) {
    const auto now = std::chrono::steady_clock::now();
    while (!session->outbox.empty()) {
      queue(*session->engine, io::with_namespace(session->nsp, *session->outbox.front().payload));
      session->outbox.pop(now);
    }
  }
  closed(*session);
}

// The room's answer to a session: CONNECT (or CONNECT_ERROR) for a new socket, the ack of
// a `join`, then the snapshot or the missed events.
void SocketIoTransport::Impl::on_join(SioSession& session, const JoinReply& reply) {
  Engine& engine = *session.engine;
  if (engine.closed) return;  // its sessions go when it is reaped
  auto found = engine.sockets.find(session.nsp);
  if (found == engine.sockets.end() || found->second.pending != session.id) {
    unsubscribe(session.id);  // superseded
    settle();
    return;
  }
  Socket& socket = found->second;
  socket.pending = 0;
  const std::string nsp = session.nsp;

  if (reply.refusal) {  // the room refused: no session for the socket
    if (session.purpose == SioSession::Purpose::move) {
      const std::string error =
          reply.messages.empty() ? failure_body(*reply.refusal) : *reply.messages.front().payload;
      const auto ack = session.ack;
      unsubscribe(session.id);
      send_error(engine, nsp, error, ack);
    } else {
      const Failure refusal = *reply.refusal;
      ++fanout.counters.refused;
      unsubscribe(session.id);
      forget_expiry(socket);
      engine.sockets.erase(found);
      queue(engine, io::connect_error(nsp, refusal.reason, to_string(refusal.code)));
    }
    settle();
    return;
  }

  const auto now = std::chrono::steady_clock::now();
  if (session.purpose == SioSession::Purpose::move) {
    unsubscribe(socket.current, /*spill=*/true);  // the old room's events up to the move
    socket.current = session.id;
    socket.live = &session;
    fanout.join(session, reply, now);
    if (session.ack) {
      nlohmann::ordered_json where{{"success", true}, {"room", session.room}};
      queue_socket(engine, nsp, io::ack_body(*session.ack, where.dump()));
    }
  } else {
    // Recovered when the room could answer the offset with what was missed (maybe
    // nothing); past its history the room answers with a snapshot, and the socket is new.
    // A recovered socket keeps its id and pid, as Socket.IO's recovery does.
    const bool recovered =
        session.purpose == SioSession::Purpose::recover &&
        (reply.messages.empty() || reply.messages.front().kind != MessageKind::snapshot);
    const auto kept = recovered ? recovered_socket_id(session.pid) : std::nullopt;
    if (kept) {
      socket.sid = *kept;
      socket.pid = session.pid;
    } else {
      socket.sid = engine::random_id(kIdLength);
      socket.pid = private_id(socket.sid, engine::random_id(kIdLength));
    }
    socket.current = session.id;
    socket.live = &session;
    fanout.enqueue(session,
                   Message{0, make_payload(io::connect_body(socket.sid, socket.pid)), false,
                           MessageKind::event},
                   now);
    fanout.join(session, reply, now);
  }
  settle();
}

// Replies to one session (errors) through its client: framed as error events.
void SocketIoTransport::Impl::on_deliver(SioSession& session,
                                         const std::vector<Message>& messages) {
  fanout.deliver(session, messages, std::chrono::steady_clock::now());
  settle();
}

// Closed without a Socket.IO DISCONNECT, so clients reconnect (and recover) elsewhere.
void SocketIoTransport::Impl::close_gracefully(SioSession& session) {
  close_engine(*session.engine, 1001, "server shutting down");
}

void SocketIoTransport::Impl::on_stop() {
  server.loop().remove_sweep(this);
  server.loop().remove_endpoint(&poll_endpoint);
  for (auto& [sid, engine] : engines) close_engine(*engine, 1001, "server shutting down");
  settle();
  server.loop().cancel(&sweep_timer.sul);
  sweep_at.reset();
}

// Each event is framed once for its room (frame_for_room), and that frame is shared by
// every socket of the room, whatever its namespace: the namespace goes in as it is written.
void SocketIoTransport::Impl::fan_out(const std::string& room, const Message& message) {
  LoopTransport::fan_out(room, message);
  settle();
}

Payload SocketIoTransport::Impl::frame(const Message& message) {
  return make_payload(io::event_body(kTimerEvent, *message.payload));
}

// 2["timer",{...},"room:seq"]: the room's events carry their recovery offset; errors none.
Payload SocketIoTransport::Impl::frame_for_room(const std::string& room, const Message& message) {
  if (message.kind == MessageKind::error) return frame(message);
  return make_payload(
      io::event_body(kTimerEvent, *message.payload, format_offset(room, message.seq)));
}

void SocketIoTransport::Impl::wake(SioSession& session) {
  Engine& engine = *session.engine;
  // A WebSocket is woken as ws's are (at once in a fan-out): no deferred flush, no lookup
  // of the engine by serial afterwards.
  if (engine.transport == engine::Transport::websocket && engine.ws && !engine.closed) {
    wake_connection(engine.ws->wsi);
    return;
  }
  if (!engine.dirty) {
    engine.dirty = true;
    dirty.push_back(engine.serial);
  }
}

void SocketIoTransport::Impl::close_stuck(SioSession& session) {
  close_engine(*session.engine, 1008, "client too slow");
}

void SocketIoTransport::Impl::queue_socket(Engine& engine, const std::string& nsp,
                                           std::string body) {
  auto socket = engine.sockets.find(nsp);
  SioSession* session = socket == engine.sockets.end() ? nullptr : socket->second.live;
  if (!session) {
    queue(engine, io::with_namespace(nsp, body));
    return;
  }
  fanout.enqueue(*session, Message{0, make_payload(std::move(body)), false, MessageKind::error},
                 std::chrono::steady_clock::now());
}

}  // namespace tickcast::socketio
