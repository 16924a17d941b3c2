#pragma once
// Internal API between the public port (tickcast::http) and the transports that share its
// libwebsockets service loop (ws, sse, longpoll, socketio). Not installed; includes
// libwebsockets.

#include <libwebsockets.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "tickcast/http/internal/deadlines.h"
#include "tickcast/http/server.h"
#include "tickcast/transport/failure.h"

namespace tickcast::http::internal {

/// After is what the loop does with a connection once a Session callback returns.
enum class After {
  keep,      ///< keep the connection and the session
  close,     ///< close the connection (set a WebSocket close reason first)
  complete,  ///< the session wrote a whole HTTP response: it is released (on_closed) and
             ///< the connection goes back to keep-alive
};

/// Session is one long-lived connection (a WebSocket, an SSE stream, a parked poll),
/// owned by the endpoint that opened it. Threads: every method runs on the service thread.
class Session {
 public:
  virtual ~Session() = default;
  /// on_writable writes what is queued.
  virtual After on_writable(lws* wsi) = 0;
  /// writes_outside_callbacks: on_writable may run outside lws's WRITEABLE callback now
  /// (Loop::write_now), for a session that only writes frames (no headers to send, not
  /// closing), or a whole response in one write (a long-poll's answer, which returns
  /// complete: see Loop::write_now).
  virtual bool writes_outside_callbacks() const { return false; }
  /// on_timer runs when the timer set with Loop::set_timer falls due. It runs outside the
  /// connection's own callbacks: it may queue data and ask for a writable callback, and
  /// After::close closes the connection (at its next writable callback); After::complete
  /// is not allowed here.
  virtual After on_timer(lws* wsi) {
    (void)wsi;
    return After::keep;
  }
  /// on_pong runs when a WebSocket pong arrives.
  virtual void on_pong(lws* wsi) { (void)wsi; }
  /// on_receive gets WebSocket data; false closes the connection (set the reason first).
  virtual bool on_receive(lws* wsi, const void* data, std::size_t len) {
    (void)wsi, (void)data, (void)len;
    return true;
  }
  /// on_closed: the connection is gone; the loop never uses the Session after this.
  virtual void on_closed() = 0;
};

/// WebSocketEndpoint accepts WebSocket upgrades under a path prefix.
class WebSocketEndpoint {
 public:
  virtual ~WebSocketEndpoint() = default;
  /// check_upgrade refuses an upgrade with an error (sent with its HTTP status) or accepts it.
  virtual std::optional<Failure> check_upgrade(const Request& request) = 0;
  /// open creates the session of an established connection.
  virtual Session* open(lws* wsi, const Request& request) = 0;
};

/// StreamEndpoint takes over HTTP requests whose response outlives the callback (SSE, polls).
class StreamEndpoint {
 public:
  virtual ~StreamEndpoint() = default;
  /// open returns the session that will write the response, or a response to send now.
  virtual std::variant<Session*, Response> open(lws* wsi, const Request& request) = 0;
};

/// Loop is the libwebsockets context, its service thread and the per-connection state.
/// Threads: post(), run_sync() and stopped() from any thread; everything else on the
/// service thread only (inside a posted task or a Session/endpoint callback).
class Loop : public std::enable_shared_from_this<Loop> {
 public:
  explicit Loop(ServerOptions options);
  ~Loop();

  // -- any thread
  /// post runs `task` on the service thread soon; dropped once the loop has stopped.
  void post(std::function<void()> task);
  /// run_sync runs `task` on the service thread and waits for it; inline when not running.
  void run_sync(const std::function<void()>& task);

  // -- owner (Server); route() from any thread
  void route(std::string method, std::string_view pattern, Handler handler);
  void start();
  void stop();
  int port() const { return port_; }
  /// reload_tls: see Server::reload_tls. Reads the files on the calling thread and
  /// installs them on the service thread.
  std::string reload_tls();
  /// set_tls_context records the listener's SSL_CTX (from the lws callback that reports it).
  void set_tls_context(void* ssl_ctx) { ssl_ctx_ = ssl_ctx; }

