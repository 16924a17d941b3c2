#pragma once

#include <atomic>

#include "tickcast/core/clock.h"

namespace tickcast::testing {

/// FakeClock only moves when a test advances it.
class FakeClock final : public Clock {
 public:
  MonotonicTime now() const override {
    return MonotonicTime(std::chrono::nanoseconds(now_ns_.load()));
  }
  std::int64_t wall_time_us() const override {
    return 1'764'000'000'000'000 + wall_shift_us_.load() + now_ns_.load() / 1000;
  }
  void advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }
  void set(MonotonicTime t) { now_ns_ = t.time_since_epoch().count(); }
  /// shift_wall moves wall time alone, as a restarted process sees it (its monotonic clock
  /// starts anew while wall time went on) or as an NTP step would.
  void shift_wall(std::chrono::microseconds by) { wall_shift_us_ += by.count(); }

 private:
  std::atomic<long long> now_ns_{1'000'000'000};
  std::atomic<long long> wall_shift_us_{0};
};

}  // namespace tickcast::testing
