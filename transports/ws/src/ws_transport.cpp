#include "tickcast/ws/ws_transport.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>

#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/loop_transport.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::ws {

using http::internal::After;
using http::internal::Loop;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// One WebSocket connection. Lives on the loop thread only.
struct WsSession final : http::internal::LoopSession {
  WsTransport::Impl* owner = nullptr;
  std::string rx;
  std::optional<CloseCode> close_code;  // set: closing with it
  std::string close_reason;
  double tokens = 0;
  SteadyTime tokens_at;
  SteadyTime heard_at;                 // last frame or pong from the client: the keepalive's clock
  bool ping_due = false;               // a ping waits for its write
  bool ping_sent = false;              // pinged since heard_at; no pong yet
  SteadyTime::duration ping_spread{};  // its wait past websocket_ping_after (ping_spread_for)
  // The token's grant, when the port requires tokens (held apart: most ports need none).
  std::unique_ptr<auth::Grant> grant;
  // Its entry in the transport's expiries, erased when the session closes first.
  std::optional<std::multimap<auth::Clock::time_point, std::uint64_t>::iterator> expiry;

  explicit WsSession(const WsOptions& options)
      : LoopSession(options.max_queue, options.stuck_timeout) {}
  After on_writable(lws* wsi) override;
  bool writes_outside_callbacks() const override { return !close_code && !refused && !closing; }
  bool on_receive(lws* wsi, const void* data, std::size_t len) override;
  void on_pong(lws* wsi) override;
  After on_timer(lws* wsi) override;
  void on_closed() override;
  /// arm_keepalive sets the loop timer for this connection's next ping or hangup.
  void arm_keepalive(Loop& loop, lws* wsi, SteadyTime now) const;
};

// Keepalive, on the loop's coarse timer (Loop::set_timer) rather than lws's validity timer:
// hearing from the client only stores a time, and the timer, when it falls due, works out
// what is next from it. A client silent for websocket_ping_after is pinged; one silent
// for websocket_hangup_after (no pong) is closed without a goodbye, as it is likely gone.
// A zero hangup time turns the keepalive off; a zero ping time, the pings.
std::optional<std::chrono::steady_clock::duration> next_keepalive(
    const http::ServerOptions& options, SteadyTime heard_at, SteadyTime now,
    SteadyTime::duration ping_spread) {
  if (options.websocket_hangup_after.count() <= 0) return std::nullopt;
  const SteadyTime ping_at = heard_at + options.websocket_ping_after + ping_spread;
  const SteadyTime hangup_at = heard_at + options.websocket_hangup_after;
  const bool pings = options.websocket_ping_after.count() > 0 && ping_at < hangup_at;
  return (pings && now < ping_at ? ping_at : hangup_at) - now;
}

// Connections opened together (a crowd joining, everyone reconnecting after a restart)
// would be pinged together, and their pongs read together, every round: at 10,000 clients
// a burst of 20,000 syscalls that delays whichever tick it meets. Each connection waits
// up to a quarter of a ping period longer (never past half the way to the hangup), at a
// point of that span set by its id: ids in a row land far apart (the golden ratio's
// fractions), so a crowd's pings spread over the span and drift further apart each round.
SteadyTime::duration ping_spread_for(const http::ServerOptions& options, std::uint64_t id) {
  const auto ping = options.websocket_ping_after;
  const auto hangup = options.websocket_hangup_after;
  if (ping.count() <= 0 || hangup <= ping) return {};
  const auto limit = std::min<SteadyTime::duration>(ping / 4, (hangup - ping) / 2);
  constexpr double kGoldenFraction = 0.6180339887498949;
  double whole = 0;
  const double share = std::modf(static_cast<double>(id) * kGoldenFraction, &whole);
  return std::chrono::duration_cast<SteadyTime::duration>(limit * share);
}

}  // namespace

