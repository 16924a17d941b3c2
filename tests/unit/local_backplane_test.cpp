// LocalBackplane: the one-node backplane numbers each room's messages 1, 2, 3..., delivers
// each once before its publish ends, and refuses publishes while it is not started.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tickcast/transport/backplane.h"

namespace tickcast {
namespace {

struct Delivered {
  std::string room;
  std::uint64_t seq;
  std::string body;
  bool operator==(const Delivered&) const = default;
};

TEST(LocalBackplane, NumbersEachRoomOnItsOwnAndDeliversBeforeThePublishEnds) {
  LocalBackplane backplane;
  std::vector<Delivered> delivered;
  backplane.start([&](const std::string& room, std::uint64_t seq, std::string body) {
    delivered.push_back({room, seq, std::move(body)});
  });
  std::vector<std::uint64_t> numbers;
  auto record = [&](Published p) {
    ASSERT_TRUE(std::holds_alternative<std::uint64_t>(p));
    EXPECT_EQ(delivered.back().seq, std::get<std::uint64_t>(p)) << "delivered first";
    numbers.push_back(std::get<std::uint64_t>(p));
  };
  backplane.publish("a", "one", record);
  backplane.publish("b", "two", record);
  backplane.publish("a", "three", record);
  EXPECT_EQ(numbers, (std::vector<std::uint64_t>{1, 1, 2}));
  EXPECT_EQ(delivered,
            (std::vector<Delivered>{{"a", 1, "one"}, {"b", 1, "two"}, {"a", 2, "three"}}));
}

TEST(LocalBackplane, RefusesPublishesBeforeStartAndAfterStop) {
  LocalBackplane backplane;
  std::vector<Published> ends;
  backplane.publish("a", "early", [&](Published p) { ends.push_back(std::move(p)); });
  int deliveries = 0;
  backplane.start([&](const std::string&, std::uint64_t, std::string) { ++deliveries; });
  backplane.publish("a", "on time", [&](Published p) { ends.push_back(std::move(p)); });
  backplane.stop();
  backplane.publish("a", "late", [&](Published p) { ends.push_back(std::move(p)); });
  ASSERT_EQ(ends.size(), 3u);
  ASSERT_TRUE(std::holds_alternative<Failure>(ends[0]));
  EXPECT_EQ(std::get<Failure>(ends[0]).code, FailureCode::overloaded);
  EXPECT_EQ(std::get<std::uint64_t>(ends[1]), 1u);
  ASSERT_TRUE(std::holds_alternative<Failure>(ends[2]));
  EXPECT_EQ(deliveries, 1);
}

}  // namespace
}  // namespace tickcast
