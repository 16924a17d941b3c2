#include "peer_rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

#include "fake_clock.h"

namespace tickcast::detail {
namespace {

using namespace std::chrono_literals;

TEST(PeerRateLimiter, ABurstThenTheRate) {
  testing::FakeClock clock;
  PeerRateLimiter limiter(60, 2);  // one a second after two at once
  EXPECT_TRUE(limiter.take("a", clock.now()));
  EXPECT_TRUE(limiter.take("a", clock.now()));
  EXPECT_FALSE(limiter.take("a", clock.now()));
  EXPECT_TRUE(limiter.take("b", clock.now())) << "every peer has its own bucket";
  clock.advance(500ms);
  EXPECT_FALSE(limiter.take("a", clock.now()));
  clock.advance(500ms);
  EXPECT_TRUE(limiter.take("a", clock.now()));
  EXPECT_TRUE(limiter.take("", clock.now())) << "an unknown peer is not limited";
  PeerRateLimiter off(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.take("a", clock.now()));
}

TEST(PeerRateLimiter, ForgetsPeersWhoseBucketsHaveRefilled) {
  testing::FakeClock clock;
  PeerRateLimiter limiter(60, 5);
  for (int i = 0; i < 5000; ++i) limiter.take("10.0." + std::to_string(i), clock.now());
  EXPECT_GE(limiter.peers(), 4000u);
  clock.advance(10s);  // every bucket is full again
  for (int i = 0; i < 5000; ++i) limiter.take("10.1." + std::to_string(i), clock.now());
  EXPECT_LT(limiter.peers(), 6000u) << "the first 5000 were dropped, not kept forever";
}

}  // namespace
}  // namespace tickcast::detail