// WebSocket on the shared loop fan-out: the upgrade (check_upgrade, open), the framing (one
// text frame per event behind LWS_PRE headroom, shared by every socket of the room), the
// write, and what only a two-way socket has: commands, their rate limit, keepalive.
class WsTransport::Impl final : public http::internal::WebSocketEndpoint,
                                public http::internal::LoopTransport<WsTransport::Impl, WsSession> {
 public:
  Impl(http::Server& server, WsOptions options)
      : LoopTransport(server), options(std::move(options)) {}

  // -- loop thread
  std::optional<Failure> check_upgrade(const http::Request& request) override {
    const std::string room = request.path.substr(options.path_prefix.size());
    if (!valid_room_name(room)) {
      ++fanout.counters.refused;
      return Failure{FailureCode::bad_room, std::string(kBadRoomMessage)};
    }
    if (fanout.size() >= options.max_clients) {
      ++fanout.counters.refused;
      return Failure{FailureCode::overloaded, "too many WebSocket clients; try again later"};
    }
    // The token is checked here, at the handshake, so that a refusal is an HTTP 401/403;
    // open() checks it again for the grant it keeps (a handshake costs two checks).
    if (auto access = http::authorize(server.options(), request, room, auth::Permission::subscribe);
        !access) {
      ++fanout.counters.refused;
      return access.refusal;
    }
    return std::nullopt;
  }
  http::internal::Session* open(lws* wsi, const http::Request& request) override;

  // LoopTransport
  void on_join(WsSession& session, const JoinReply& reply) {
    // A refusal (overloaded, rate_limited): the error event, then a 1008 close (one of the
    // contract's codes; lws 4.1 peers take 1013 for a protocol error). The socket never
    // joins the room.
    fanout.join(session, reply, std::chrono::steady_clock::now());
  }
  void on_deliver(WsSession& session, const std::vector<Message>& messages) {
    fanout.deliver(session, messages, std::chrono::steady_clock::now());
  }
  void close_gracefully(WsSession& session) {
    close_session(session, CloseCode::going_away, "server shutting down");
  }
  const void* endpoint() const {
    return static_cast<const http::internal::WebSocketEndpoint*>(this);
  }

  // FanoutHooks: the payload behind LWS_PRE bytes of headroom, where lws puts the frame
  // header; every socket of the room writes this one buffer.
  Payload frame(const Message& message) override {
    std::string out;
    out.reserve(LWS_PRE + message.payload->size());
    out.assign(LWS_PRE, '\0');
    out += *message.payload;
    return make_payload(std::move(out));
  }
  void close_stuck(WsSession& session) override {
    // Its socket is choked, so no close frame can reach it: drop the connection now.
    session.close_code = CloseCode::policy_violation;
    session.close_reason = "client too slow";
    http::internal::close_now(session.wsi);
  }

  void closed(WsSession& session);
  void on_stop() { server.loop().remove_sweep(this); }
  void close_session(WsSession& session, CloseCode code, std::string reason);
  bool take_token(WsSession& session);
  void expire(auth::Clock::time_point now);

  WsOptions options;
  std::vector<unsigned char> write_buffer;
  std::multimap<auth::Clock::time_point, std::uint64_t> expiries;  // token expiry -> session
};

http::internal::Session* WsTransport::Impl::open(lws* wsi, const http::Request& request) {
  if (!accepting()) return nullptr;
  auto fresh = std::make_unique<WsSession>(options);
  fresh->owner = this;
  fresh->room = request.path.substr(options.path_prefix.size());
  fresh->tokens = options.command_burst;
  fresh->tokens_at = std::chrono::steady_clock::now();
  fresh->heard_at = fresh->tokens_at;
  auto access =
      http::authorize(server.options(), request, fresh->room, auth::Permission::subscribe);
  if (!access) return nullptr;  // expired between the handshake and now
  if (access.grant) fresh->grant = std::make_unique<auth::Grant>(std::move(*access.grant));
  WsSession& session = admit(std::move(fresh), wsi, "ws", request.peer);
  if (session.grant) session.expiry = expiries.emplace(session.grant->expires, session.id);
  session.ping_spread = ping_spread_for(server.loop().options(), session.id);
  session.arm_keepalive(server.loop(), wsi, session.heard_at);
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);
  sink->on_subscribe(session.room, std::nullopt, session.client);
  return &session;
}

// The session leaves the expiries first, then the room (LoopTransport::closed).
void WsTransport::Impl::closed(WsSession& session) {
  if (session.expiry) expiries.erase(*session.expiry);
  LoopTransport::closed(session);
}

// Called by the loop's once-a-second sweep: clients whose token has expired are closed
// with 4401 "token expired"; they may reconnect with a fresh token.
void WsTransport::Impl::expire(auth::Clock::time_point now) {
  while (!expiries.empty() && expiries.begin()->first <= now) {
    const std::uint64_t id = expiries.begin()->second;
    expiries.erase(expiries.begin());
    if (WsSession* session = fanout.find(id)) {
      session->expiry.reset();
      close_session(*session, CloseCode::token_expired, "token expired");
    }
  }
}

