#pragma once
// tickcast::ws: WebSocket clients at ws://HOST:PORT/rooms/{room}, on the tickcast::http
// listener and its service loop. This header includes no libwebsockets header.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tickcast/http/server.h"
#include "tickcast/transport/transport.h"

namespace tickcast::ws {

/// WsOptions configures the WebSocket transport.
struct WsOptions {
  std::string path_prefix = "/rooms/";   ///< clients connect to {prefix}{room}
  std::size_t max_clients = 10000;       ///< beyond it an upgrade gets 503 overloaded
  std::size_t max_queue = 256;           ///< messages queued per client before ticks drop
  std::size_t max_message_bytes = 4096;  ///< larger frames close the connection with 1009
  /// A client whose queue has not drained for this long is closed (1008).
  std::chrono::seconds stuck_timeout{30};
  /// SO_SNDBUF of each connection (0: the kernel's autotuning); bounds what a client that
  /// stops reading pins in the kernel, so that its outbox notices it soon.
  std::size_t send_buffer_bytes = 16UL * 1024;
  double commands_per_second = 20;  ///< per-connection rate; excess gets rate_limited
  double command_burst = 40;
};

/// kTokenExpiredClose is the close code of a client whose room token expired (with the
/// reason "token expired"); it may reconnect with a fresh token.
inline constexpr int kTokenExpiredClose = 4401;

/// WsTransport is the WebSocket transport. Bad input gets the contract's answers: binary
/// frame -> close 1003; frame over max_message_bytes -> 1009; bad room or foreign Origin ->
/// upgrade refused (404 / 403); bad JSON or unknown command -> error event, connection stays.
/// With tokens required (http::ServerOptions::auth): no or bad token -> upgrade refused 401,
/// wrong room -> 403; a command on a subscribe-only token -> `unauthorized` error event,
/// connection stays; the token's expiry -> close 4401 "token expired".
/// Threads: construct and start()/stop() on the owning thread, with the Server not yet
/// stopped; publish() and stats() from any thread. Writes happen only on the loop thread.
class WsTransport final : public Transport {
 public:
  /// WsTransport attaches to `server`, which must outlive it.
  explicit WsTransport(http::Server& server, WsOptions options = {});
  ~WsTransport() override;
  WsTransport(const WsTransport&) = delete;
  WsTransport& operator=(const WsTransport&) = delete;

  std::string_view name() const override { return "ws"; }
  void start(Sink& sink) override;
  void stop() override;
  void publish(std::string_view room, const Message& message) override;
  TransportStats stats() const override;

  /// url_template returns ws://host:port{prefix}{room} (wss:// with TLS).
  std::string url_template() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickcast::ws
