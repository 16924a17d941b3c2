#pragma once
// tickcast::httplib: SSE and long-poll mounted on an app's own cpp-httplib server, for apps
// that already run one. (The Pomodoro REST API is tickcast::RestApi, in the app layer.) Same wire
// format as tickcast::sse and tickcast::longpoll, different I/O model: cpp-httplib's I/O is
// blocking, so every open SSE stream and every parked long-poll holds one of the server's worker
// threads for as long as it lasts. Size the pool on purpose (httplib::Server::new_task_queue) and
// keep max_clients below it; see docs/embedding.md for the measured cost.
//
// This header does not include httplib.h. Note that inside `namespace tickcast` (or with
// `using namespace tickcast;`) the name `httplib` means tickcast::httplib: write
// `::httplib::Server` for cpp-httplib's server there.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tickcast/transport/failure.h"
#include "tickcast/transport/transport.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tickcast::httplib {

/// HttplibOptions configures the routes mounted on the app's server and their limits.
struct HttplibOptions {
  std::string name = "sse-httplib";          ///< name(): the transport's label in stats/metrics
  std::string sse_prefix = "/sse/rooms/";    ///< SSE streams at {prefix}{room}; "" mounts none
  std::string poll_prefix = "/poll/rooms/";  ///< long-polls at {prefix}{room}; "" mounts none
  /// max_clients bounds open streams plus parked polls (beyond: 503 + Retry-After). Each
  /// holds a worker thread: keep it below the server's pool size, with room for REST.
  std::size_t max_clients = 6;
  std::size_t max_queue = 256;             ///< messages queued per stream before ticks drop
  std::chrono::seconds heartbeat{15};      ///< an SSE comment line at least this often
  std::chrono::milliseconds retry{2000};   ///< the `retry:` sent once to EventSource
  std::chrono::seconds stuck_timeout{30};  ///< a stream not drained for this long is closed
  std::chrono::milliseconds default_timeout{25000};  ///< long-poll timeout_ms when absent
  std::chrono::milliseconds max_timeout{60000};      ///< larger timeout_ms gets 400
  std::size_t max_batch = 1024;                      ///< events per long-poll answer at most
  /// wake_interval: a blocked stream wakes this often to notice the server stopping.
  std::chrono::milliseconds wake_interval{1000};
  std::string event_name = "timer";  ///< the `event:` field of every SSE event
  /// failure_body renders the JSON body of every error answer (the app's wire shape);
  /// empty: generic_failure_body.
  FailureEncoder failure_body;
};

/// HttplibTransport serves SSE (`GET {sse_prefix}{room}`: `id: {seq}`, `event: {event_name}`,
/// `data: {json}`, Last-Event-ID resume, heartbeats) and long-poll (`GET
/// {poll_prefix}{room}?since=&timeout_ms=` -> `{"events":[...],"next":SEQ}`) on an app's
/// httplib::Server, with the same answers and errors as tickcast::sse and tickcast::longpoll.
/// Threads: construct before server.listen() (it registers routes, which cpp-httplib does
/// not allow later); start()/stop() from the owning thread; publish() and stats() from any
/// thread (publish takes a mutex briefly and never waits for a client). Sink calls come from
/// the server's worker threads. Call stop() before server.stop(), or streams end only
/// within wake_interval of it.
class HttplibTransport final : public Transport {
 public:
  /// HttplibTransport mounts its routes on `server`, which must outlive it. Until start(),
  /// and after stop(), they answer 503.
  explicit HttplibTransport(::httplib::Server& server, HttplibOptions options = {});
  /// ~HttplibTransport stops the transport; the routes stay mounted and answer 503.
  ~HttplibTransport() override;
  HttplibTransport(const HttplibTransport&) = delete;
  HttplibTransport& operator=(const HttplibTransport&) = delete;

  /// name returns HttplibOptions::name ("sse-httplib" by default).
  std::string_view name() const override;
  /// start lets clients in; joins and resumes go to `sink`, which must outlive stop().
  void start(Sink& sink) override;
  /// stop ends every stream and parked poll and waits (2 s at most) for their threads to
  /// let go. Idempotent.
  void stop() override;
  /// publish queues `message` for every joined client of `room`. Any thread; never blocks
  /// on a client.
  void publish(std::string_view room, const Message& message) override;
  /// stats returns the counters (clients = open streams + parked polls). Any thread.
  TransportStats stats() const override;

  struct Impl;  ///< internal (pimpl)

 private:
  std::shared_ptr<Impl> impl_;  // shared with the routes and clients, which may outlive us
};

/// require_host makes every route of `server` answer an HTTP/1.1 request that has no Host
/// header with 400 and the body `failure_body` renders (RFC 9112 3.2), before routing. It is
/// the server's pre-routing handler: an app that needs its own calls this check from it.
void require_host(::httplib::Server& server, FailureEncoder failure_body = {});

}  // namespace tickcast::httplib
