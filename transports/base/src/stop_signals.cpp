#include "tickcast/transport/stop_signals.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace tickcast {

StopSignals::StopSignals() {
  // A shell starts background jobs with SIGINT ignored, and an ignored signal is discarded
  // before sigwait can take it: the defaults come back first.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGPIPE, SIG_IGN);
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

StopSignals::~StopSignals() { pthread_sigmask(SIG_UNBLOCK, &signals_, nullptr); }

int StopSignals::wait() {
  int signal_number = 0;
  while (sigwait(&signals_, &signal_number) != 0) {
  }
  return signal_number;
}

bool StopSignals::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec wait{.tv_sec = seconds.count(),
                        .tv_nsec = std::chrono::nanoseconds(left - seconds).count()};
    if (sigtimedwait(&signals_, nullptr, &wait) >= 0) return true;
    if (errno != EINTR) return false;  // EAGAIN: the time ran out
  }
}

}  // namespace tickcast
