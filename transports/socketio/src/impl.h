#pragma once
// The Socket.IO transport on the shared loop fan-out (LoopTransport): the rooms, the
// bounded queues (shedding ticks, keeping state changes, closing the stuck), join gating,
// counters, start/stop/publish/stats are the shared layer's. What is Socket.IO's own:
// Engine.IO sessions and the connections that carry them (a parked long-poll GET, a
// WebSocket), the upgrade, pings, and its packets. Internal to tickcast::socketio.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine_io.h"
#include "socket_io.h"
#include "tickcast/http/internal/deadlines.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/loop_transport.h"
#include "tickcast/socketio/socketio_transport.h"

namespace tickcast::socketio {

using http::internal::After;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Engine;

/// SioSession is one Socket.IO socket's place in a room: the fan-out's session. Its outbox
/// holds the socket's packets without their namespace ("2[...]", the CONNECT reply, acks),
/// so that one frame of an event serves every namespace of the room; the namespace goes in
/// as they are written. A socket that moves (`join`) gets a new session once the room
/// answers. It is no connection: the Engine.IO session (Engine) writes for it.
/// Threads: the loop thread only.
struct SioSession final : FanoutSession {
  enum class Purpose { connect, recover, move };
  using FanoutSession::FanoutSession;
  lws* wsi = nullptr;                ///< unused (LoopTransport's field): Engine has the connections
  std::shared_ptr<void> keep_alive;  ///< the transport, while the session lives
  bool subscribed = true;            ///< the sink heard on_subscribe (and hears on_unsubscribe)
  Engine* engine = nullptr;
  std::string nsp;
  Purpose purpose = Purpose::connect;
  std::string pid;                   ///< recover: the pid the client came back with
  std::optional<std::uint64_t> ack;  ///< move: the ack id of the `join`
};

/// SocketExpiry names a socket whose token expires; the socket erases it when it goes.
struct SocketExpiry {
  std::uint64_t engine = 0;  ///< Engine::serial
  std::string nsp;
};
using Expiries = std::multimap<auth::Clock::time_point, SocketExpiry>;

/// Socket is one Socket.IO socket: a namespace connected on an Engine.IO session.
struct Socket {
  std::string sid;
  std::string pid;            ///< private id, for connection state recovery
  std::uint64_t current = 0;  ///< session delivering events, 0 before CONNECT is answered
  /// that session itself, for the writes (no lookup by id per packet); unsubscribe() clears
  /// it before the session goes, and only unsubscribe() removes a session
  SioSession* live = nullptr;
  std::uint64_t pending = 0;  ///< session waiting for its room's answer
  std::string token;          ///< the room token it connected with, when the port wants one
  std::optional<auth::Clock::time_point> expires;  ///< the token's `exp`, when it has one
  std::optional<Expiries::iterator> expiry;        ///< its entry in Impl::expiries
  double tokens = 0;
  SteadyTime tokens_at;
};

class Connection;
class PollRequest;
class WsConn;

/// Engine is one Engine.IO session. Threads: the loop thread only.
struct Engine {
  Engine(std::size_t queue, std::chrono::seconds stuck) : outbox(queue, stuck) {}
  std::uint64_t serial = 0;
  std::string sid;
  std::string peer;   ///< the client's address, for the Hub's per-address limits
  std::string token;  ///< the handshake request's room token (Bearer, ?token=, cookie)
  engine::Transport transport = engine::Transport::polling;
  bool upgrading = false;         ///< a WebSocket answered the probe; waiting for its "5"
  SteadyTime upgrade_deadline{};  ///< when a probe that never sends "5" is given up
  bool closed = false;            ///< closing: reaped after the current callback
  bool dirty = false;             ///< packets were queued: flushed after the current callback
  int close_code = 1000;          ///< for the WebSocket, when the server closes it
  std::string close_reason;
  /// outbox: Engine.IO's own packets (pings, CONNECT_ERROR), whole, written before the
  /// sockets' sessions; and what a socket's old session had left when it moved.
  Outbox outbox;
  PollRequest* poll = nullptr;  ///< the parked long-poll GET
  WsConn* ws = nullptr;         ///< the WebSocket: the transport, or a probe
  std::vector<std::pair<std::string, std::string>> cors;  ///< for long-poll answers
  using Sockets = std::map<std::string, Socket, std::less<>>;
  Sockets sockets;  ///< by namespace
  SteadyTime ping_due{};
  SteadyTime pong_due{};
  bool awaiting_pong = false;
};

/// CommandReply gathers the Hub's answer to one command sent by a socket.
struct CommandReply {
  std::uint64_t engine = 0;  ///< Engine::serial
  std::string nsp;
  std::optional<std::uint64_t> ack;
  Payload error;  ///< set when the command was refused
};

/// ping_granularity is how late a ping or a pong timeout may come: 250 ms, and never more
/// than a quarter of the ping timeout (a client waits pingInterval + pingTimeout for a ping).
inline std::chrono::steady_clock::duration ping_granularity(const SocketIoOptions& options) {
  const std::chrono::steady_clock::duration quarter = options.ping_timeout / 4;
  return std::clamp<std::chrono::steady_clock::duration>(quarter, std::chrono::milliseconds(1),
                                                         std::chrono::milliseconds(250));
}

/// Impl is the transport on the loop thread. Threads: the loop thread, except where noted.
class SocketIoTransport::Impl final
    : public http::internal::LoopTransport<SocketIoTransport::Impl, SioSession> {
 public:
  Impl(http::Server& server, SocketIoOptions options);

  // -- endpoints (loop callbacks)
  std::variant<http::internal::Session*, http::Response> on_poll(lws* wsi,
                                                                 const http::Request& request);
  std::optional<Failure> check_websocket(const http::Request& request);
  http::internal::Session* open_websocket(lws* wsi, const http::Request& request);
  void on_ws_text(WsConn& conn, const std::string& text);
  void forget(Connection& connection);

  // -- Engine.IO sessions
  Engine& create_engine(engine::Transport transport, std::string peer);
  Engine* find_engine(const std::string& sid);
  Engine* find_engine(std::uint64_t serial);
  void close_engine(Engine& engine, int code, std::string reason);
  /// settle flushes the engines that have new packets and destroys the ones closed since
  /// the last call; it does nothing during a fan-out (which walks the room's sessions).
  void settle();
  /// queue adds a whole Engine.IO packet to the engine's own queue; a stuck session is
  /// closed instead.
  void queue(Engine& engine, std::string packet);
  /// queue_socket adds a socket's packet (a body without namespace, see io::event_body) to
  /// its current session, or to the engine's queue when it has none yet.
  void queue_socket(Engine& engine, const std::string& nsp, std::string body);
  /// flush writes what is queued: a WebSocket write, or the parked poll's answer.
  void flush(Engine& engine);
  bool has_packets(Engine& engine);
  /// next_packet takes the next whole Engine.IO packet to write: the engine's own, then the
  /// sockets' (with their namespace); nullopt when there is none, else whether more may
  /// follow (false: certainly none).
  std::optional<bool> next_packet(Engine& engine, std::string& out);
  std::string take_payload(Engine& engine);
  void answer_poll(PollRequest& poll, std::string body);
  /// on_packet handles one Engine.IO packet; an error text for a protocol violation.
  std::optional<std::string> on_packet(Engine& engine, const engine::Packet& packet);
  void schedule_ping(Engine& engine, SteadyTime now);
  void arm_sweep(SteadyTime due);
  void sweep();

  // -- Socket.IO
  std::optional<std::string> on_io(Engine& engine, std::string_view text);
  /// token_refusal checks `token` for `permission` in `room` when the port requires room
  /// tokens: the `unauthorized` failure when refused, nothing when allowed (or tokens are off).
  std::optional<Failure> token_refusal(const std::string& token, std::string_view room,
                                       auth::Permission permission) const;
  /// token_expiry is when `token` expires, when the port requires room tokens.
  std::optional<auth::Clock::time_point> token_expiry(const std::string& token) const;
  /// expire, on the loop's once-a-second sweep: a socket whose token has expired gets an
  /// `unauthorized` "token expired" error event and a DISCONNECT of its namespace.
  void expire(auth::Clock::time_point now);
  /// failure_body renders a transport-level failure in the app's shape (Sink::encode_failure).
  std::string failure_body(const Failure& failure, std::string_view request = {}) const;
  void on_connect(Engine& engine, const io::Packet& packet);
  void on_event(Engine& engine, Socket& socket, const io::Packet& packet);
  /// forget_expiry erases the socket's entry in `expiries`: before a socket is erased.
  void forget_expiry(Socket& socket);
  void drop_socket(Engine& engine, const std::string& nsp);
  std::uint64_t subscribe(Engine& engine, const std::string& nsp, const std::string& room,
                          std::optional<std::uint64_t> resume_after, SioSession::Purpose purpose,
                          std::string pid, std::optional<std::uint64_t> ack);
  /// unsubscribe ends a session; `spill` keeps what it had not written yet (a socket that
  /// moves still gets its old room's events up to the move).
  void unsubscribe(std::uint64_t id, bool spill = false);
  void send_error(Engine& engine, const std::string& nsp, const std::string& error,
                  std::optional<std::uint64_t> ack);
  bool take_token(Socket& socket);
  void command_refused(CommandReply& reply, std::vector<Message> messages);
  void command_settled(CommandReply& reply, std::vector<Message> messages);

  // -- LoopTransport (the Hub's side, through LoopClient and publish)
  void on_join(SioSession& session, const JoinReply& reply);
  void on_deliver(SioSession& session, const std::vector<Message>& messages);
  void close_gracefully(SioSession& session);
  const void* endpoint() const { return &ws_endpoint; }
  void on_stop();
  /// fan_out frames the event once for its room (see frame_for_room) and settles after.
  void fan_out(const std::string& room, const Message& message);

  // -- FanoutHooks
  Payload frame(const Message& message) override;
  Payload frame_for_room(const std::string& room, const Message& message) override;
  void wake(SioSession& session) override;
  void close_stuck(SioSession& session) override;

  /// client_for makes a reply channel whose messages reach `fn` on the loop thread.
  ClientRef client_for(std::function<void(Impl&, std::vector<Message>)> fn);

  SocketIoOptions options;
  engine::HandshakeOptions handshake;

  std::unordered_map<std::string, std::unique_ptr<Engine>> engines;
  std::unordered_map<std::uint64_t, Engine*> by_serial;
  std::uint64_t next_serial = 1;
  std::vector<std::uint64_t> doomed;
  std::vector<std::uint64_t> dirty;
  std::unordered_map<const Connection*, std::unique_ptr<Connection>> connections;
  std::vector<unsigned char> write_buffer;
  std::string packet_buffer;  // the packet being written (its namespace inserted)

  /// EngineDue is a ping or pong deadline of an Engine.IO session; one whose session's
  /// deadline has moved since is stale, and skipped.
  struct EngineDue {
    SteadyTime at;
    std::uint64_t serial = 0;
  };
  // The loop's bucketed deadlines (O(1) for "now + a fixed delay"), not a timer each.
  http::internal::Deadlines<EngineDue> pings;
  http::internal::Deadlines<EngineDue> pongs;
  lws_context* context = nullptr;
  struct SweepTimer {
    lws_sorted_usec_list_t sul;  // first: the callback gets its address
    Impl* owner;
  } sweep_timer{};
  std::optional<SteadyTime> sweep_at;
  /// The sockets whose token expires, soonest first.
  Expiries expiries;

  class WsEndpoint final : public http::internal::WebSocketEndpoint {
   public:
    explicit WsEndpoint(Impl& impl) : impl_(impl) {}
    std::optional<Failure> check_upgrade(const http::Request& request) override {
      return impl_.check_websocket(request);
    }
    http::internal::Session* open(lws* wsi, const http::Request& request) override {
      return impl_.open_websocket(wsi, request);
    }

   private:
    Impl& impl_;
  } ws_endpoint{*this};

  class PollEndpoint final : public http::internal::StreamEndpoint {
   public:
    explicit PollEndpoint(Impl& impl) : impl_(impl) {}
    std::variant<http::internal::Session*, http::Response> open(
        lws* wsi, const http::Request& request) override {
      return impl_.on_poll(wsi, request);
    }

   private:
    Impl& impl_;
  } poll_endpoint{*this};

  // Any thread: counts for stats() and stop().
  std::atomic<std::size_t> engine_count{0};
  std::mutex connections_mutex;
  std::condition_variable connections_gone;
  std::size_t connection_count = 0;  // guarded by connections_mutex
  /// wait_connections_gone waits until every connection has closed; false on timeout.
  bool wait_connections_gone(std::chrono::milliseconds timeout);
};

/// Connection is a libwebsockets connection the transport owns (a parked poll, a WebSocket).
/// Threads: the loop thread only, like everything it points to.
class Connection : public http::internal::Session {
 public:
  Connection(std::shared_ptr<SocketIoTransport::Impl> owner, lws* wsi)
      : owner(owner.get()), keep_alive(std::move(owner)), wsi(wsi) {}
  void on_closed() override {
    auto keep = keep_alive;  // `this` is destroyed inside forget()
    keep->forget(*this);
  }

  SocketIoTransport::Impl* owner;
  std::shared_ptr<SocketIoTransport::Impl> keep_alive;
  lws* wsi;
  Engine* engine = nullptr;
};

/// PollRequest is a long-poll GET parked until its session has packets.
class PollRequest final : public Connection {
 public:
  using Connection::Connection;
  After on_writable(lws* wsi) override;
  std::optional<http::Response> answer;
};

/// WsConn is an Engine.IO WebSocket: the session's transport, or a probe before the upgrade.
class WsConn final : public Connection {
 public:
  using Connection::Connection;
  After on_writable(lws* wsi) override;
  bool on_receive(lws* wsi, const void* data, std::size_t len) override;
  /// Frames only, as ws's sessions: a fan-out may write it at once (Loop::write_now).
  bool writes_outside_callbacks() const override { return close_code == 0; }

  std::string rx;
  bool rx_binary = false;
  std::deque<std::string> direct;  ///< written before the session's packets ("3probe", "0{...}")
  int close_code = 0;
  std::string close_reason;
};

}  // namespace tickcast::socketio
