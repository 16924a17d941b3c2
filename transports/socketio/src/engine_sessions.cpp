// Engine.IO v4 sessions on the loop: the handshake over long-polling or WebSocket, the
// polling GET/POST exchange, the upgrade (2probe/3probe/5), pings, and closing.
#include <algorithm>

#include "impl.h"

namespace tickcast::socketio {

namespace {

// While a probe waits for the client's "5", polls are answered at once with a noop (so
// that a poll already on its way cannot hold the client's pause); a probe that takes
// longer than this is given up, as Engine.IO servers do, and polls park again.
constexpr std::chrono::seconds kUpgradeTimeout{10};

http::Response engine_error(engine::ErrorCode code, std::string_view context = {}) {
  http::Response response;
  response.status = engine::error_status(code);
  response.body = engine::error_body(code, context);
  return response;
}

http::Response text_response(std::string body, std::string content_type) {
  http::Response response;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  response.headers.emplace_back("cache-control", "no-store");
  return response;
}

constexpr const char* kPayloadType = "text/plain; charset=UTF-8";

bool path_is(const std::string& path, const std::string& endpoint) {
  return path == endpoint || path == endpoint + "/";
}

}  // namespace

SocketIoTransport::Impl::Impl(http::Server& server, SocketIoOptions options)
    : LoopTransport(server),
      options(std::move(options)),
      pings(ping_granularity(this->options)),
      pongs(ping_granularity(this->options)) {
  handshake.ping_interval = this->options.ping_interval;
  handshake.ping_timeout = this->options.ping_timeout;
  handshake.max_payload = std::min(this->options.max_payload, server.options().max_body_bytes);
  sweep_timer.owner = this;
}

Engine& SocketIoTransport::Impl::create_engine(engine::Transport transport, std::string peer) {
  auto fresh = std::make_unique<Engine>(options.max_queue, options.stuck_timeout);
  fresh->serial = next_serial++;
  do {
    fresh->sid = engine::random_id();
  } while (engines.count(fresh->sid));
  fresh->transport = transport;
  fresh->peer = std::move(peer);
  Engine& engine = *fresh;
  by_serial.emplace(engine.serial, &engine);
  engines.emplace(engine.sid, std::move(fresh));
  engine_count = engines.size();
  schedule_ping(engine, std::chrono::steady_clock::now());
  return engine;
}

Engine* SocketIoTransport::Impl::find_engine(const std::string& sid) {
  auto it = engines.find(sid);
  return it == engines.end() || it->second->closed ? nullptr : it->second.get();
}

Engine* SocketIoTransport::Impl::find_engine(std::uint64_t serial) {
  auto it = by_serial.find(serial);
  return it == by_serial.end() || it->second->closed ? nullptr : it->second;
}

std::variant<http::internal::Session*, http::Response> SocketIoTransport::Impl::on_poll(
    lws* wsi, const http::Request& request) {
  if (!path_is(request.path, options.path)) {
    return server.failure(FailureCode::not_found, "no such path: " + request.path);
  }
  engine::ErrorCode code{};
  const auto query = engine::check_query(request.query, /*websocket=*/false, code);
  if (!query) {
    ++fanout.counters.refused;
    return engine_error(code);
  }

  if (query->sid.empty()) {  // a new session
    if (request.method != "GET") return engine_error(engine::ErrorCode::bad_handshake_method);
    if (!accepting()) {
      return server.failure(FailureCode::overloaded, "Socket.IO is shutting down");
    }
    if (engines.size() >= options.max_clients) {
      ++fanout.counters.refused;
      return server.failure(FailureCode::overloaded, "too many Socket.IO clients; try again later");
    }
    if (!context) context = lws_get_context(wsi);
    Engine& engine = create_engine(engine::Transport::polling, request.peer);
    engine.token = http::token_of(request);
    http::Response cors;
    server.loop().add_cors_headers(request, cors);
    engine.cors = std::move(cors.headers);
    engine.cors.emplace_back("cache-control", "no-store");
    return text_response(engine::open_packet(engine.sid, true, handshake), kPayloadType);
  }

  Engine* engine = find_engine(query->sid);
  if (!engine) return engine_error(engine::ErrorCode::unknown_sid);
  if (engine->transport != engine::Transport::polling) {
    return engine_error(engine::ErrorCode::bad_request, "the session has moved to websocket");
  }

  if (request.method == "POST") {
    // As the port's own body limit does (413 before this is reached when the body is over
    // it), the payload is refused and the session is left as it is.
    if (request.body.size() > handshake.max_payload) {
      return server.failure(
          FailureCode::too_large,
          "payload over maxPayload (" + std::to_string(handshake.max_payload) + " bytes)");
    }
    std::optional<std::string> error;
    if (auto packets = engine::decode_payload(request.body)) {
      for (const auto& packet : *packets) {
        if ((error = on_packet(*engine, packet)) || engine->closed) break;
      }
    } else {
      error = "bad Engine.IO payload";
    }
    if (error) close_engine(*engine, 1002, *error);
    settle();
    if (error) return engine_error(engine::ErrorCode::bad_request, *error);
    return text_response("ok", "text/html");
  }

  // GET: the packets queued, a noop while upgrading, or park until there are some.
  if (engine->poll) {
    close_engine(*engine, 1002, "overlapping polls");
    settle();
    return engine_error(engine::ErrorCode::bad_request, "a poll is already waiting");
  }
  if (has_packets(*engine)) return text_response(take_payload(*engine), kPayloadType);
  if (engine->upgrading && std::chrono::steady_clock::now() < engine->upgrade_deadline) {
    return text_response("6", kPayloadType);
  }
  if (engine->upgrading && engine->ws) {  // the probe took too long: polling goes on
    engine->ws->engine = nullptr;
    engine->ws->close_code = 1002;
    engine->ws->close_reason = "upgrade timed out";
    lws_callback_on_writable(engine->ws->wsi);
    engine->ws = nullptr;
    engine->upgrading = false;
  }
  auto parked = std::make_unique<PollRequest>(shared_from_this(), wsi);
  PollRequest& poll = *parked;
  poll.engine = engine;
  engine->poll = &poll;
  connections.emplace(&poll, std::move(parked));
  {
    std::lock_guard lock(connections_mutex);
    ++connection_count;
  }
  return &poll;  // held until pinged, at most pingInterval (lws's timeout went at dispatch)
}

std::optional<Failure> SocketIoTransport::Impl::check_websocket(const http::Request& request) {
  if (!path_is(request.path, options.path)) {
    return Failure{FailureCode::not_found, "no WebSocket endpoint at " + request.path};
  }
  engine::ErrorCode code{};
  const auto query = engine::check_query(request.query, /*websocket=*/true, code);
  if (!query) {
    ++fanout.counters.refused;
    return Failure{FailureCode::bad_request, std::string(engine::error_message(code))};
  }
  if (query->sid.empty()) {
    if (!accepting()) {
      return Failure{FailureCode::overloaded, "Socket.IO is shutting down"};
    }
    if (engines.size() >= options.max_clients) {
      ++fanout.counters.refused;
      return Failure{FailureCode::overloaded, "too many Socket.IO clients; try again later"};
    }
    return std::nullopt;
  }
  Engine* engine = find_engine(query->sid);
  if (!engine) {
    return Failure{FailureCode::bad_request,
                   std::string(engine::error_message(engine::ErrorCode::unknown_sid))};
  }
  if (engine->transport != engine::Transport::polling || engine->ws) {
    return Failure{FailureCode::bad_request, "the session is already upgraded or upgrading"};
  }
  return std::nullopt;
}

http::internal::Session* SocketIoTransport::Impl::open_websocket(lws* wsi,
                                                                 const http::Request& request) {
  if (check_websocket(request)) return nullptr;  // the state changed since the handshake
  if (!context) context = lws_get_context(wsi);
  auto fresh = std::make_unique<WsConn>(shared_from_this(), wsi);
  WsConn& conn = *fresh;
  connections.emplace(&conn, std::move(fresh));
  {
    std::lock_guard lock(connections_mutex);
    ++connection_count;
  }
  const auto sid = request.query.find("sid");
  Engine* engine = nullptr;
  if (sid == request.query.end()) {
    engine = &create_engine(engine::Transport::websocket, request.peer);
    engine->token = http::token_of(request);
    conn.direct.push_back(engine::open_packet(engine->sid, false, handshake));
    lws_callback_on_writable(wsi);
  } else {
    engine = find_engine(sid->second);  // a probe: it waits for "2probe"
  }
  engine->ws = &conn;
  conn.engine = engine;
  return &conn;
}

void SocketIoTransport::Impl::on_ws_text(WsConn& conn, const std::string& text) {
  Engine* engine = conn.engine;
  if (!engine || engine->closed) return;
  if (engine->transport == engine::Transport::polling) {
    // The upgrade: "2probe" is answered with "3probe" on the WebSocket, and the parked
    // poll is released (a noop) so that the client can pause polling and send "5".
    if (text == "2probe" && !engine->upgrading) {
      engine->upgrading = true;
      engine->upgrade_deadline = std::chrono::steady_clock::now() + kUpgradeTimeout;
      conn.direct.emplace_back("3probe");
      lws_callback_on_writable(conn.wsi);
      if (engine->poll)
        answer_poll(*engine->poll, has_packets(*engine) ? take_payload(*engine) : "6");
    } else if (text == "5" && engine->upgrading) {
      engine->upgrading = false;
      engine->transport = engine::Transport::websocket;
      if (engine->poll) answer_poll(*engine->poll, "6");
      flush(*engine);
    } else {
      conn.engine = nullptr;
      engine->ws = nullptr;
      engine->upgrading = false;
      conn.close_code = 1002;
      conn.close_reason = "expected 2probe, then 5";
      lws_callback_on_writable(conn.wsi);
    }
    return;
  }
  std::optional<std::string> error;
  if (auto packet = engine::decode_packet(text)) {
    error = on_packet(*engine, *packet);
  } else {
    error = "bad Engine.IO packet";
  }
  if (error) close_engine(*engine, 1002, *error);
  settle();
}

void SocketIoTransport::Impl::forget(Connection& connection) {
  if (Engine* engine = connection.engine) {
    if (engine->poll == &connection) engine->poll = nullptr;
    if (engine->ws == &connection) {
      engine->ws = nullptr;
      engine->upgrading = false;
      // The WebSocket was the session's transport: the session ends with it.
      if (engine->transport == engine::Transport::websocket) close_engine(*engine, 1000, "");
    }
  }
  connections.erase(&connection);  // destroys it
  {
    std::lock_guard lock(connections_mutex);
    --connection_count;
    if (connection_count == 0) connections_gone.notify_all();
  }
  settle();
}

std::optional<std::string> SocketIoTransport::Impl::on_packet(Engine& engine,
                                                              const engine::Packet& packet) {
  if (packet.binary) return std::nullopt;  // refused attachments; see WsConn::on_receive
  switch (packet.type) {
    case engine::PacketType::message:
      return on_io(engine, packet.data);
    case engine::PacketType::pong:
      if (engine.awaiting_pong) {
        engine.awaiting_pong = false;
        schedule_ping(engine, std::chrono::steady_clock::now());
      }
      return std::nullopt;
    case engine::PacketType::ping:  // Engine.IO v3 clients pinged; answer anyway
      queue(engine, "3" + std::string(packet.data));
      flush(engine);
      return std::nullopt;
    case engine::PacketType::close:
      close_engine(engine, 1000, "");
      return std::nullopt;
    case engine::PacketType::noop:
      return std::nullopt;
    case engine::PacketType::open:
    case engine::PacketType::upgrade:
      break;
  }
  return "unexpected Engine.IO packet";
}

void SocketIoTransport::Impl::queue(Engine& engine, std::string packet) {
  if (engine.closed) return;
  const Message message{0, make_payload(std::move(packet)), false, MessageKind::event};
  if (engine.outbox.push(message, std::chrono::steady_clock::now()) == Outbox::Push::stuck) {
    ++fanout.counters.closed_slow;
    close_engine(engine, 1008, "client too slow");
    return;
  }
  if (!engine.dirty) {
    engine.dirty = true;
    dirty.push_back(engine.serial);
  }
}

void SocketIoTransport::Impl::flush(Engine& engine) {
  engine.dirty = false;
  if (engine.closed) return;
  if (engine.transport == engine::Transport::websocket) {
    if (engine.ws) lws_callback_on_writable(engine.ws->wsi);  // finds out what it has to write
  } else if (engine.poll && has_packets(engine)) {
    answer_poll(*engine.poll, take_payload(engine));
  }
}

bool SocketIoTransport::Impl::has_packets(Engine& engine) {
  if (!engine.outbox.empty()) return true;
  for (const auto& [nsp, socket] : engine.sockets) {
    const SioSession* session = socket.live;
    if (session && !session->outbox.empty()) return true;
  }
  return false;
}

std::optional<bool> SocketIoTransport::Impl::next_packet(Engine& engine, std::string& out) {
  const auto now = std::chrono::steady_clock::now();
  if (!engine.outbox.empty()) {
    out += *engine.outbox.front().payload;
    engine.outbox.pop(now);
    ++fanout.counters.sent;
    return true;
  }
  for (const auto& [nsp, socket] : engine.sockets) {
    SioSession* session = socket.live;
    if (!session || session->outbox.empty()) continue;
    io::append_with_namespace(out, nsp, *session->outbox.front().payload);
    session->outbox.pop(now);
    ++fanout.counters.sent;
    // The common case, one socket whose queue is now empty, needs no second walk.
    return engine.sockets.size() > 1 || !session->outbox.empty();
  }
  return std::nullopt;
}

std::string SocketIoTransport::Impl::take_payload(Engine& engine) {
  std::string body;
  for (bool first = true;; first = false) {
    const std::size_t mark = body.size();
    if (!first) body += engine::kSeparator;
    const auto more = next_packet(engine, body);
    if (!more) {
      body.resize(mark);
      return body;
    }
    if (!*more) return body;
  }
}

void SocketIoTransport::Impl::answer_poll(PollRequest& poll, std::string body) {
  if (poll.engine) {
    poll.answer = text_response(std::move(body), kPayloadType);
    poll.answer->headers = poll.engine->cors;
    if (poll.engine->poll == &poll) poll.engine->poll = nullptr;
    poll.engine = nullptr;
  }
  lws_callback_on_writable(poll.wsi);
}

void SocketIoTransport::Impl::close_engine(Engine& engine, int code, std::string reason) {
  if (engine.closed) return;
  engine.closed = true;
  engine.close_code = code;
  engine.close_reason = std::move(reason);
  doomed.push_back(engine.serial);
}

void SocketIoTransport::Impl::settle() {
  if (in_fan_out()) return;  // the room vectors fan-out walks must stay put
  while (!dirty.empty()) {
    std::vector<std::uint64_t> batch;
    batch.swap(dirty);
    for (const std::uint64_t serial : batch) {
      if (Engine* engine = find_engine(serial)) flush(*engine);
    }
  }
  while (!doomed.empty()) {
    std::vector<std::uint64_t> batch;
    batch.swap(doomed);
    for (const std::uint64_t serial : batch) {
      auto found = by_serial.find(serial);
      if (found == by_serial.end()) continue;
      Engine& engine = *found->second;
      for (auto& [nsp, socket] : engine.sockets) {
        unsubscribe(socket.current);
        unsubscribe(socket.pending);
        forget_expiry(socket);
      }
      engine.sockets.clear();
      // A live client sees "transport close" and reconnects (with recovery).
      if (PollRequest* poll = engine.poll) answer_poll(*poll, "1");
      if (WsConn* ws = engine.ws) {
        ws->engine = nullptr;
        ws->close_code = engine.close_code;
        ws->close_reason = engine.close_reason;
        lws_callback_on_writable(ws->wsi);
      }
      by_serial.erase(found);
      engines.erase(engine.sid);  // destroys it
      engine_count = engines.size();
    }
  }
}

bool SocketIoTransport::Impl::wait_connections_gone(std::chrono::milliseconds timeout) {
  std::unique_lock lock(connections_mutex);
  return connections_gone.wait_for(lock, timeout, [&] { return connection_count == 0; });
}

}  // namespace tickcast::socketio
