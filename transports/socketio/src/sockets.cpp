// The Socket.IO layer: CONNECT/DISCONNECT/EVENT on an Engine.IO session, rooms (namespaces
// and `join`) as the shared fan-out's sessions, commands with their acks, recovery, and
// the framing of room events.
#include <algorithm>

#include "events.h"
#include "impl.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::socketio {

namespace {

// A reply channel whose messages reach a function on the loop thread.
class CallbackClient final : public Client {
 public:
  using Fn = std::function<void(SocketIoTransport::Impl&, std::vector<Message>)>;
  CallbackClient(std::weak_ptr<SocketIoTransport::Impl> impl,
                 std::weak_ptr<http::internal::Loop> loop, Fn fn)
      : impl_(std::move(impl)), loop_(std::move(loop)), fn_(std::move(fn)) {}
  void send(std::vector<Message> messages) override {
    if (auto loop = loop_.lock()) {
      loop->post([impl = impl_, fn = fn_, messages = std::move(messages)]() mutable {
        if (auto strong = impl.lock()) fn(*strong, std::move(messages));
      });
    }
  }
  std::string_view transport() const override { return "socketio"; }

 private:
  std::weak_ptr<SocketIoTransport::Impl> impl_;
  std::weak_ptr<http::internal::Loop> loop_;
  Fn fn_;
};

// Namespaces (rooms) one Engine.IO connection may join at once.
constexpr std::size_t kMaxNamespaces = 16;

}  // namespace

ClientRef SocketIoTransport::Impl::client_for(std::function<void(Impl&, std::vector<Message>)> fn) {
  return std::make_shared<CallbackClient>(weak_from_this(), server.loop().weak_from_this(),
                                          std::move(fn));
}

std::string SocketIoTransport::Impl::failure_body(const Failure& failure,
                                                  std::string_view request) const {
  return sink ? sink->encode_failure(failure, request) : generic_failure_body(failure);
}

std::optional<std::string> SocketIoTransport::Impl::on_io(Engine& engine, std::string_view text) {
  auto decoded = io::decode(text);
  if (auto* error = std::get_if<std::string>(&decoded)) return "bad Socket.IO packet: " + *error;
  io::Packet& packet = std::get<io::Packet>(decoded);
  switch (packet.type) {
    case io::PacketType::connect:
      on_connect(engine, packet);
      break;
    case io::PacketType::disconnect:
      drop_socket(engine, packet.nsp);
      break;
    case io::PacketType::event: {
      // Events on a namespace that is not connected are ignored, as Socket.IO does.
      auto socket = engine.sockets.find(packet.nsp);
      if (socket != engine.sockets.end() && socket->second.current) {
        on_event(engine, socket->second, packet);
      }
      break;
    }
    case io::PacketType::binary_event:
    case io::PacketType::binary_ack:
      send_error(engine, packet.nsp,
                 failure_body({FailureCode::bad_request, "binary attachments are not accepted"}),
                 packet.type == io::PacketType::binary_event ? packet.id : std::nullopt);
      break;
    case io::PacketType::ack:
      break;  // the server never asks a client for an ack
    case io::PacketType::connect_error:
      return "bad Socket.IO packet: CONNECT_ERROR goes from server to client";
  }
  flush(engine);
  return std::nullopt;
}

