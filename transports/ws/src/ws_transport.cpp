#include "tickcast/ws/ws_transport.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"
#include "tickcast/http/internal/session_table.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::ws {

using http::internal::After;
using http::internal::Loop;
using http::internal::Outbox;
using http::internal::SessionTable;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// One WebSocket connection. Lives on the loop thread only.
struct WsSession final : http::internal::Session {
  WsTransport::Impl* owner = nullptr;
  // Keeps the transport's state alive while the loop can still call this session.
  std::shared_ptr<WsTransport::Impl> keep_alive;
  lws* wsi = nullptr;
  std::uint64_t id = 0;
  std::string room;
  std::size_t room_index = 0;  // position in the room's vector, for O(1) removal
  bool joined = false;         // room broadcasts are skipped until the join reply arrives
  std::optional<CloseCode> close_after_flush;  // the join was refused: close once the error is out
  Outbox outbox;
  std::string rx;
  std::optional<CloseCode> close_code;  // set: closing with it
  std::string close_reason;
  double tokens = 0;
  SteadyTime tokens_at;
  SteadyTime heard_at;     // last frame or pong from the client: the keepalive's clock
  bool ping_due = false;   // a ping waits for the next writable callback
  bool ping_sent = false;  // pinged since heard_at; no pong yet
  ClientRef client;

  explicit WsSession(const WsOptions& options) : outbox(options.max_queue, options.stuck_timeout) {}
  After on_writable(lws* wsi) override;
  bool on_receive(lws* wsi, const void* data, std::size_t len) override;
  void on_pong(lws* wsi) override;
  After on_timer(lws* wsi) override;
  void on_closed() override;
};

// Keepalive, on the loop's coarse timer (Loop::set_timer) rather than lws's validity timer:
// hearing from the client only stores a time, and the timer, when it falls due, works out
// what is next from it. A client silent for websocket_ping_after is pinged; one silent
// for websocket_hangup_after (no pong) is closed without a goodbye, as it is likely gone.
// A zero hangup time turns the keepalive off; a zero ping time, the pings.
std::optional<std::chrono::steady_clock::duration> next_keepalive(
    const http::ServerOptions& options, SteadyTime heard_at, SteadyTime now) {
  if (options.websocket_hangup_after.count() <= 0) return std::nullopt;
  const SteadyTime ping_at = heard_at + options.websocket_ping_after;
  const SteadyTime hangup_at = heard_at + options.websocket_hangup_after;
  const bool pings = options.websocket_ping_after.count() > 0 && ping_at < hangup_at;
  return (pings && now < ping_at ? ping_at : hangup_at) - now;
}

}  // namespace

class WsTransport::Impl final : public http::internal::WebSocketEndpoint,
                                public std::enable_shared_from_this<WsTransport::Impl> {
 public:
  Impl(http::Server& server, WsOptions options) : server(server), options(std::move(options)) {}

  // -- loop thread
  std::optional<Failure> check_upgrade(const http::Request& request) override {
    const std::string room = request.path.substr(options.path_prefix.size());
    if (!valid_room_name(room)) {
      ++counters.refused;
      return Failure{FailureCode::bad_room, std::string(kBadRoomMessage)};
    }
    if (sessions.size() >= options.max_clients) {
      ++counters.refused;
      return Failure{FailureCode::overloaded, "too many WebSocket clients; try again later"};
    }
    return std::nullopt;
  }

  http::internal::Session* open(lws* wsi, const http::Request& request) override;
  void closed(WsSession& session);
  void join(std::uint64_t id, JoinReply reply);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void enqueue(WsSession& session, const Message& message, SteadyTime now);
  void close_session(WsSession& session, CloseCode code, std::string reason);
  bool take_token(WsSession& session);

  http::Server& server;
  WsOptions options;
  Sink* sink = nullptr;
  SessionTable<WsSession> sessions;
  std::vector<unsigned char> write_buffer;
  http::internal::Counters counters;
};

http::internal::Session* WsTransport::Impl::open(lws* wsi, const http::Request& request) {
  if (!sink || !counters.accepting) return nullptr;
  auto fresh = std::make_unique<WsSession>(options);
  fresh->owner = this;
  fresh->keep_alive = shared_from_this();
  fresh->wsi = wsi;
  fresh->room = request.path.substr(options.path_prefix.size());
  fresh->tokens = options.command_burst;
  fresh->tokens_at = std::chrono::steady_clock::now();
  fresh->heard_at = fresh->tokens_at;
  WsSession& session = sessions.add(std::move(fresh));
  if (auto first = next_keepalive(server.loop().options(), session.heard_at, session.heard_at)) {
    server.loop().set_timer(wsi, *first);
  }
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);
  session.client = std::make_shared<http::internal::LoopClient<Impl>>(
      weak_from_this(), server.loop().weak_from_this(), session.id, "ws", request.peer);
  sink->on_subscribe(session.room, std::nullopt, session.client);
  return &session;
}