  // -- service thread (or before start)
  void add_websocket_endpoint(std::string prefix, WebSocketEndpoint* endpoint);
  void add_stream_endpoint(std::string method, std::string_view pattern, StreamEndpoint* endpoint);
  void remove_endpoint(const void* endpoint);
  /// SweepClock is the clock of sweep tasks (wall time: token expiry is wall time).
  using SweepClock = auth::Clock;
  /// add_sweep runs `task` on the service thread about once a second, from one loop-wide
  /// timer (lws 4.1 keeps timers in one sorted list: no timer per connection or room).
  /// Transports use it to close clients whose token has expired, long-poll to drop rings.
  void add_sweep(const void* owner, std::function<void(SweepClock::time_point)> task);
  /// remove_sweep drops the tasks of `owner`.
  void remove_sweep(const void* owner);
  /// respond completes the exchange `id` with `response` (from Responder).
  void respond(std::uint64_t id, Response response);
  /// origin_allowed tells whether a request's Origin (if any) may use this server.
  bool origin_allowed(const Request& request) const;
  /// cors_headers adds Access-Control-Allow-Origin for an allowed cross-origin request.
  void add_cors_headers(const Request& request, Response& response) const;
  /// write_now writes a session's queue at once, as its WRITEABLE callback would, when
  /// the connection is plain HTTP/1 (no TLS, not an HTTP/2 stream), lws holds nothing of
  /// its own to send on it (lws_partial_buffered) and the session
  /// writes_outside_callbacks(); otherwise it asks for the callback. For a fan-out (one
  /// event to every client of a room) this saves a loop round and its poll() over every
  /// descriptor. Not from inside `wsi`'s own callbacks. A write the kernel does not take
  /// whole is kept by lws, and the session's next events wait for the callback again. A
  /// session that wrote its whole response (After::complete) has it on the wire now, and
  /// its transaction ends in the connection's next writable callback (ended outside, lws
  /// 4.1 left the connection's next request unread: a busy loop).
  void write_now(lws* wsi);
  /// set_timer makes the loop call the session's on_timer() once, `after` from now (late by
  /// at most kTimerResolution, or a tenth of `after` and at most 1 s: see timer_grid),
  /// replacing the timer set before on this connection. O(1) for the usual fixed delay; no
  /// libwebsockets timer per connection (see Deadlines).
  void set_timer(lws* wsi, std::chrono::steady_clock::duration after);
  /// cancel_timer drops the connection's timer, if any. O(1).
  void cancel_timer(lws* wsi);
  /// kTimerResolution is how late a set_timer() may fire: the width of a Deadlines bucket.
  static constexpr std::chrono::milliseconds kTimerResolution{50};
  /// timer_grid is what a deadline `after` from now is rounded up to a multiple of: 1 s
  /// from 10 s on, 250 ms from 2.5 s on, else kTimerResolution. The keepalive pings, SSE
  /// heartbeats and idle closes of thousands of connections then fall due together, one
  /// wake-up of the loop a second, instead of one every kTimerResolution: with poll(),
  /// every wake-up costs a pass over all descriptors.
  static std::chrono::steady_clock::duration timer_grid(std::chrono::steady_clock::duration after);

  /// schedule runs cb(sul) once, `us` from now, on the service thread (replacing what was
  /// scheduled for `sul`): lws_sul_schedule() on poll, a libev timer of ours on libev
  /// (ForeignLoop::schedule says why). Every timer tickcast sets on the loop goes through
  /// it. Threads: the service thread (or before start).
  void schedule(lws_sorted_usec_list_t* sul, sul_cb_t cb, lws_usec_t us);
  /// cancel drops what schedule() set for `sul`, if anything.
  void cancel(lws_sorted_usec_list_t* sul) { schedule(sul, nullptr, LWS_SET_TIMER_USEC_CANCEL); }
  /// close_soon closes `wsi` on the loop's next round, from outside its callbacks, as lws
  /// closes a connection that failed a timeout (LWS_TO_KILL_ASYNC): at once, without a
  /// close handshake. Threads: the service thread.
  static void close_soon(lws* wsi);

