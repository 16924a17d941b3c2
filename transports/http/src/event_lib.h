#pragma once
// The event loop libwebsockets runs on: its own poll() loop, or a libev loop that we own
// and hand to it (a "foreign" loop).

#include <ev.h>
#include <libwebsockets.h>

#include <memory>
#include <unordered_map>

#include "tickcast/http/server.h"

namespace tickcast::http::internal {

/// ReadWatch calls on_readable(context) whenever a descriptor is readable, from a libev
/// watcher of ours beside lws's own on that descriptor, until the ReadWatch goes. The
/// callback must not destroy its ReadWatch. A plain function and pointer, not a
/// std::function: one is held per connection. Threads: the service thread.
class ReadWatch {
 public:
  using Callback = void (*)(void* context);
  ReadWatch(struct ev_loop* loop, int fd, Callback on_readable, void* context);
  ~ReadWatch();
  ReadWatch(const ReadWatch&) = delete;
  ReadWatch& operator=(const ReadWatch&) = delete;

 private:
  static void on_io(struct ev_loop* loop, ev_io* watcher, int events);

  struct ev_loop* loop_;
  ev_io watcher_{};  // its data points back here
  Callback on_readable_;
  void* context_;
};

/// ForeignLoop owns the libev loop the lws context runs on (nothing for poll).
///
/// Why: lws 4.1's own loop calls poll() on every descriptor each round, O(N) per round;
/// libev uses epoll, O(ready descriptors) (see EventLib for what that costs instead). The
/// loop is ours rather than one lws creates, so that lws installs no signal handler (an
/// lws-made libev loop takes SIGINT) and so that stop() can end it: on an event library
/// lws_service() runs the loop until break_loop().
///
/// Order: construct; lws_create_context with lws_option() and foreign_loops(); run
/// lws_service() on the service thread; break_loop() there; lws_context_destroy() once the
/// service thread is done; then destroy this.
/// Threads: schedule() and break_loop() on the service thread (or before it runs); the
/// rest on the owner's.
class ForeignLoop {
 public:
  explicit ForeignLoop(EventLib lib);
  ~ForeignLoop();
  ForeignLoop(const ForeignLoop&) = delete;
  ForeignLoop& operator=(const ForeignLoop&) = delete;

  /// lws_option is the LWS_SERVER_OPTION_* bit that selects the event library.
  unsigned long long lws_option() const;
  /// foreign_loops is info.foreign_loops (one loop, for one service thread), or nullptr.
  void** foreign_loops();
  /// libev tells whether lws runs on the libev loop (not its own poll()).
  bool libev() const { return loop_ != nullptr; }
  /// schedule runs cb(sul) once, `us` from now, from a libev timer of ours (replacing what
  /// was scheduled for `sul`; LWS_SET_TIMER_USEC_CANCEL cancels it). False for poll, whose
  /// caller uses lws_sul_schedule() instead.
  ///
  /// Why not lws_sul on libev: lws 4.1's libev plugin keeps one ev_timer for all its suls
  /// and re-arms it with ev_timer_start(), which does nothing while that timer is still
  /// pending, so a sul due earlier waits for the next I/O or for that timer (measured: a
  /// 1 s keepalive ping waited for lws's own 30 s check). And it runs the due suls from an
  /// ev_idle watcher, which libev starves while any descriptor stays readable: an SSE
  /// client that closed its end (lws does not read a stream mid-response) stopped every
  /// timer of the loop, its heartbeat too, so nothing ever wrote to it and noticed.
  bool schedule(lws_sorted_usec_list_t* sul, sul_cb_t cb, lws_usec_t us);
  /// pace_lws keeps lws's own timer waking at least every second, from lws_create_context
  /// to stop_pacing() (before lws_context_destroy); a no-op for poll.
  ///
  /// Why: lws schedules its own timeouts (a request's headers, a close handshake) as suls
  /// on that timer, which may sleep past them (schedule() says why): measured, a socket
  /// that sent nothing was closed after 29 s instead of --header-timeout 2. A sul of ours
  /// due every second makes that timer fire, and re-arm for the earliest sul, each second;
  /// so lws's timeouts are at most a second late, and a timer's wake-up is not starved.
  void pace_lws(lws_context* context);
  void stop_pacing();
  /// watch_readable: a ReadWatch of `fd` on the libev loop; nullptr for poll.
  std::unique_ptr<ReadWatch> watch_readable(int fd, ReadWatch::Callback on_readable, void* context);
  /// break_loop makes lws_service() return; a no-op for poll.
  void break_loop();

 private:
  struct Timer {
    ev_timer watcher;  // its data points back here
    lws_sorted_usec_list_t* sul;
    sul_cb_t cb;
  };
  static void on_timer(struct ev_loop* loop, ev_timer* watcher, int events);
  struct Pacer {
    lws_sorted_usec_list_t sul;  // first: the lws callback gets its address
    lws_context* context;
  };
  static void on_pace(lws_sorted_usec_list_t* sul);

  EventLib lib_;
  struct ev_loop* loop_ = nullptr;
  void* loops_[1] = {nullptr};
  std::unordered_map<lws_sorted_usec_list_t*, std::unique_ptr<Timer>> timers_;
  Pacer pacer_{};
};

}  // namespace tickcast::http::internal
