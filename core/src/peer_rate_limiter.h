#pragma once
// A token bucket per client address, for how fast one peer may create rooms.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tickcast/core/clock.h"

namespace tickcast::detail {

/// PeerRateLimiter gives each peer a bucket of `burst` tokens that refills at
/// `per_minute`; take() spends one. Buckets that have refilled are forgotten, so memory
/// follows the peers active in the last burst/rate minutes, not every peer ever seen.
/// Not thread-safe: owned by the Hub's strand.
class PeerRateLimiter {
 public:
  /// PeerRateLimiter with per_minute <= 0 lets everything through.
  PeerRateLimiter(double per_minute, double burst);

  /// take spends one of `peer`'s tokens: false when it has none left. An empty peer
  /// (unknown address: in-process callers) always passes.
  bool take(std::string_view peer, MonotonicTime now);

  /// peers counts the buckets kept now (for tests of the memory bound).
  std::size_t peers() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    MonotonicTime at;
  };
  double refill(const Bucket& bucket, MonotonicTime now) const;
  void sweep(MonotonicTime now);

  double per_second_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::size_t sweep_at_;
};

}  // namespace tickcast::detail