void SocketIoTransport::Impl::on_connect(Engine& engine, const io::Packet& packet) {
  const auto room = room_of_namespace(packet.nsp, options.default_room);
  if (!room) {
    ++fanout.counters.refused;
    queue(engine, io::connect_error(packet.nsp, kBadRoomMessage, to_string(FailureCode::bad_room)));
    return;
  }
  // Connection state recovery: the client comes back with the pid we gave it and the
  // offset ("room:seq") of the last event it got.
  std::optional<Offset> offset;
  std::string pid;
  if (packet.data.is_object()) {
    const auto p = packet.data.find("pid");
    const auto o = packet.data.find("offset");
    if (p != packet.data.end() && p->is_string() && o != packet.data.end() && o->is_string() &&
        recovered_socket_id(p->get_ref<const std::string&>())) {
      offset = parse_offset(o->get_ref<const std::string&>());
      if (offset) pid = p->get<std::string>();
    }
  }
  // Room tokens: the CONNECT's auth payload {"token": T} (socket.io-client's `auth`), else
  // the Engine.IO handshake's (Authorization: Bearer, ?token=, the tickcast_token cookie).
  std::string token = engine.token;
  if (packet.data.is_object()) {
    const auto t = packet.data.find("token");
    if (t != packet.data.end() && t->is_string()) token = t->get<std::string>();
  }
  if (auto refusal =
          token_refusal(token, offset ? offset->room : *room, auth::Permission::subscribe)) {
    ++fanout.counters.refused;
    queue(engine, io::connect_error(packet.nsp, refusal->reason, to_string(refusal->code)));
    return;
  }
  if (engine.sockets.size() >= kMaxNamespaces && !engine.sockets.count(packet.nsp)) {
    ++fanout.counters.refused;
    queue(engine, io::connect_error(packet.nsp, "too many namespaces on one connection",
                                    to_string(FailureCode::overloaded)));
    return;
  }
  drop_socket(engine, packet.nsp);  // a second CONNECT replaces the socket
  Socket& socket = engine.sockets[packet.nsp];
  socket.token = std::move(token);
  socket.tokens = options.command_burst;
  socket.tokens_at = std::chrono::steady_clock::now();
  if (offset) {
    socket.pending = subscribe(engine, packet.nsp, offset->room, offset->seq,
                               SioSession::Purpose::recover, pid, std::nullopt);
  } else {
    socket.pending = subscribe(engine, packet.nsp, *room, std::nullopt,
                               SioSession::Purpose::connect, {}, std::nullopt);
  }
}

std::optional<Failure> SocketIoTransport::Impl::token_refusal(const std::string& token,
                                                              std::string_view room,
                                                              auth::Permission permission) const {
  const auto& verifier = server.options().auth;
  if (!verifier) return std::nullopt;
  auto result = verifier->check(token, room, permission, auth::Clock::now());
  if (const auto* refusal = std::get_if<auth::Refusal>(&result)) {
    return Failure{FailureCode::unauthorized, refusal->message, refusal->status};
  }
  return std::nullopt;
}

void SocketIoTransport::Impl::drop_socket(Engine& engine, const std::string& nsp) {
  auto it = engine.sockets.find(nsp);
  if (it == engine.sockets.end()) return;
  unsubscribe(it->second.current);
  unsubscribe(it->second.pending);
  engine.sockets.erase(it);
}

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
  server.loop().remove_endpoint(&poll_endpoint);
  for (auto& [sid, engine] : engines) close_engine(*engine, 1001, "server shutting down");
  settle();
  lws_sul_cancel(&sweep_timer.sul);
  sweep_at.reset();
}

// Each event is framed once for its room (frame_for_room), and that frame is shared by
// every socket of the room, whatever its namespace: the namespace goes in as it is written.
void SocketIoTransport::Impl::fan_out(const std::string& room, const Message& message) {
  fanning_out = true;
  fanout.publish(room, message, std::chrono::steady_clock::now());
  fanning_out = false;
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
  if (!engine.dirty) {
    engine.dirty = true;
    dirty.push_back(engine.serial);
  }
}

void SocketIoTransport::Impl::close_stuck(SioSession& session) {
  close_engine(*session.engine, 1008, "client too slow");
}

void SocketIoTransport::Impl::queue_socket(Engine& engine, const std::string& nsp, std::string body,
                                           bool droppable) {
  auto socket = engine.sockets.find(nsp);
  SioSession* session =
      socket == engine.sockets.end() ? nullptr : fanout.find(socket->second.current);
  if (!session) {
    queue(engine, io::with_namespace(nsp, body));
    return;
  }
  fanout.enqueue(*session, Message{0, make_payload(std::move(body)), droppable, MessageKind::error},
                 std::chrono::steady_clock::now());
}

