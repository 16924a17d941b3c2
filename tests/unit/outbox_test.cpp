#include "tickcast/http/internal/outbox.h"

#include <gtest/gtest.h>

namespace tickcast::http::internal {
namespace {

using namespace std::chrono_literals;

Message tick(std::uint64_t seq) { return Message{seq, make_payload("t"), true}; }
Message change(std::uint64_t seq) { return Message{seq, make_payload("c"), false}; }

TEST(Outbox, AFullQueueShedsItsOldestTickNeverAStateChange) {
  Outbox outbox(3, 30s);
  const auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(outbox.push(change(1), now), Outbox::Push::queued);
  EXPECT_EQ(outbox.push(tick(2), now), Outbox::Push::queued);
  EXPECT_EQ(outbox.push(tick(3), now), Outbox::Push::queued);
  EXPECT_EQ(outbox.push(change(4), now), Outbox::Push::queued_dropping_oldest_tick);
  ASSERT_EQ(outbox.size(), 3u);
  EXPECT_EQ(outbox.front().seq, 1u) << "the state change stays";
  outbox.pop(now);
  EXPECT_EQ(outbox.front().seq, 3u) << "tick 2 was the one dropped";
}

TEST(Outbox, AQueueOfStateChangesOnlyMeansAStuckClient) {
  Outbox outbox(2, 30s);
  const auto now = std::chrono::steady_clock::now();
  outbox.push(change(1), now);
  outbox.push(change(2), now);
  EXPECT_EQ(outbox.push(tick(3), now), Outbox::Push::stuck);
  EXPECT_EQ(outbox.size(), 2u);
}

TEST(Outbox, AQueueThatDoesNotDrainForTooLongIsStuck) {
  Outbox outbox(100, 5s);
  const auto start = std::chrono::steady_clock::now();
  outbox.push(tick(1), start);
  EXPECT_EQ(outbox.push(tick(2), start + 4s), Outbox::Push::queued);
  outbox.pop(start + 4s);  // draining resets the clock
  EXPECT_EQ(outbox.push(tick(3), start + 8s), Outbox::Push::queued);
  EXPECT_EQ(outbox.push(tick(4), start + 14s), Outbox::Push::stuck);
}

}  // namespace
}  // namespace tickcast::http::internal
