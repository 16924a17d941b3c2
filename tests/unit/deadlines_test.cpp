#include "tickcast/http/internal/deadlines.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tickcast::http::internal {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(Deadlines, AKeyIsDueAtTheEndOfItsBucketNeverBefore) {
  Deadlines<int> deadlines(50ms);
  const Clock::time_point at(1000ms + 10ms);  // inside the bucket ending at 1050 ms
  deadlines.add(at, 7);
  ASSERT_TRUE(deadlines.next());
  EXPECT_EQ(*deadlines.next(), Clock::time_point(1050ms));
  EXPECT_TRUE(deadlines.take_due(at).empty()) << "due at the bucket's end, not before";
  EXPECT_TRUE(deadlines.take_due(Clock::time_point(1049ms)).empty());
  EXPECT_EQ(deadlines.take_due(Clock::time_point(1050ms)), std::vector<int>{7});
  EXPECT_TRUE(deadlines.empty());
  EXPECT_FALSE(deadlines.next());
}

TEST(Deadlines, ADeadlineOnABucketEdgeIsNotDelayed) {
  Deadlines<int> deadlines(50ms);
  deadlines.add(Clock::time_point(1000ms), 1);
  EXPECT_EQ(*deadlines.next(), Clock::time_point(1000ms));
}

TEST(Deadlines, KeysComeOutEarliestBucketFirstWhateverTheOrderAdded) {
  Deadlines<int> deadlines(10ms);
  deadlines.add(Clock::time_point(300ms), 3);
  deadlines.add(Clock::time_point(100ms), 1);
  deadlines.add(Clock::time_point(200ms), 2);
  deadlines.add(Clock::time_point(105ms), 11);  // same bucket as 1, after it
  EXPECT_EQ(deadlines.size(), 4u);
  EXPECT_EQ(*deadlines.next(), Clock::time_point(100ms));
  EXPECT_EQ(deadlines.take_due(Clock::time_point(250ms)), (std::vector<int>{1, 11, 2}));
  EXPECT_EQ(deadlines.size(), 1u);
  EXPECT_EQ(*deadlines.next(), Clock::time_point(300ms));
}

TEST(Deadlines, KeysAddedWhileTakingGoToTheirOwnBucket) {
  Deadlines<std::uint64_t> deadlines(1ms);
  deadlines.add(Clock::time_point(5ms), 1);
  for (std::uint64_t key : deadlines.take_due(Clock::time_point(5ms))) {
    deadlines.add(Clock::time_point(5ms + 20ms * key), key + 1);  // a re-armed timer
  }
  EXPECT_EQ(*deadlines.next(), Clock::time_point(25ms));
  EXPECT_EQ(deadlines.take_due(Clock::time_point(25ms)), std::vector<std::uint64_t>{2});
}

}  // namespace
}  // namespace tickcast::http::internal
