// The Socket.IO layer: CONNECT/DISCONNECT/EVENT on an Engine.IO session, rooms (namespaces
// and `join`), commands with their acks, recovery, and the fan-out of room events.
#include <algorithm>

#include "events.h"
#include "impl.h"
#include "tickcast/core/protocol.h"

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

// A transport-level failure in the app's shape (Sink::encode_failure).
std::string failure_json(const Sink* sink, FailureCode code, std::string reason) {
  const Failure failure{code, std::move(reason)};
  return sink ? sink->encode_failure(failure, {}) : generic_failure_body(failure);
}

}  // namespace

ClientRef SocketIoTransport::Impl::client_for(std::function<void(Impl&, std::vector<Message>)> fn) {
  return std::make_shared<CallbackClient>(weak_from_this(), server.loop().weak_from_this(),
                                          std::move(fn));
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
      send_error(
          engine, packet.nsp,
          failure_json(sink, FailureCode::bad_request, "binary attachments are not accepted"),
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
    ++counters.refused;
    queue(engine, io::connect_error(packet.nsp, kBadRoomMessage, to_string(ErrorCode::bad_room)));
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
        valid_private_id(p->get_ref<const std::string&>())) {
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
    ++counters.refused;
    queue(engine, io::connect_error(packet.nsp, refusal->message, to_string(refusal->code)));
    return;
  }
  if (engine.sockets.size() >= kMaxNamespaces && !engine.sockets.count(packet.nsp)) {
    ++counters.refused;
    queue(engine, io::connect_error(packet.nsp, "too many namespaces on one connection",
                                    to_string(ErrorCode::overloaded)));
    return;
  }
  drop_socket(engine, packet.nsp);  // a second CONNECT replaces the socket
  Socket& socket = engine.sockets[packet.nsp];
  socket.sid = engine::random_id();
  socket.token = std::move(token);
  socket.tokens = options.command_burst;
  socket.tokens_at = std::chrono::steady_clock::now();
  if (offset) {
    socket.pending = subscribe(engine, packet.nsp, offset->room, offset->seq,
                               Subscription::Purpose::recover, pid, std::nullopt);
  } else {
    socket.pending = subscribe(engine, packet.nsp, *room, std::nullopt,
                               Subscription::Purpose::connect, {}, std::nullopt);
  }
}

std::optional<Error> SocketIoTransport::Impl::token_refusal(const std::string& token,
                                                            std::string_view room,
                                                            auth::Permission permission) const {
  const auto& verifier = server.options().auth;
  if (!verifier) return std::nullopt;
  auto result = verifier->check(token, room, permission, auth::Clock::now());
  if (const auto* refusal = std::get_if<auth::Refusal>(&result)) {
    return Error{ErrorCode::unauthorized, refusal->message, refusal->status};
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
                                                 Subscription::Purpose purpose, std::string pid,
                                                 std::optional<std::uint64_t> ack) {
  auto fresh = std::make_unique<Subscription>();
  fresh->room = room;
  fresh->engine = &engine;
  fresh->nsp = nsp;
  fresh->purpose = purpose;
  fresh->pid = std::move(pid);
  fresh->ack = ack;
  Subscription& sub = subscriptions.add(std::move(fresh));
  sub.client = std::make_shared<http::internal::LoopClient<Impl>>(
      weak_from_this(), server.loop().weak_from_this(), sub.id, "socketio", engine.peer);
  if (sink) sink->on_subscribe(room, resume_after, sub.client);
  return sub.id;
}

void SocketIoTransport::Impl::unsubscribe(std::uint64_t id) {
  if (!id) return;
  if (Subscription* sub = subscriptions.find(id)) remove_subscription(*sub);
}

// Every subscription the Hub heard of is also let go of, so the room knows when it is idle.
void SocketIoTransport::Impl::remove_subscription(Subscription& sub) {
  if (sink) sink->on_unsubscribe(sub.room, sub.client);
  subscriptions.remove(sub);
}

// The room's answer to a subscription: CONNECT (or CONNECT_ERROR) for a new socket, the
// ack of a `join`, then the snapshot or the missed events.
void SocketIoTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  deliver_reply(id, std::move(messages));
  reap();
}

void SocketIoTransport::Impl::deliver_reply(std::uint64_t id, std::vector<Message> messages) {
  Subscription* sub = subscriptions.find(id);
  if (!sub) return;
  Engine& engine = *sub->engine;
  if (engine.closed) return;
  if (sub->joined) {  // not expected: a subscription's client answers once
    queue_messages(engine, *sub, messages);
    flush(engine);
    return;
  }
  auto found = engine.sockets.find(sub->nsp);
  if (found == engine.sockets.end() || found->second.pending != id) {
    remove_subscription(*sub);  // superseded
    return;
  }
  Socket& socket = found->second;
  socket.pending = 0;
  const std::string nsp = sub->nsp;

  if (!messages.empty() && messages.front().kind == MessageKind::error) {  // the room refused
    const std::string& error = *messages.front().payload;
    if (sub->purpose == Subscription::Purpose::move) {
      send_error(engine, nsp, error, sub->ack);
      remove_subscription(*sub);
    } else {
      const auto parsed = nlohmann::json::parse(error, nullptr, false);
      const std::string message =
          parsed.is_object() ? parsed.value("error", "refused") : std::string("refused");
      const std::string code =
          parsed.is_object() ? parsed.value("code", "bad_request") : std::string("bad_request");
      ++counters.refused;
      queue(engine, io::connect_error(nsp, message, code));
      remove_subscription(*sub);
      engine.sockets.erase(found);
    }
    flush(engine);
    return;
  }

  sub->joined = true;
  if (sub->purpose == Subscription::Purpose::move) {
    unsubscribe(socket.current);
    socket.current = id;
    queue_messages(engine, *sub, messages);
    if (sub->ack) {
      nlohmann::ordered_json where{{"success", true}, {"room", sub->room}};
      queue(engine, io::ack(nsp, *sub->ack, where.dump()));
    }
  } else {
    // Recovered when the room could answer the offset with what was missed (maybe
    // nothing); past its history the room answers with a snapshot, and the socket is new.
    const bool recovered = sub->purpose == Subscription::Purpose::recover &&
                           (messages.empty() || messages.front().kind != MessageKind::snapshot);
    socket.pid = recovered ? sub->pid : engine::random_id();
    socket.current = id;
    queue(engine, io::connect(nsp, socket.sid, socket.pid));
    queue_messages(engine, *sub, messages);
  }
  flush(engine);
}

