#pragma once
// Clocks the core reads time from. Injected so tests can run a Pomodoro day in milliseconds.

#include <chrono>
#include <cstdint>

namespace tickcast {

/// MonotonicTime is a point on the monotonic clock; deadlines are kept in it.
using MonotonicTime = std::chrono::steady_clock::time_point;

/// Clock gives monotonic time (for deadlines) and wall time (for server_time_us).
/// Threads: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  /// now returns the monotonic time.
  virtual MonotonicTime now() const = 0;
  /// wall_time_us returns microseconds since the Unix epoch.
  virtual std::int64_t wall_time_us() const = 0;
};

/// SystemClock reads std::chrono::steady_clock and system_clock.
class SystemClock final : public Clock {
 public:
  MonotonicTime now() const override { return std::chrono::steady_clock::now(); }
  std::int64_t wall_time_us() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace tickcast
