#pragma once
// StopSignals: an app's main thread waits for SIGINT or SIGTERM instead of polling a flag
// that a handler sets.
#include <chrono>
#include <csignal>

namespace tickcast {

/// StopSignals blocks SIGINT and SIGTERM in the calling thread, and so in every thread it
/// starts afterwards: make it first in main(), before any thread. SIGPIPE is ignored (a
/// client that goes away is an error on its socket, not the end of the process).
class StopSignals {
 public:
  StopSignals();
  /// ~StopSignals unblocks the two signals.
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// wait returns the signal that arrived (SIGINT or SIGTERM).
  int wait();
  /// wait_for returns true when one arrived within `timeout`, false when it ran out.
  bool wait_for(std::chrono::milliseconds timeout);

 private:
  sigset_t signals_{};
};

}  // namespace tickcast