void WsTransport::Impl::closed(WsSession& session) {
  if (sink) sink->on_unsubscribe(session.room, session.client);
  sessions.remove(session);
}

void WsTransport::Impl::join(std::uint64_t id, JoinReply reply) {
  WsSession* session = sessions.find(id);
  if (!session || session->joined || session->close_after_flush) return;
  const auto now = std::chrono::steady_clock::now();
  if (reply.refusal) {
    // The room refused the join (overloaded, rate_limited): the error event, then a 1008
    // close (one of the contract's codes; lws 4.1 peers take 1013 for a protocol error).
    // The socket never joins the room.
    session->close_after_flush = CloseCode::policy_violation;
    for (const Message& message : reply.messages) enqueue(*session, message, now);
    lws_callback_on_writable(session->wsi);
    return;
  }
  session->joined = true;
  for (const Message& message : reply.messages) enqueue(*session, message, now);
}

void WsTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  WsSession* session = sessions.find(id);
  if (!session) return;
  const auto now = std::chrono::steady_clock::now();
  for (const Message& message : messages) enqueue(*session, message, now);
}

// Closing a session only marks it (it leaves the room on its close callback), so the
// room's vector is stable while this walks it.
void WsTransport::Impl::fan_out(const std::string& room, const Message& message) {
  const auto now = std::chrono::steady_clock::now();  // once per event, not per client
  for (WsSession* session : sessions.members(room)) {
    if (session->joined && !session->close_code) enqueue(*session, message, now);
  }
}

void WsTransport::Impl::enqueue(WsSession& session, const Message& message, SteadyTime now) {
  if (session.close_code) return;
  switch (session.outbox.push(message, now)) {
    case Outbox::Push::stuck:
      // Its socket is choked, so no close frame can reach it: drop the connection now.
      close_session(session, CloseCode::policy_violation, "client too slow");
      http::internal::close_now(session.wsi);
      return;
    case Outbox::Push::queued_dropping_oldest_tick:
      ++counters.dropped;
      break;
    case Outbox::Push::queued:
      break;
  }
  lws_callback_on_writable(session.wsi);
}

void WsTransport::Impl::close_session(WsSession& session, CloseCode code, std::string reason) {
  if (session.close_code) return;
  session.close_code = code;
  session.close_reason = std::move(reason);
  session.outbox.clear();
  if (code == CloseCode::policy_violation) ++counters.closed_slow;
  lws_callback_on_writable(session.wsi);
}

bool WsTransport::Impl::take_token(WsSession& session) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - session.tokens_at).count();
  session.tokens_at = now;
  session.tokens =
      std::min(options.command_burst, session.tokens + elapsed * options.commands_per_second);
  if (session.tokens < 1) return false;
  session.tokens -= 1;
  return true;
}

namespace {

bool close_with(lws* wsi, CloseCode code, std::string_view reason) {
  lws_close_reason(wsi, static_cast<lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(reason.data())),
                   reason.size());
  return false;
}

After WsSession::on_writable(lws* wsi) {
  if (close_code) {
    close_with(wsi, *close_code, close_reason);
    return After::close;
  }
  auto& buffer = owner->write_buffer;
  bool first = true;
  if (ping_due) {
    ping_due = false;
    // Not empty: lws 4.1 drops an empty pong without telling us, and a pong echoes the
    // ping's payload.
    constexpr std::string_view kPingPayload = "tickcast";
    if (buffer.size() < LWS_PRE + kPingPayload.size()) buffer.resize(LWS_PRE + kPingPayload.size());
    std::memcpy(buffer.data() + LWS_PRE, kPingPayload.data(), kPingPayload.size());
    if (lws_write(wsi, buffer.data() + LWS_PRE, kPingPayload.size(), LWS_WRITE_PING) <
        static_cast<int>(kPingPayload.size())) {
      return After::close;
    }
    first = false;
  }
  // A WRITEABLE callback guarantees room for one write, so the pipe is only asked (a
  // poll() syscall in lws 4.1) before the second and later ones: the usual single tick
  // costs one syscall per client, not two.
  for (; !outbox.empty() && (first || !lws_send_pipe_choked(wsi)); first = false) {
    const std::string& payload = *outbox.front().payload;
    if (buffer.size() < LWS_PRE + payload.size()) buffer.resize(LWS_PRE + payload.size());
    std::memcpy(buffer.data() + LWS_PRE, payload.data(), payload.size());
    if (lws_write(wsi, buffer.data() + LWS_PRE, payload.size(), LWS_WRITE_TEXT) <
        static_cast<int>(payload.size())) {
      return After::close;
    }
    outbox.pop(std::chrono::steady_clock::now());
    ++owner->counters.sent;
  }
  if (!outbox.empty()) {
    lws_callback_on_writable(wsi);
  } else if (close_after_flush) {
    close_code = *close_after_flush;  // the error is written: close on the next writable
    close_reason = "room refused; try again later";
    lws_callback_on_writable(wsi);
  }
  return After::keep;
}

