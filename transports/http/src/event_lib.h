#pragma once
// The event loop libwebsockets runs on: its own poll() loop, or a libev loop that we own
// and hand to it (a "foreign" loop).

#include "tickcast/http/server.h"

namespace tickcast::http::internal {

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
/// Threads: break_loop() on the service thread; the rest on the owner's.
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
  /// break_loop makes lws_service() return; a no-op for poll.
  void break_loop();

 private:
  EventLib lib_;
  void* loop_ = nullptr;
  void* loops_[1] = {nullptr};
};

}  // namespace tickcast::http::internal
