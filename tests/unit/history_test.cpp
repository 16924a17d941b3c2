#include "tickcast/transport/history.h"

#include <gtest/gtest.h>

namespace tickcast {
namespace {

History filled(std::size_t capacity, std::uint64_t last) {
  History history(capacity);
  for (std::uint64_t seq = 1; seq <= last; ++seq) {
    history.append(Message{seq, make_payload(std::to_string(seq)), false});
  }
  return history;
}

TEST(History, ReturnsExactlyTheMissedMessagesInOrder) {
  const History history = filled(8, 5);
  const auto missed = history.after(2);
  ASSERT_TRUE(missed);
  ASSERT_EQ(missed->size(), 3u);
  EXPECT_EQ((*missed)[0].seq, 3u);
  EXPECT_EQ(*(*missed)[2].payload, "5");
  EXPECT_TRUE(history.after(5)->empty());
  EXPECT_EQ(history.after(0)->size(), 5u);
}

TEST(History, SaysWhenMessagesHaveLeftTheRing) {
  const History history = filled(4, 10);
  EXPECT_EQ(history.size(), 4u);
  EXPECT_FALSE(history.after(5)) << "6 is gone";
  ASSERT_TRUE(history.after(6));
  EXPECT_EQ(history.after(6)->front().seq, 7u);
  EXPECT_EQ(history.last_seq(), 10u);
}

}  // namespace
}  // namespace tickcast

namespace tickcast {
namespace {

TEST(History, PositionsOfAnotherHistoryAreNotResumable) {
  History history(4);
  history.reset(1000);
  EXPECT_TRUE(history.after(1000)->empty()) << "the base is this history's first position";
  EXPECT_FALSE(history.after(999)) << "below the base: an older history";
  EXPECT_FALSE(history.after(1001)) << "ahead of the room";
  for (std::uint64_t seq = 1001; seq <= 1003; ++seq) {
    history.append(Message{seq, make_payload(std::to_string(seq)), false});
  }
  EXPECT_EQ(history.first_position(), 1000u);
  EXPECT_EQ(history.after(1000)->size(), 3u);
  EXPECT_FALSE(history.after(5)) << "a small number from an earlier lifetime";
  EXPECT_FALSE(history.after(1004));
  history.reset(5000);
  EXPECT_EQ(history.size(), 0u);
  EXPECT_EQ(history.last_seq(), 5000u);
  EXPECT_FALSE(history.after(1003));
}

}  // namespace
}  // namespace tickcast

namespace tickcast {
namespace {

TEST(History, NumbersThatSkipResumeFromAnyPositionStillCovered) {
  History history(3);
  history.reset(9);  // a backplane numbering every room in one sequence: this room's share
  for (std::uint64_t seq : {10, 14, 15, 21}) {
    history.append(Message{seq, make_payload(std::to_string(seq)), false});
  }
  EXPECT_EQ(history.first_position(), 10u) << "10 left the ring: positions below it are gone";
  EXPECT_FALSE(history.after(9));
  ASSERT_TRUE(history.after(10));
  EXPECT_EQ(history.after(10)->size(), 3u);
  ASSERT_TRUE(history.after(14));
  ASSERT_EQ(history.after(14)->size(), 2u);
  EXPECT_EQ(history.after(14)->front().seq, 15u);
  EXPECT_EQ(history.after(17)->front().seq, 21u) << "a number of another room: what follows it";
  EXPECT_TRUE(history.after(21)->empty());
  EXPECT_FALSE(history.after(22));
}

}  // namespace
}  // namespace tickcast
