// The writer's memory of forwarded commands (stores/nats): each id runs once, and every copy
// of it gets the one answer.
#include "command_dedup.h"

#include <gtest/gtest.h>

#include <vector>

namespace tickcast::nats {
namespace {

using Seen = CommandDedup::Seen;

TEST(CommandDedup, ACopyWaitsForTheRunningCommandAndALaterOneGetsItsAnswer) {
  CommandDedup dedup(std::chrono::seconds(60));
  std::vector<std::string> first, second, third;
  EXPECT_EQ(dedup.begin("a.1", [&](const std::string& r) { first.push_back(r); }), Seen::first);
  EXPECT_EQ(dedup.begin("a.1", [&](const std::string& r) { second.push_back(r); }), Seen::running);
  EXPECT_TRUE(first.empty());
  dedup.finish("a.1", "ok");
  EXPECT_EQ(first, std::vector<std::string>{"ok"});
  EXPECT_EQ(second, std::vector<std::string>{"ok"});
  EXPECT_EQ(dedup.begin("a.1", [&](const std::string& r) { third.push_back(r); }), Seen::answered);
  EXPECT_EQ(third, std::vector<std::string>{"ok"});
  dedup.finish("a.1", "other");  // a second finish changes nothing
  EXPECT_EQ(first.size(), 1u);
  EXPECT_EQ(dedup.begin("a.2", [](const std::string&) {}), Seen::first) << "another id runs";
}

TEST(CommandDedup, IdsFromStoredEventsAreAnsweredNotRun) {
  CommandDedup dedup(std::chrono::seconds(60));
  dedup.ran_before({"old.7"});
  std::vector<std::string> got;
  EXPECT_EQ(dedup.begin("old.7", [&](const std::string& r) { got.push_back(r); }),
            Seen::applied_before);
  dedup.finish("old.7", "state");
  EXPECT_EQ(got, std::vector<std::string>{"state"});
  EXPECT_EQ(dedup.begin("old.8", [](const std::string&) {}), Seen::first);
}

TEST(CommandDedup, AnswersAreForgottenAfterTheirTime) {
  CommandDedup dedup(std::chrono::milliseconds(0));
  dedup.begin("a.1", [](const std::string&) {});
  dedup.finish("a.1", "ok");
  // Kept for no time: the next arrival finds it gone (a sender gives up long before 60 s).
  EXPECT_EQ(dedup.begin("a.1", [](const std::string&) {}), Seen::first);
}

}  // namespace
}  // namespace tickcast::nats