After WsSession::on_timer(lws* wsi) {
  Loop& loop = owner->server.loop();
  const auto& options = loop.options();
  const auto now = std::chrono::steady_clock::now();
  const auto silent = now - heard_at;
  if (silent >= options.websocket_hangup_after) return After::close;
  if (options.websocket_ping_after.count() > 0 && silent >= options.websocket_ping_after &&
      !ping_sent && !close_code) {
    ping_sent = true;
    ping_due = true;
    lws_callback_on_writable(wsi);
  }
  if (auto next = next_keepalive(options, heard_at, now)) loop.set_timer(wsi, *next);
  return After::keep;
}

void WsSession::on_pong(lws* wsi) {
  (void)wsi;
  heard_at = std::chrono::steady_clock::now();
  ping_sent = false;
}

bool WsSession::on_receive(lws* wsi, const void* data, std::size_t len) {
  heard_at = std::chrono::steady_clock::now();
  ping_sent = false;
  if (close_code) return true;
  if (lws_frame_is_binary(wsi)) {
    return close_with(wsi, CloseCode::unsupported_data, "binary frames are not accepted");
  }
  const std::size_t limit = owner->options.max_message_bytes;
  if (rx.size() + len + lws_remaining_packet_payload(wsi) > limit) {
    return close_with(wsi, CloseCode::message_too_big,
                      "message over " + std::to_string(limit) + " bytes");
  }
  rx.append(static_cast<const char*>(data), len);
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return true;
  std::string command = std::move(rx);
  rx.clear();
  if (!owner->take_token(*this)) {
    if (!owner->sink) return true;
    // A value, rendered by the app (the Pomodoro app echoes the command's request_id).
    const Failure failure{FailureCode::rate_limited, "too many commands; slow down"};
    owner->enqueue(*this,
                   Message{0, make_payload(owner->sink->encode_failure(failure, command)), false,
                           MessageKind::error},
                   std::chrono::steady_clock::now());
    return true;
  }
  if (owner->sink) owner->sink->on_message(room, std::move(command), client);
  return true;
}

void WsSession::on_closed() {
  auto keep = keep_alive;  // `this` is destroyed inside closed()
  keep->closed(*this);
}

}  // namespace

WsTransport::WsTransport(http::Server& server, WsOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

WsTransport::~WsTransport() { stop(); }

void WsTransport::start(Sink& sink) {
  impl_->server.loop().run_sync([&] {
    impl_->sink = &sink;
    impl_->counters.accepting = true;
    impl_->server.loop().add_websocket_endpoint(impl_->options.path_prefix, impl_.get());
  });
}

void WsTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->counters.accepting = false;
    loop.remove_endpoint(impl_.get());
    for (WsSession* session : impl_->sessions.all()) {
      impl_->close_session(*session, CloseCode::going_away, "server shutting down");
    }
  });
  impl_->sessions.wait_empty(std::chrono::seconds(2));
  // Whatever did not close in time is dropped by the loop when the Server stops; from now
  // on nothing of ours is called.
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void WsTransport::publish(std::string_view room, const Message& message) {
  http::internal::post_fan_out(impl_->server.loop(), impl_, room, message);
}

TransportStats WsTransport::stats() const { return impl_->counters.stats(impl_->sessions.size()); }

std::string WsTransport::url_template() const {
  const auto& options = impl_->server.options();
  return "ws://" + options.host + ":" + std::to_string(impl_->server.port()) +
         impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::ws
