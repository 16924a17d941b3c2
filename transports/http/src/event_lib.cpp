#include "event_lib.h"

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
  if (!loop_) return;
  for (auto& [sul, timer] : timers_) ev_timer_stop(loop_, &timer->watcher);
  ev_loop_destroy(loop_);
}

unsigned long long ForeignLoop::lws_option() const {
  return lib_ == EventLib::libev ? LWS_SERVER_OPTION_LIBEV : 0;
}

void** ForeignLoop::foreign_loops() { return loop_ ? loops_ : nullptr; }

bool ForeignLoop::schedule(lws_sorted_usec_list_t* sul, sul_cb_t cb, lws_usec_t us) {
  if (!loop_) return false;
  if (us == LWS_SET_TIMER_USEC_CANCEL) {
    // Forgotten, not just stopped: the sul's owner may go before this loop does.
    if (auto it = timers_.find(sul); it != timers_.end()) {
      ev_timer_stop(loop_, &it->second->watcher);
      timers_.erase(it);
    }
    return true;
  }
  auto& timer = timers_[sul];
  if (!timer) {
    timer = std::make_unique<Timer>();
    ev_init(&timer->watcher, &ForeignLoop::on_timer);
    timer->watcher.data = timer.get();
    timer->sul = sul;
  }
  ev_timer_stop(loop_, &timer->watcher);
  timer->cb = cb;
  ev_now_update(loop_);  // `us` counts from now, not from the loop's last wake-up
  ev_timer_set(&timer->watcher, static_cast<ev_tstamp>(us) / 1e6, 0.);
  ev_timer_start(loop_, &timer->watcher);
  return true;
}

void ForeignLoop::on_timer(struct ev_loop* /*loop*/, ev_timer* watcher, int /*events*/) {
  auto* timer = static_cast<Timer*>(watcher->data);
  timer->cb(timer->sul);  // which may schedule it again
}

void ForeignLoop::pace_lws(lws_context* context) {
  if (!loop_) return;
  pacer_.context = context;
  on_pace(&pacer_.sul);
}

void ForeignLoop::stop_pacing() {
  if (pacer_.context) lws_sul_cancel(&pacer_.sul);
  pacer_.context = nullptr;
}

void ForeignLoop::on_pace(lws_sorted_usec_list_t* sul) {
  // Pacer is standard-layout with the sul first.
  auto* pacer = reinterpret_cast<Pacer*>(sul);
  lws_sul_schedule(pacer->context, 0, &pacer->sul, &ForeignLoop::on_pace, LWS_US_PER_SEC);
}

std::unique_ptr<ReadWatch> ForeignLoop::watch_readable(int fd, ReadWatch::Callback on_readable,
                                                       void* context) {
  if (!loop_) return nullptr;
  return std::make_unique<ReadWatch>(loop_, fd, on_readable, context);
}

ReadWatch::ReadWatch(struct ev_loop* loop, int fd, Callback on_readable, void* context)
    : loop_(loop), on_readable_(on_readable), context_(context) {
  ev_io_init(&watcher_, &ReadWatch::on_io, fd, EV_READ);
  watcher_.data = this;
  ev_io_start(loop_, &watcher_);
}

ReadWatch::~ReadWatch() { ev_io_stop(loop_, &watcher_); }

void ReadWatch::on_io(struct ev_loop* /*loop*/, ev_io* watcher, int /*events*/) {
  auto* self = static_cast<ReadWatch*>(watcher->data);
  self->on_readable_(self->context_);
}

void ForeignLoop::break_loop() {
  if (loop_) ev_break(loop_, EVBREAK_ALL);
}

}  // namespace tickcast::http::internal
