#include "event_lib.h"

#include <ev.h>
#include <libwebsockets.h>

#include <stdexcept>

namespace tickcast::http::internal {

ForeignLoop::ForeignLoop(EventLib lib) : lib_(lib) {
  if (lib_ == EventLib::libev) {
    // EVFLAG_NOSIGMASK: libev leaves the threads' signal masks alone (the app's to set).
    loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop_) throw std::runtime_error("cannot create a libev loop");
  }
  loops_[0] = loop_;
}

ForeignLoop::~ForeignLoop() {
  if (loop_) ev_loop_destroy(static_cast<struct ev_loop*>(loop_));
}

unsigned long long ForeignLoop::lws_option() const {
  return lib_ == EventLib::libev ? LWS_SERVER_OPTION_LIBEV : 0;
}

void** ForeignLoop::foreign_loops() { return loop_ ? loops_ : nullptr; }

void ForeignLoop::break_loop() {
  if (loop_) ev_break(static_cast<struct ev_loop*>(loop_), EVBREAK_ALL);
}

}  // namespace tickcast::http::internal
