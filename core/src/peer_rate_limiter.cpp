#include "peer_rate_limiter.h"

#include <algorithm>
#include <chrono>

namespace tickcast::detail {

namespace {
constexpr std::size_t kMinSweep = 1024;
}

PeerRateLimiter::PeerRateLimiter(double per_minute, double burst)
    : per_second_(per_minute / 60.0), burst_(std::max(1.0, burst)), sweep_at_(kMinSweep) {}

double PeerRateLimiter::refill(const Bucket& bucket, MonotonicTime now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.at).count();
  return std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * per_second_);
}

bool PeerRateLimiter::take(std::string_view peer, MonotonicTime now) {
  if (per_second_ <= 0 || peer.empty()) return true;
  if (buckets_.size() >= sweep_at_) sweep(now);
  auto [it, fresh] = buckets_.try_emplace(std::string(peer), Bucket{burst_, now});
  Bucket& bucket = it->second;
  if (!fresh) bucket = Bucket{refill(bucket, now), now};
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

// A full bucket is the same as no bucket: dropping those bounds the map by the peers
// seen lately. Sweeping only when the map has doubled keeps take() O(1) amortised.
void PeerRateLimiter::sweep(MonotonicTime now) {
  std::erase_if(buckets_, [&](const auto& entry) { return refill(entry.second, now) >= burst_; });
  sweep_at_ = std::max(kMinSweep, buckets_.size() * 2);
}

}  // namespace tickcast::detail
