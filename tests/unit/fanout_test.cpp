// The shared fan-out (tickcast/transport/fanout.h), with recording hooks: join gating, the
// join position, framing once per event, the bounded queue and stuck sessions.
#include "tickcast/transport/fanout.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tickcast/transport/failure.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;

struct TestSession final : FanoutSession {
  explicit TestSession(std::string name, std::size_t max_queue = 8)
      : FanoutSession(max_queue, 30s) {
    room = std::move(name);
  }
};

struct RecordingHooks final : FanoutHooks<TestSession> {
  Payload frame(const Message& message) override {
    ++frames;
    return make_payload("<" + *message.payload + ">");
  }
  void wake(TestSession& session) override { woken.push_back(session.id); }
  void close_stuck(TestSession& session) override { stuck.push_back(session.id); }
  int frames = 0;
  std::vector<std::uint64_t> woken, stuck;
};

Message event(std::uint64_t seq, bool droppable = false) {
  return Message{seq, make_payload("e" + std::to_string(seq)), droppable, MessageKind::event};
}

std::vector<std::string> drain(TestSession& session) {
  std::vector<std::string> out;
  while (!session.outbox.empty()) {
    out.push_back(*session.outbox.front().payload);
    session.outbox.pop(std::chrono::steady_clock::now());
  }
  return out;
}

struct FanoutTest : ::testing::Test {
  RecordingHooks hooks;
  Fanout<TestSession> fanout{hooks};
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
};

TEST_F(FanoutTest, ASessionGetsNoBroadcastBeforeItsJoinReply) {
  TestSession& s = fanout.add(std::make_unique<TestSession>("r"));
  fanout.publish("r", event(5), now);
  EXPECT_TRUE(s.outbox.empty());
  fanout.join(s, JoinReply::snapshot({5, make_payload("snap"), false, MessageKind::snapshot}), now);
  fanout.publish("r", event(6), now);
  EXPECT_EQ(drain(s), (std::vector<std::string>{"<snap>", "<e6>"}));
}

TEST_F(FanoutTest, BroadcastsAtOrBelowTheJoinPositionAreSkipped) {
  TestSession& s = fanout.add(std::make_unique<TestSession>("r"));
  fanout.join(s, JoinReply::backlog({event(4), event(5)}, 3), now);
  EXPECT_EQ(s.position, 5u);
  fanout.publish("r", event(5), now);  // already in the backlog
  fanout.publish("r", event(6), now);
  EXPECT_EQ(drain(s), (std::vector<std::string>{"<e4>", "<e5>", "<e6>"}));
}

TEST_F(FanoutTest, AnEventIsFramedOnceForTheWholeRoomAndOnlyThere) {
  std::vector<TestSession*> in_room;
  for (int i = 0; i < 3; ++i) {
    TestSession& s = fanout.add(std::make_unique<TestSession>("r"));
    fanout.join(s, JoinReply::backlog({}, 1), now);
    in_room.push_back(&s);
  }
  TestSession& elsewhere = fanout.add(std::make_unique<TestSession>("other"));
  fanout.join(elsewhere, JoinReply::backlog({}, 1), now);
  hooks.frames = 0;
  fanout.publish("r", event(2), now);
  EXPECT_EQ(hooks.frames, 1);
  const Payload shared = in_room[0]->outbox.front().payload;
  for (TestSession* s : in_room) EXPECT_EQ(s->outbox.front().payload, shared) << "one buffer";
  EXPECT_TRUE(elsewhere.outbox.empty());
  fanout.publish("nobody", event(2), now);
  EXPECT_EQ(hooks.frames, 1) << "no frame for a room without sessions";
}

TEST_F(FanoutTest, ARefusedJoinQueuesItsErrorAndNeverJoins) {
  TestSession& s = fanout.add(std::make_unique<TestSession>("r"));
  fanout.join(s, JoinReply::refused({FailureCode::rate_limited, "slow down"}, make_payload("no")),
              now);
  EXPECT_TRUE(s.refused);
  EXPECT_FALSE(s.joined);
  fanout.publish("r", event(2), now);
  EXPECT_EQ(drain(s), (std::vector<std::string>{"<no>"}));
  fanout.join(s, JoinReply::backlog({}, 0), now);  // a second reply changes nothing
  EXPECT_FALSE(s.joined);
}

TEST_F(FanoutTest, AFullQueueShedsTicksThenClosesTheStuck) {
  TestSession& s = fanout.add(std::make_unique<TestSession>("r", 2));
  fanout.join(s, JoinReply::backlog({}, 1), now);
  fanout.publish("r", event(2, /*droppable=*/true), now);
  fanout.publish("r", event(3), now);
  fanout.publish("r", event(4), now);  // drops tick 2
  EXPECT_EQ(fanout.counters.dropped, 1u);
  fanout.publish("r", event(5), now);  // only state changes left: stuck
  EXPECT_EQ(hooks.stuck, std::vector<std::uint64_t>{s.id});
  EXPECT_TRUE(s.closing);
  EXPECT_EQ(fanout.counters.closed_slow, 1u);
  fanout.publish("r", event(6), now);
  EXPECT_TRUE(s.outbox.empty()) << "nothing is queued to a closing session";
}

TEST_F(FanoutTest, RepliesReachOneSessionJoinedOrNot) {
  TestSession& a = fanout.add(std::make_unique<TestSession>("r"));
  TestSession& b = fanout.add(std::make_unique<TestSession>("r"));
  fanout.deliver(a, {Message{0, make_payload("err"), false, MessageKind::error}}, now);
  EXPECT_EQ(drain(a), (std::vector<std::string>{"<err>"}));
  EXPECT_TRUE(b.outbox.empty());
  EXPECT_EQ(fanout.size(), 2u);
  fanout.remove(a);
  EXPECT_EQ(fanout.size(), 1u);
}

TEST(Failure, CodesMapToHttpStatusesAndNamedCloseCodes) {
  EXPECT_EQ(http_status(FailureCode::too_large), 413);
  EXPECT_EQ(http_status(FailureCode::rate_limited), 429);
  EXPECT_EQ(http_status(FailureCode::overloaded), 503);
  EXPECT_EQ(close_code(FailureCode::too_large), CloseCode::message_too_big);
  EXPECT_EQ(close_code(FailureCode::bad_room), CloseCode::policy_violation);
  EXPECT_EQ(close_code(FailureCode::rate_limited), std::nullopt) << "answered in-band";
  EXPECT_EQ(static_cast<int>(CloseCode::going_away), 1001);
  EXPECT_EQ(generic_failure_body({FailureCode::too_large, "over \"4\" bytes"}),
            R"({"error":"over \"4\" bytes","code":"too_large"})");
  const FailureEncoder app = [](const Failure& f, std::string_view request) {
    return std::string(to_string(f.code)) + "|" + std::string(request);
  };
  EXPECT_EQ(encode_with(app, {FailureCode::slow, "x"}, "cmd"), "slow|cmd");
}

}  // namespace
}  // namespace tickcast