void SocketIoTransport::Impl::queue_messages(Engine& engine, const Subscription& sub,
                                             const std::vector<Message>& messages) {
  for (const Message& message : messages) {
    Message framed = message;
    framed.payload = make_payload(message.kind == MessageKind::error
                                      ? io::event(sub.nsp, kTimerEvent, *message.payload)
                                      : io::event(sub.nsp, kTimerEvent, *message.payload,
                                                  format_offset(sub.room, message.seq)));
    queue(engine, std::move(framed));
  }
}

// Each event is framed once per namespace it goes out on (usually one: "/" or "/{room}"),
// and that frame is shared by every socket of the room.
void SocketIoTransport::Impl::fan_out(const std::string& room, const Message& message) {
  std::vector<std::pair<std::string_view, Payload>> frames;
  std::string offset;
  fanning_out = true;
  for (Subscription* sub : subscriptions.members(room)) {
    if (!sub->joined || sub->engine->closed) continue;
    auto frame = std::find_if(frames.begin(), frames.end(),
                              [&](const auto& f) { return f.first == sub->nsp; });
    if (frame == frames.end()) {
      if (offset.empty()) offset = format_offset(room, message.seq);
      frames.emplace_back(sub->nsp,
                          make_payload(io::event(sub->nsp, kTimerEvent, *message.payload, offset)));
      frame = frames.end() - 1;
    }
    queue(*sub->engine, Message{message.seq, frame->second, message.droppable, message.kind});
    flush(*sub->engine);
  }
  fanning_out = false;
  reap();
}

void SocketIoTransport::Impl::send_error(Engine& engine, const std::string& nsp,
                                         const std::string& error,
                                         std::optional<std::uint64_t> ack) {
  queue(engine, io::event(nsp, kTimerEvent, error));
  if (ack) queue(engine, io::ack(nsp, *ack, error));
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
  const Subscription* sub = subscriptions.find(socket.current);
  if (!sub) return;
  if (!take_token(socket)) {
    send_error(engine, packet.nsp,
               failure_json(sink, FailureCode::rate_limited, "too many commands; slow down"),
               packet.id);
    return;
  }
  EventRequest request = map_event(packet.data);
  switch (request.kind) {
    case EventRequest::Kind::error:
      send_error(engine, packet.nsp, encode_error(*request.error, request.request_id), packet.id);
      return;
    case EventRequest::Kind::join:
      if (request.room == sub->room) {
        if (packet.id) {
          nlohmann::ordered_json where{{"success", true}, {"room", sub->room}};
          queue(engine, io::ack(packet.nsp, *packet.id, where.dump()));
        }
        return;
      }
      if (auto refusal = token_refusal(socket.token, request.room, auth::Permission::subscribe)) {
        send_error(engine, packet.nsp, encode_error(*refusal, request.request_id), packet.id);
        return;
      }
      unsubscribe(socket.pending);  // a newer join wins
      socket.pending = subscribe(engine, packet.nsp, request.room, std::nullopt,
                                 Subscription::Purpose::move, {}, packet.id);
      return;
    case EventRequest::Kind::command:
      // Checked per command, so a token that has expired since CONNECT commands nothing.
      if (auto refusal = token_refusal(socket.token, sub->room, auth::Permission::command)) {
        send_error(engine, packet.nsp, encode_error(*refusal, request.request_id), packet.id);
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
  sink->on_message(sub->room, std::move(request.command),
                   client_for([reply](Impl& impl, std::vector<Message> messages) {
                     impl.command_refused(*reply, std::move(messages));
                   }));
  if (packet.id) {
    // A join for its answer only: left again at once (the Hub answers the join first).
    ClientRef barrier = client_for([reply](Impl& impl, std::vector<Message> messages) {
      impl.command_settled(*reply, std::move(messages));
    });
    sink->on_subscribe(sub->room, std::nullopt, barrier);
    sink->on_unsubscribe(sub->room, std::move(barrier));
  }
}

void SocketIoTransport::Impl::command_refused(CommandReply& reply, std::vector<Message> messages) {
  if (messages.empty()) return;
  reply.error = messages.front().payload;
  Engine* engine = find_engine(reply.engine);
  if (!engine || !engine->sockets.count(reply.nsp)) return;
  queue(*engine, io::event(reply.nsp, kTimerEvent, *reply.error));
  flush(*engine);
  reap();
}

void SocketIoTransport::Impl::command_settled(CommandReply& reply, std::vector<Message> messages) {
  Engine* engine = find_engine(reply.engine);
  if (!reply.ack || !engine || !engine->sockets.count(reply.nsp)) return;
  const std::string result = reply.error         ? *reply.error
                             : !messages.empty() ? *messages.front().payload
                                                 : std::string("null");
  queue(*engine, io::ack(reply.nsp, *reply.ack, result));
  flush(*engine);
  reap();
}

}  // namespace tickcast::socketio