void WsTransport::Impl::close_session(WsSession& session, CloseCode code, std::string reason) {
  if (session.close_code) return;
  session.close_code = code;
  session.close_reason = std::move(reason);
  session.closing = true;
  session.outbox.clear();
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
  auto& buffer = owner->write_buffer;  // pings only; events are written from their frame
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
  // Each frame is the room's shared buffer: lws writes the frame header into its headroom
  // (writes on this loop are sequential, so that space is scratch) and copies only what
  // the socket does not take at once.
  for (; !outbox.empty() && (first || !lws_send_pipe_choked(wsi)); first = false) {
    const std::string& frame = *outbox.front().payload;
    auto* data = reinterpret_cast<unsigned char*>(const_cast<char*>(frame.data())) + LWS_PRE;
    const std::size_t size = frame.size() - LWS_PRE;
    if (lws_write(wsi, data, size, LWS_WRITE_TEXT) < static_cast<int>(size)) return After::close;
    outbox.pop(std::chrono::steady_clock::now());
    ++owner->fanout.counters.sent;
  }
  if (!outbox.empty()) {
    lws_callback_on_writable(wsi);
  } else if (refused) {
    // The error is written: close on the next writable.
    owner->close_session(*this, CloseCode::policy_violation, "room refused; try again later");
  }
  return After::keep;
}

After WsSession::on_timer(lws* wsi) {
  Loop& loop = owner->server.loop();
  const auto& options = loop.options();
  const auto now = std::chrono::steady_clock::now();
  const auto silent = now - heard_at;
  if (silent >= options.websocket_hangup_after) return After::close;
  if (options.websocket_ping_after.count() > 0 &&
      silent >= options.websocket_ping_after + ping_spread && !ping_sent && !close_code) {
    ping_sent = true;
    ping_due = true;
    // Written now where the socket allows it: the writable callback costs two epoll_ctl
    // per ping on libev, and a ping round reaches many clients at once.
    loop.write_now(wsi);
  }
  arm_keepalive(loop, wsi, now);
  return After::keep;
}

void WsSession::on_pong(lws* wsi) {
  heard_at = std::chrono::steady_clock::now();
  ping_sent = false;
  // The timer still waits for the hangup of the ping just answered; the next ping is due
  // a full ping period after this pong, not at that hangup.
  arm_keepalive(owner->server.loop(), wsi, heard_at);
}

void WsSession::arm_keepalive(Loop& loop, lws* wsi, SteadyTime now) const {
  if (auto next = next_keepalive(loop.options(), heard_at, now, ping_spread)) {
    loop.set_timer(wsi, *next);
  }
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
  if (grant && (!grant->command || grant->expires <= auth::Clock::now())) {
    // A subscribe-only (or just expired) token: an error event; the socket stays.
    if (!owner->sink) return true;
    const Failure refusal{FailureCode::unauthorized,
                          grant->command ? "token expired" : "the token does not allow commands"};
    owner->fanout.deliver(*this,
                          {Message{0, make_payload(owner->sink->encode_failure(refusal, command)),
                                   false, MessageKind::error}},
                          std::chrono::steady_clock::now());
    return true;
  }
  if (!owner->take_token(*this)) {
    if (!owner->sink) return true;
    // A value, rendered by the app (the Pomodoro app echoes the command's request_id).
    const Failure failure{FailureCode::rate_limited, "too many commands; slow down"};
    owner->fanout.deliver(*this,
                          {Message{0, make_payload(owner->sink->encode_failure(failure, command)),
                                   false, MessageKind::error}},
                          std::chrono::steady_clock::now());
    return true;
  }
  if (owner->sink) owner->sink->on_message(room, std::move(command), client);
  return true;
}

void WsSession::on_closed() { owner->closed(*this); }

}  // namespace

WsTransport::WsTransport(http::Server& server, WsOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

WsTransport::~WsTransport() { stop(); }

void WsTransport::start(Sink& sink) {
  impl_->start(sink, [&] {
    impl_->server.loop().add_websocket_endpoint(impl_->options.path_prefix, impl_.get());
    if (impl_->server.options().auth) {
      impl_->server.loop().add_sweep(impl_.get(), [weak = std::weak_ptr<Impl>(impl_)](auto now) {
        if (auto impl = weak.lock()) impl->expire(now);
      });
    }
  });
}

void WsTransport::stop() { impl_->stop(); }

void WsTransport::publish(std::string_view room, const Message& message) {
  impl_->publish(room, message);
}

TransportStats WsTransport::stats() const { return impl_->stats(); }

std::string WsTransport::url_template() const {
  return impl_->server.websocket_base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::ws
