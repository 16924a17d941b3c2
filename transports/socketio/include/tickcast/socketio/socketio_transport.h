#pragma once
// tickcast::socketio: Socket.IO v4 (Engine.IO v4) clients at http://HOST:PORT/socket.io/,
// over HTTP long-polling and WebSocket, on the tickcast::http listener and its service
// loop. This header includes no libwebsockets header.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tickcast/http/server.h"
#include "tickcast/transport/transport.h"

namespace tickcast::socketio {

/// SocketIoOptions configures the Socket.IO transport.
struct SocketIoOptions {
  std::string path = "/socket.io";                 ///< the Engine.IO endpoint (Socket.IO's `path`)
  std::string default_room = "default";            ///< the room of the namespace "/"
  std::size_t max_clients = 10000;                 ///< Engine.IO sessions; beyond it 503 overloaded
  std::size_t max_queue = 256;                     ///< packets queued per session before ticks drop
  std::size_t max_payload = 4096;                  ///< maxPayload; at most the server's max body
  std::chrono::milliseconds ping_interval{25000};  ///< pingInterval of the handshake
  std::chrono::milliseconds ping_timeout{20000};   ///< pingTimeout of the handshake
  /// A session whose queue has not drained for this long is closed.
  std::chrono::seconds stuck_timeout{30};
  double commands_per_second = 20;  ///< per-socket rate; excess gets rate_limited
  double command_burst = 40;
};

/// SocketIoTransport speaks Socket.IO v4 to the stock `socket.io-client`: the namespace "/"
/// is the room `default_room`, "/{room}" that room, and `emit("join", room)` moves a
/// socket. Rooms' events arrive as `timer` events carrying the app's payload; any other
/// event is a command for the sink, {"type": <event name>, ...its object argument} (or
/// `command` with the command object as is), answered through an ack when one is asked.
/// Connection state recovery works from the room's history and keeps the socket's id.
/// On the shared fan-out (LoopTransport); failures go through Sink::encode_failure.
/// See docs/protocol.md.
/// Threads: construct and start()/stop() on the owning thread, with the Server not yet
/// stopped; publish() and stats() from any thread. Everything else runs on the loop thread.
class SocketIoTransport final : public Transport {
 public:
  /// SocketIoTransport attaches to `server`, which must outlive it.
  explicit SocketIoTransport(http::Server& server, SocketIoOptions options = {});
  ~SocketIoTransport() override;
  SocketIoTransport(const SocketIoTransport&) = delete;
  SocketIoTransport& operator=(const SocketIoTransport&) = delete;

  std::string_view name() const override { return "socketio"; }
  void start(Sink& sink) override;
  void stop() override;
  void publish(std::string_view room, const Message& message) override;
  TransportStats stats() const override;

  /// url returns http://host:port{path}/, the Engine.IO endpoint.
  std::string url() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickcast::socketio