  /// write_response writes a complete short response on an HTTP/1.1 `wsi` in one go; false
  /// on failure (and on an HTTP/2 stream, which needs a ResponseWriter across callbacks).
  static bool write_response(lws* wsi, const Response& response);
  const ServerOptions& options() const { return options_; }
  /// failure returns the response to a failure, in the app's shape (ServerOptions::failure_body).
  Response failure(FailureCode code, std::string reason, std::string_view request = {}) const {
    return failure_response(Failure{code, std::move(reason)}, options_.failure_body, request);
  }

  /// callback is the libwebsockets protocol callback (public for the C protocol table).
  int callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);

 private:
  struct Exchange;
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    StreamEndpoint* stream = nullptr;
  };

  Exchange& exchange_of(lws* wsi);
  static Exchange* live_exchange(lws* wsi);  ///< the exchange of a wsi in its callback
  std::string peer_of(lws* wsi);
  void forget(lws* wsi);
  int on_http(lws* wsi, Exchange& exchange);
  int dispatch(lws* wsi, Exchange& exchange);
  int on_confirm_upgrade(lws* wsi);
  int on_http_writable(lws* wsi, Exchange& exchange);
  int after_session(lws* wsi, Exchange& exchange, After after);
  int complete_transaction(lws* wsi, Exchange& exchange);
  void watch_stream(lws* wsi, Exchange& exchange);
  void unwatch_stream(Exchange& exchange);
  void on_stream_readable(Exchange& exchange);
  static bool client_spoke(lws* wsi);
  void end_stream(lws* wsi, std::uint64_t id);
  void probe_streams();
  void arm_loop_timer();
  void run_due_timers();
  static void on_loop_timer(lws_sorted_usec_list_t* sul);
  void schedule_sweep();
  static void on_sweep(lws_sorted_usec_list_t* sul);
  void run_posted();
  bool read_request(lws* wsi, Request& request, bool websocket);
  WebSocketEndpoint* websocket_endpoint_for(const std::string& path) const;
  void serve_static(const Request& request, Response& response) const;

  ServerOptions options_;
  std::vector<Route> routes_;
  std::vector<std::pair<std::string, WebSocketEndpoint*>> websocket_endpoints_;
  std::unordered_map<lws*, std::unique_ptr<Exchange>> by_wsi_;
  std::unordered_map<std::uint64_t, Exchange*> by_id_;
  std::uint64_t next_id_ = 1;

  std::unique_ptr<class ForeignLoop> event_loop_;  // libev; none for poll
  lws_context* context_ = nullptr;
  struct SweepTimer {
    lws_sorted_usec_list_t sul;  // first: the lws callback gets its address
    Loop* loop;
  } sweep_timer_{{}, this};
  std::vector<std::pair<const void*, std::function<void(auth::Clock::time_point)>>> sweeps_;
  void* ssl_ctx_ = nullptr;  // the listener's SSL_CTX, with TLS
  std::vector<lws_protocols> protocols_;
  lws_retry_bo_t retry_{};

  // The loop's one libwebsockets timer, armed for the earliest of timers_. The sul comes
  // first so that the callback can get back to the Loop from its address.
  struct LoopTimer {
    lws_sorted_usec_list_t sul{};
    Loop* loop = nullptr;
  };
  struct TimerKey {
    lws* wsi;
    std::uint64_t id;  // the Exchange's timer_id when set; a stale key matches none
  };
  LoopTimer loop_timer_;
  std::optional<std::chrono::steady_clock::time_point> loop_timer_at_;
  bool running_timers_ = false;
  Deadlines<TimerKey> timers_{kTimerResolution};
  std::uint64_t next_timer_id_ = 1;
  int port_ = 0;
  std::thread thread_;
  std::thread::id service_thread_id_;

  std::mutex mutex_;  // guards posted_, running_, stopping_
  std::vector<std::function<void()>> posted_;
  bool running_ = false;
  bool stopping_ = false;
};

/// is_http2_stream tells whether `wsi` is a stream of an HTTP/2 connection (whose headers
/// go out as their own HEADERS frame, written with LWS_WRITE_HTTP_HEADERS).
inline bool is_http2_stream(lws* wsi) { return lws_get_network_wsi(wsi) != wsi; }

/// loop_of returns the Loop that owns `wsi`.
Loop& loop_of(lws* wsi);

}  // namespace tickcast::http::internal
