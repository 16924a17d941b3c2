#include "tickcast/core/history.h"

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
