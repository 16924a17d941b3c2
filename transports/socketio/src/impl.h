#pragma once
// The Socket.IO transport's state on the loop thread: Engine.IO sessions, the connections
// that carry them (a parked long-poll GET, a WebSocket), and the Socket.IO sockets whose
// room subscriptions fan-out walks. Internal to tickcast::socketio.

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

#include "deadlines.h"
#include "engine_io.h"
#include "socket_io.h"
#include "tickcast/core/error.h"  // the known exception: see check_layers.sh
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"
#include "tickcast/http/internal/session_table.h"
#include "tickcast/socketio/socketio_transport.h"

namespace tickcast::socketio {

using http::internal::After;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Engine;

/// Subscription is one Socket.IO socket's place in a room: the SessionTable entry that
/// fan-out walks. A socket that moves (`join`) gets a new one once the room answers.
struct Subscription {
  enum class Purpose { connect, recover, move };
  std::uint64_t id = 0;
  std::string room;
  std::size_t room_index = 0;
  Engine* engine = nullptr;
  std::string nsp;
  bool joined = false;  ///< the room's join reply has arrived: broadcasts flow
  Purpose purpose = Purpose::connect;
  std::string pid;                   ///< recover: the pid the client came back with
  std::optional<std::uint64_t> ack;  ///< move: the ack id of the `join`
  ClientRef client;
};

/// Socket is one Socket.IO socket: a namespace connected on an Engine.IO session.
struct Socket {
  std::string sid;
  std::string pid;            ///< private id, for connection state recovery
  std::uint64_t current = 0;  ///< subscription delivering events, 0 before CONNECT is answered
  std::uint64_t pending = 0;  ///< subscription waiting for its room's answer
  std::string token;          ///< the room token it connected with, when the port wants one
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
  int close_code = 1000;          ///< for the WebSocket, when the server closes it
  std::string close_reason;
  http::internal::Outbox outbox;  ///< Engine.IO packets not yet written
  PollRequest* poll = nullptr;    ///< the parked long-poll GET
  WsConn* ws = nullptr;           ///< the WebSocket: the transport, or a probe
  std::vector<std::pair<std::string, std::string>> cors;  ///< for long-poll answers
  std::map<std::string, Socket, std::less<>> sockets;     ///< by namespace
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

/// Impl is the transport on the loop thread. Threads: the loop thread, except where noted.
class SocketIoTransport::Impl final : public std::enable_shared_from_this<SocketIoTransport::Impl> {
 public:
  Impl(http::Server& server, SocketIoOptions options);

  // -- endpoints (loop callbacks)
  std::variant<http::internal::Session*, http::Response> on_poll(lws* wsi,
                                                                 const http::Request& request);
  std::optional<Failure> check_websocket(const http::Request& request);
  http::internal::Session* open_websocket(lws* wsi, const http::Request& request);
  void on_ws_text(WsConn& conn, std::string text);
  void forget(Connection& connection);

  // -- Engine.IO sessions
  void remove_subscription(Subscription& sub);
  Engine& create_engine(engine::Transport transport, std::string peer);
  Engine* find_engine(const std::string& sid);
  Engine* find_engine(std::uint64_t serial);
  void close_engine(Engine& engine, int code, std::string reason);
  /// reap destroys the engines closed since the last call (never during a fan-out).
  void reap();
  /// queue adds a packet; a stuck session is closed instead.
  void queue(Engine& engine, Message packet);
  void queue(Engine& engine, std::string packet);
  /// flush writes what is queued: a WebSocket write, or the parked poll's answer.
  void flush(Engine& engine);
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
  /// tokens: the `unauthorized` error when refused, nothing when allowed (or tokens are off).
  std::optional<Error> token_refusal(const std::string& token, std::string_view room,
                                     auth::Permission permission) const;
  void on_connect(Engine& engine, const io::Packet& packet);
  void on_event(Engine& engine, Socket& socket, const io::Packet& packet);
  void drop_socket(Engine& engine, const std::string& nsp);
  std::uint64_t subscribe(Engine& engine, const std::string& nsp, const std::string& room,
                          std::optional<std::uint64_t> resume_after, Subscription::Purpose purpose,
                          std::string pid, std::optional<std::uint64_t> ack);
  void unsubscribe(std::uint64_t id);
  void send_error(Engine& engine, const std::string& nsp, const std::string& error,
                  std::optional<std::uint64_t> ack);
  void queue_messages(Engine& engine, const Subscription& sub,
                      const std::vector<Message>& messages);
  bool take_token(Socket& socket);
  void command_refused(CommandReply& reply, std::vector<Message> messages);
  void command_settled(CommandReply& reply, std::vector<Message> messages);

  // -- the Hub's side (through LoopClient and publish)
  /// join: the room's one answer to a subscription (a refusal carries its error message).
  void join(std::uint64_t id, JoinReply reply) { deliver(id, std::move(reply.messages)); }
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void deliver_reply(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);

  /// client_for makes a reply channel whose messages reach `fn` on the loop thread.
  ClientRef client_for(std::function<void(Impl&, std::vector<Message>)> fn);

  http::Server& server;
  SocketIoOptions options;
  engine::HandshakeOptions handshake;
  Sink* sink = nullptr;
  http::internal::Counters counters;

  std::unordered_map<std::string, std::unique_ptr<Engine>> engines;
  std::unordered_map<std::uint64_t, Engine*> by_serial;
  std::uint64_t next_serial = 1;
  std::vector<std::uint64_t> doomed;
  bool fanning_out = false;
  http::internal::SessionTable<Subscription> subscriptions;
  std::unordered_map<const Connection*, std::unique_ptr<Connection>> connections;
  std::vector<unsigned char> write_buffer;

  Deadlines pings;
  Deadlines pongs;
  lws_context* context = nullptr;
  struct SweepTimer {
    lws_sorted_usec_list_t sul;  // first: the callback gets its address
    Impl* owner;
  } sweep_timer{};
  std::optional<SteadyTime> sweep_at;

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

  std::string rx;
  bool rx_binary = false;
  std::deque<std::string> direct;  ///< written before the session's packets ("3probe", "0{...}")
  int close_code = 0;
  std::string close_reason;
};

}  // namespace tickcast::socketio