void SocketIoTransport::Impl::send_error(Engine& engine, const std::string& nsp,
                                         const std::string& error,
                                         std::optional<std::uint64_t> ack) {
  queue_socket(engine, nsp, io::event_body(kTimerEvent, error));
  if (ack) queue_socket(engine, nsp, io::ack_body(*ack, error));
}

bool SocketIoTransport::Impl::take_token(Socket& socket) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - socket.tokens_at).count();
  socket.tokens_at = now;
  socket.tokens =
      std::min(options.command_burst, socket.tokens + elapsed * options.commands_per_second);
  if (socket.tokens < 1) return false;
  socket.tokens -= 1;
  return true;
}

void SocketIoTransport::Impl::on_event(Engine& engine, Socket& socket, const io::Packet& packet) {
  const SioSession* session = fanout.find(socket.current);
  if (!session) return;
  const std::string room = session->room;
  if (!take_token(socket)) {
    send_error(engine, packet.nsp,
               failure_body({FailureCode::rate_limited, "too many commands; slow down"}),
               packet.id);
    return;
  }
  EventRequest request = map_event(packet.data);
  switch (request.kind) {
    case EventRequest::Kind::error:
      send_error(engine, packet.nsp, failure_body(*request.error, request.request), packet.id);
      return;
    case EventRequest::Kind::join:
      if (request.room == room) {
        if (packet.id) {
          nlohmann::ordered_json where{{"success", true}, {"room", room}};
          queue_socket(engine, packet.nsp, io::ack_body(*packet.id, where.dump()));
        }
        return;
      }
      if (auto refusal = token_refusal(socket.token, request.room, auth::Permission::subscribe)) {
        send_error(engine, packet.nsp, failure_body(*refusal), packet.id);
        return;
      }
      unsubscribe(socket.pending);  // a newer join wins
      socket.pending = subscribe(engine, packet.nsp, request.room, std::nullopt,
                                 SioSession::Purpose::move, {}, packet.id);
      return;
    case EventRequest::Kind::command:
      // Checked per command, so a token that has expired since CONNECT commands nothing.
      if (auto refusal = token_refusal(socket.token, room, auth::Permission::command)) {
        send_error(engine, packet.nsp, failure_body(*refusal, request.command), packet.id);
        return;
      }
      break;
  }
  if (!sink) return;
  auto reply = std::make_shared<CommandReply>();
  reply->engine = engine.serial;
  reply->nsp = packet.nsp;
  reply->ack = packet.id;
  // Errors come back to the requester only. For an ack, the room is asked for a snapshot
  // right after the command: the Hub answers on its strand in the order asked, so the
  // snapshot arrives after any refusal, and carries the state the command left.
  sink->on_message(room, std::move(request.command),
                   client_for([reply](Impl& impl, std::vector<Message> messages) {
                     impl.command_refused(*reply, std::move(messages));
                   }));
  if (packet.id) {
    // A join for its answer only: left again at once (the Hub answers the join first).
    ClientRef barrier = client_for([reply](Impl& impl, std::vector<Message> messages) {
      impl.command_settled(*reply, std::move(messages));
    });
    sink->on_subscribe(room, std::nullopt, barrier);
    sink->on_unsubscribe(room, std::move(barrier));
  }
}

void SocketIoTransport::Impl::command_refused(CommandReply& reply, std::vector<Message> messages) {
  if (messages.empty()) return;
  reply.error = messages.front().payload;
  Engine* engine = find_engine(reply.engine);
  if (!engine || !engine->sockets.count(reply.nsp)) return;
  queue_socket(*engine, reply.nsp, io::event_body(kTimerEvent, *reply.error));
  settle();
}

void SocketIoTransport::Impl::command_settled(CommandReply& reply, std::vector<Message> messages) {
  Engine* engine = find_engine(reply.engine);
  if (!reply.ack || !engine || !engine->sockets.count(reply.nsp)) return;
  const std::string result = reply.error         ? *reply.error
                             : !messages.empty() ? *messages.front().payload
                                                 : std::string("null");
  queue_socket(*engine, reply.nsp, io::ack_body(*reply.ack, result));
  settle();
}

}  // namespace tickcast::socketio
