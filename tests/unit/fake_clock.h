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
    return 1'764'000'000'000'000 + now_ns_.load() / 1000;
  }
  void advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }
  void set(MonotonicTime t) { now_ns_ = t.time_since_epoch().count(); }

 private:
  std::atomic<long long> now_ns_{1'000'000'000};
};

}  // namespace tickcast::testing
