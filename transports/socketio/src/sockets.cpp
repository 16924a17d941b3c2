// The Socket.IO layer: CONNECT/DISCONNECT/EVENT on an Engine.IO session, namespaces and
// `join`, recovery offsets, commands with their acks. Rooms themselves are the shared
// fan-out's (rooms.cpp).
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
  socket.expires = token_expiry(token);
  if (socket.expires) {
    socket.expiry = expiries.emplace(*socket.expires, SocketExpiry{engine.serial, packet.nsp});
  }
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

std::optional<auth::Clock::time_point> SocketIoTransport::Impl::token_expiry(
    const std::string& token) const {
  const auto& verifier = server.options().auth;
  if (!verifier) return std::nullopt;
  auto result = verifier->verify(token, auth::Clock::now());
  if (const auto* grant = std::get_if<auth::Grant>(&result)) return grant->expires;
  return std::nullopt;
}

void SocketIoTransport::Impl::expire(auth::Clock::time_point now) {
  while (!expiries.empty() && expiries.begin()->first <= now) {
    const auto first = expiries.begin();
    const SocketExpiry due = first->second;
    Engine* engine = find_engine(due.engine);
    const auto it = engine ? engine->sockets.find(due.nsp) : Engine::Sockets::iterator{};
    const bool owned = engine && it != engine->sockets.end() && it->second.expiry == first;
    if (owned) it->second.expiry.reset();
    expiries.erase(first);
    if (!owned || engine->closed) continue;
    queue(*engine, io::event(due.nsp, kTimerEvent,
                             failure_body({FailureCode::unauthorized, "token expired"})));
    queue(*engine, io::disconnect(due.nsp));
    drop_socket(*engine, due.nsp);
  }
  settle();
}

void SocketIoTransport::Impl::drop_socket(Engine& engine, const std::string& nsp) {
  auto it = engine.sockets.find(nsp);
  if (it == engine.sockets.end()) return;
  unsubscribe(it->second.current);
  unsubscribe(it->second.pending);
  forget_expiry(it->second);
  engine.sockets.erase(it);
}

void SocketIoTransport::Impl::forget_expiry(Socket& socket) {
  if (socket.expiry) expiries.erase(*socket.expiry);
  socket.expiry.reset();
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
  const SioSession* session = socket.live;
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
