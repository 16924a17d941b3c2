#pragma once
// tickcast::sse: Server-Sent Events at GET /sse/rooms/{room}, on the tickcast::http
// listener and its service loop. This header includes no libwebsockets header.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tickcast/http/server.h"
#include "tickcast/transport/transport.h"

namespace tickcast::sse {

/// SseOptions configures the SSE transport.
struct SseOptions {
  std::string path_prefix = "/sse/rooms/";      ///< streams live at {prefix}{room}
  std::size_t max_clients = 10000;              ///< beyond it: 503 with Retry-After
  std::size_t max_queue = 256;                  ///< messages queued per client before ticks drop
  std::chrono::milliseconds heartbeat{15000};   ///< a comment line after this long unwritten
  std::chrono::milliseconds retry{2000};        ///< the `retry:` sent once to EventSource
  std::chrono::seconds stuck_timeout{30};       ///< a client not drained for this long is closed
  std::size_t send_buffer_bytes = 16UL * 1024;  ///< SO_SNDBUF per stream (0: kernel autotuning)
  std::string event_name = "timer";             ///< the `event:` field of every event
};

/// SseTransport streams each room's events as `id: {seq}`, `event: timer`, `data: {json}`.
/// A client reconnecting with Last-Event-ID gets exactly what it missed while the room's
/// history holds it, else a snapshot first. Each stream is a little state on the loop,
/// not a thread. Commands arrive through REST, not here.
/// Threads: construct, start() and stop() on the owning thread while the Server runs;
/// publish() and stats() from any thread.
class SseTransport final : public Transport {
 public:
  /// SseTransport attaches to `server`, which must outlive it.
  explicit SseTransport(http::Server& server, SseOptions options = {});
  ~SseTransport() override;
  SseTransport(const SseTransport&) = delete;
  SseTransport& operator=(const SseTransport&) = delete;

  std::string_view name() const override { return "sse"; }
  void start(Sink& sink) override;
  void stop() override;
  void publish(std::string_view room, const Message& message) override;
  TransportStats stats() const override;

  /// url_template returns http://host:port{prefix}{room}.
  std::string url_template() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickcast::sse
