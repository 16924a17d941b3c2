#include "tickcast/core/hub.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "fake_clock.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A transport that records what it is asked to publish, per room.
class RecordingTransport final : public Transport {
 public:
  std::string_view name() const override { return "recording"; }
  void start(Sink&) override {}
  void stop() override {}
  void publish(std::string_view room, const Message& message) override {
    published[std::string(room)].push_back(message);
  }
  void room_created(std::string_view room, const Message& snapshot) override {
    created.emplace_back(room, snapshot);
  }
  TransportStats stats() const override { return {}; }
  void forget_room(std::string_view room) override { forgotten.emplace_back(room); }
  std::map<std::string, std::vector<Message>> published;
  std::vector<std::pair<std::string, Message>> created;
  std::vector<std::string> forgotten;
};

class RecordingClient final : public Client {
 public:
  explicit RecordingClient(std::string address = {}) : address(std::move(address)) {}
  void send(std::vector<Message> messages) override {
    for (auto& m : messages) {
      received.push_back(json::parse(*m.payload));
      codes.emplace_back(std::nullopt);
    }
  }
  // A join reply is recorded like a send; a refusal's messages carry its code.
  void join(JoinReply reply) override {
    for (auto& m : reply.messages) {
      received.emplace_back(json::parse(*m.payload));
      codes.push_back(reply.refusal ? std::optional(to_error_code(reply.refusal->code))
                                    : std::nullopt);
    }
  }
  std::string_view transport() const override { return "test"; }
  std::string_view peer() const override { return address; }
  std::string address;
  std::vector<json> received;
  std::vector<std::optional<ErrorCode>> codes;
};

struct HubTest : ::testing::Test {
  HubTest() : hub(HubOptions{TimerConfig{}, 1000ms, 16, 100}, clock) {
    hub.add_transport(transport);
  }
  testing::FakeClock clock;
  RecordingTransport transport;
  Hub hub;
};

TEST_F(HubTest, CommandsBroadcastToTheirRoomOnly) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_message("a", R"({"type":"start"})", client);
  hub.pump();
  clock.advance(3s);
  hub.pump();
  EXPECT_TRUE(client->received.empty()) << "success is not echoed to the sender";
  ASSERT_EQ(transport.published["a"].size(), 2u) << "start, then one merged tick";
  EXPECT_EQ(transport.published.count("b"), 0u);
  const auto start = json::parse(*transport.published["a"][0].payload);
  const auto tick = json::parse(*transport.published["a"][1].payload);
  EXPECT_EQ(tick["seq"], start["seq"].get<std::uint64_t>() + 1);
  EXPECT_EQ(tick["data"], "00:24:57");
  EXPECT_TRUE(transport.published["a"][1].droppable);
  EXPECT_FALSE(transport.published["a"][0].droppable);
}

TEST_F(HubTest, ErrorsGoToTheRequesterOnly) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_message("a", R"({"type":"stop","request_id":"r9"})", client);
  hub.on_message("a", "{bad", client);
  hub.on_message("no room!", R"({"type":"start"})", client);
  hub.pump();
  ASSERT_EQ(client->received.size(), 3u);
  EXPECT_EQ(client->received[0]["code"], "already_stopped");
  EXPECT_EQ(client->received[0]["error"], "Timer already stopped");
  EXPECT_EQ(client->received[0]["request_id"], "r9");
  EXPECT_EQ(client->received[1]["code"], "bad_request");
  EXPECT_EQ(client->received[2]["code"], "bad_room");
  EXPECT_TRUE(transport.published.empty());
}

TEST_F(HubTest, AJoinerGetsASnapshotAtOnceAndAResumerGetsWhatItMissed) {
  auto first = std::make_shared<RecordingClient>();
  hub.on_message("r", R"({"type":"start"})", first);
  hub.pump();
  // Positions relative to the room's base: its first event (start) is base + 1.
  const std::uint64_t base = transport.published["r"].at(0).seq - 1;
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    hub.pump();
  }
  auto late = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", std::nullopt, late);
  hub.pump();
  ASSERT_EQ(late->received.size(), 1u);
  EXPECT_EQ(late->received[0]["reason"], "snapshot");
  EXPECT_EQ(late->received[0]["seq"], base + 6);
  EXPECT_EQ(late->received[0]["data"], "00:24:55");

  auto resumer = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", base + 3, resumer);
  hub.pump();
  ASSERT_EQ(resumer->received.size(), 3u);
  EXPECT_EQ(resumer->received[0]["seq"], base + 4);
  EXPECT_EQ(resumer->received[2]["seq"], base + 6);

  for (int i = 0; i < 20; ++i) {
    clock.advance(1s);
    hub.pump();
  }
  auto too_late = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", base + 2, too_late);
  hub.pump();
  ASSERT_EQ(too_late->received.size(), 1u) << "past the history: a snapshot";
  EXPECT_EQ(too_late->received[0]["reason"], "snapshot");
}

TEST_F(HubTest, RoomsAreIsolated) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_message("a", R"({"type":"start"})", client);
  hub.on_message("b", R"({"type":"configure","work_ms":60000})", client);
  hub.pump();
  clock.advance(10s);
  hub.pump();
  std::vector<RoomSummary> rooms;
  hub.rooms([&](std::vector<RoomSummary> r) { rooms = std::move(r); });
  hub.pump();
  ASSERT_EQ(rooms.size(), 2u);
  EXPECT_EQ(rooms[0].name, "a");
  EXPECT_TRUE(rooms[0].state.running);
  EXPECT_EQ(rooms[0].state.remaining, 1490s);
  EXPECT_FALSE(rooms[1].state.running);
  EXPECT_EQ(rooms[1].state.remaining, 60s);
  for (const auto& m : transport.published["b"]) {
    EXPECT_EQ(json::parse(*m.payload)["room"], "b");
  }
}

TEST_F(HubTest, RestCommandsReportOutcomes) {
  std::vector<CommandOutcome> outcomes;
  auto record = [&](CommandOutcome o) { outcomes.push_back(std::move(o)); };
  hub.command("x", R"({"type":"start"})", record);
  hub.command("x", R"({"type":"start","request_id":"again"})", record);
  hub.pump();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].error);
  EXPECT_TRUE(outcomes[0].state.running);
  ASSERT_TRUE(outcomes[1].error);
  EXPECT_EQ(outcomes[1].error->code, ErrorCode::already_running);
  EXPECT_EQ(outcomes[1].request_id, "again");
}

TEST_F(HubTest, RefusesRoomsPastTheLimit) {
  auto client = std::make_shared<RecordingClient>();
  for (int i = 0; i < 101; ++i) hub.on_subscribe("room" + std::to_string(i), std::nullopt, client);
  hub.pump();
  EXPECT_EQ(client->received.back()["code"], "overloaded");
  EXPECT_EQ(hub.stats().rooms, 100u);
}

TEST_F(HubTest, StopAndStartMoveTheTicksWithoutLosingOrDoublingOne) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_message("s", R"({"type":"start"})", client);
  hub.pump();
  clock.advance(500ms);
  hub.on_message("s", R"({"type":"stop"})", client);
  hub.pump();
  clock.advance(200ms);
  hub.on_message("s", R"({"type":"start"})", client);  // ticks now fall on .2 s
  hub.pump();
  for (int i = 0; i < 50; ++i) {  // 5 s in 100 ms steps, past the old .0 s deadlines
    clock.advance(100ms);
    hub.pump();
  }
  std::vector<std::string> ticks;
  for (const auto& m : transport.published["s"]) {
    const auto event = json::parse(*m.payload);
    if (event["reason"] == "tick") ticks.push_back(event["data"]);
  }
  EXPECT_EQ(ticks,
            (std::vector<std::string>{"00:24:59", "00:24:58", "00:24:57", "00:24:56", "00:24:55"}));
  ASSERT_TRUE(hub.next_due());
  EXPECT_EQ(*hub.next_due() - clock.now(), 500ms) << "the next tick, not a stale deadline";
}

TEST(HubThread, TicksOnItsOwnThreadByRealDeadline) {
  SystemClock clock;
  RecordingTransport transport;
  std::mutex mutex;
  std::condition_variable cv;
  int outcomes = 0;
  Hub hub(HubOptions{TimerConfig{}, 20ms, 16, 100}, clock);
  hub.add_transport(transport);
  hub.start();
  hub.command("t", R"({"type":"start"})", [&](const CommandOutcome&) {
    std::lock_guard lock(mutex);
    ++outcomes;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return outcomes == 1; }));
  }
  // Wait for ticks to arrive, with a deadline; the transport is read after stop() joins.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub.stats().events_broadcast < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  hub.stop();
  ASSERT_GE(transport.published["t"].size(), 5u);
  EXPECT_EQ(json::parse(*transport.published["t"][4].payload)["seq"],
            transport.published["t"][0].seq + 4);
}

TEST_F(HubTest, TransportsHearOfANewRoomOnceWithItsSnapshotBeforeItsFirstEvent) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_subscribe("a", std::nullopt, client);         // a join makes a room
  hub.on_message("a", R"({"type":"start"})", client);  // a known room is not made again
  hub.command("b", R"({"type":"stop"})", [](const CommandOutcome&) {});  // refused, still made
  hub.on_message("c", "{bad", client);                                   // bad commands make none
  hub.on_message("bad room", R"({"type":"start"})", client);
  hub.pump();
  ASSERT_EQ(transport.created.size(), 2u);
  EXPECT_EQ(transport.created[0].first, "a");
  EXPECT_EQ(transport.created[1].first, "b");
  const Message& snapshot = transport.created[0].second;
  EXPECT_EQ(snapshot.kind, MessageKind::snapshot);
  const json first = json::parse(*snapshot.payload);
  EXPECT_EQ(first["reason"], "snapshot");
  EXPECT_EQ(first["room"], "a");
  EXPECT_EQ(first["state"]["running"], false);
  ASSERT_EQ(transport.published["a"].size(), 1u);
  EXPECT_EQ(json::parse(*transport.published["a"][0].payload)["reason"], "start");
  // The snapshot is the room's base (a new history): its first event follows it.
  EXPECT_EQ(transport.published["a"][0].seq, snapshot.seq + 1);
}

// ---- Idle rooms and the room-creation rate limit -----------------------------------------

// HubOptions with rooms evicted after one idle minute and no creation limit.
HubOptions evicting_options() {
  HubOptions options{TimerConfig{}, 1000ms, 16, 100};
  options.room_idle = 60s;
  options.room_create_per_minute = 0;
  return options;
}

struct IdleRooms : ::testing::Test {
  IdleRooms() : hub(evicting_options(), clock) { hub.add_transport(transport); }

  std::vector<std::string> room_names() {
    std::vector<std::string> names;
    hub.rooms([&](const std::vector<RoomSummary>& rooms) {
      for (auto& r : rooms) names.push_back(r.name);
    });
    hub.pump();
    return names;
  }
  // step moves the clock by `by` in one-second pumps, as the strand would wake.
  void step(std::chrono::seconds by) {
    for (auto i = 0s; i < by; i += 1s) {
      clock.advance(1s);
      hub.pump();
    }
  }

  testing::FakeClock clock;
  RecordingTransport transport;
  Hub hub;
};

TEST_F(IdleRooms, ARoomIsKeptWhileAClientIsJoinedAndEvictedAnIdleTimeAfterItLeft) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_subscribe("kept", std::nullopt, client);
  hub.pump();
  step(300s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"kept"}) << "a joined client keeps it";

  hub.on_unsubscribe("kept", client);
  hub.pump();
  step(59s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"kept"}) << "not idle long enough yet";
  step(1s);
  EXPECT_TRUE(room_names().empty());
  EXPECT_EQ(hub.stats().rooms, 0u);
  EXPECT_EQ(hub.stats().rooms_evicted, 1u);
  EXPECT_EQ(transport.forgotten, std::vector<std::string>{"kept"});
}

TEST_F(IdleRooms, EveryUseRestartsTheIdleTime) {
  auto client = std::make_shared<RecordingClient>();
  hub.command("used", R"({"type":"reset"})", [](const CommandOutcome&) {});
  hub.pump();
  step(50s);
  hub.snapshot("used", [](const std::optional<Error>&, const Payload&) {});  // a read is a use
  hub.pump();
  step(50s);
  hub.on_message("used", R"({"type":"stop"})", client);  // so is a refused command
  hub.pump();
  step(50s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"used"});
  step(10s);
  EXPECT_TRUE(room_names().empty());
}

TEST_F(IdleRooms, ARunningTimerKeepsItsRoomAndItsIdleTimeStartsWhenItStops) {
  hub.command("busy", R"({"type":"configure","work_ms":300000})", [](const CommandOutcome&) {});
  hub.command("busy", R"({"type":"start"})", [](const CommandOutcome&) {});
  hub.pump();
  step(299s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"busy"}) << "running, nobody watching";
  step(1s);  // the work phase ends: the timer stops by itself
  ASSERT_EQ(json::parse(*transport.published["busy"].back().payload)["reason"], "phase");
  step(59s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"busy"}) << "idle from the phase's end";
  step(1s);
  EXPECT_TRUE(room_names().empty());
}

TEST_F(IdleRooms, ALongPollerThatComesBackKeepsItsRoom) {
  // Each poll is one client from its request to its answer; the next poll comes at once.
  for (int poll = 0; poll < 10; ++poll) {
    auto poller = std::make_shared<RecordingClient>();
    hub.on_subscribe("polled", std::nullopt, poller);
    hub.pump();
    step(25s);  // parked until its timeout
    hub.on_unsubscribe("polled", poller);
    hub.pump();
  }
  EXPECT_EQ(room_names(), std::vector<std::string>{"polled"});
  step(60s);
  EXPECT_TRUE(room_names().empty()) << "the poller stopped coming";
}

TEST_F(IdleRooms, ARoomCreatedAgainNeverRepeatsASeqItsOldClientsSaw) {
  auto old_client = std::make_shared<RecordingClient>();
  hub.on_subscribe("again", std::nullopt, old_client);
  hub.on_message("again", R"({"type":"configure","work_ms":60000})", old_client);
  hub.on_message("again", R"({"type":"start"})", old_client);
  hub.pump();
  hub.on_message("again", R"({"type":"stop"})", old_client);
  hub.pump();
  const std::uint64_t last_seen = transport.published["again"].back().seq;
  ASSERT_EQ(last_seen, old_client->received.at(0)["seq"].get<std::uint64_t>() + 3);
  hub.on_unsubscribe("again", old_client);
  hub.pump();
  step(60s);
  ASSERT_TRUE(room_names().empty());

  // The old client resumes where it was: the room is new, so it gets a snapshot, after
  // the old seq, with the default lengths (not a stale "nothing happened since").
  auto resumer = std::make_shared<RecordingClient>();
  hub.on_subscribe("again", last_seen, resumer);
  hub.pump();
  ASSERT_EQ(resumer->received.size(), 1u);
  EXPECT_EQ(resumer->received[0]["reason"], "snapshot");
  EXPECT_GT(resumer->received[0]["seq"].get<std::uint64_t>(), last_seen);
  EXPECT_EQ(resumer->received[0]["data"], "00:25:00");

  hub.on_message("again", R"({"type":"start"})", resumer);
  hub.pump();
  EXPECT_GT(transport.published["again"].back().seq, last_seen + 1);
  // A resume from the new room's own start is served from its history, as ever.
  auto second = std::make_shared<RecordingClient>();
  hub.on_subscribe("again", resumer->received[0]["seq"].get<std::uint64_t>(), second);
  hub.pump();
  ASSERT_EQ(second->received.size(), 1u);
  EXPECT_EQ(second->received[0]["reason"], "start");
}

// The seq floor holds even when the wall clock steps back, below the evicted room's seqs:
// the new room's base is then the floor, not the wall clock.
TEST_F(IdleRooms, ARoomCreatedAgainAfterTheWallClockSteppedBackStartsAboveTheOldSeqs) {
  auto old_client = std::make_shared<RecordingClient>();
  hub.on_subscribe("again", std::nullopt, old_client);
  hub.on_message("again", R"({"type":"start"})", old_client);
  hub.on_message("again", R"({"type":"stop"})", old_client);
  hub.pump();
  const std::uint64_t last_seen = transport.published["again"].back().seq;
  hub.on_unsubscribe("again", old_client);
  hub.pump();
  step(60s);
  ASSERT_TRUE(room_names().empty());
  clock.shift_wall(-std::chrono::hours(1));
  auto resumer = std::make_shared<RecordingClient>();
  hub.on_subscribe("again", last_seen, resumer);
  hub.pump();
  ASSERT_EQ(resumer->received.size(), 1u);
  EXPECT_EQ(resumer->received[0]["reason"], "snapshot");
  EXPECT_EQ(resumer->received[0]["seq"].get<std::uint64_t>(), last_seen + 1);
}

TEST_F(IdleRooms, ALeaveOfARefusedOrUnknownClientChangesNothing) {
  auto joined = std::make_shared<RecordingClient>();
  auto stranger = std::make_shared<RecordingClient>();
  hub.on_subscribe("mine", std::nullopt, joined);
  hub.on_unsubscribe("mine", stranger);
  hub.on_unsubscribe("nowhere", stranger);
  hub.pump();
  step(120s);
  EXPECT_EQ(room_names(), std::vector<std::string>{"mine"});
}

TEST_F(IdleRooms, IdleRoomsGoInDeadlineOrderWithoutAWalkOverTheRest) {
  const auto start = clock.now();
  for (int second = 0; second < 10; ++second) {
    for (int k = 0; k < 10; ++k) {
      hub.snapshot("m" + std::to_string(second) + "_" + std::to_string(k),
                   [](const std::optional<Error>&, const Payload&) {});
    }
    hub.pump();
    clock.advance(1s);
  }
  ASSERT_EQ(hub.stats().rooms, 100u);
  ASSERT_TRUE(hub.next_due());
  EXPECT_EQ(*hub.next_due(), start + 60s) << "the strand sleeps until the first is due";
  clock.set(start + 60s);
  hub.pump();
  EXPECT_EQ(hub.stats().rooms, 90u);
  EXPECT_EQ(transport.forgotten.front(), "m0_0");
  EXPECT_EQ(*hub.next_due(), start + 61s);
  clock.advance(1s);
  hub.pump();
  EXPECT_EQ(hub.stats().rooms, 80u);
  EXPECT_EQ(hub.stats().rooms_evicted, 20u);
}

TEST(RoomCreationRate, OnePeerIsLimitedOthersAreNot) {
  testing::FakeClock clock;
  HubOptions options{TimerConfig{}, 1000ms, 16, 100};
  options.room_create_per_minute = 6;  // one every 10 s
  options.room_create_burst = 3;
  Hub hub(options, clock);
  auto attacker = std::make_shared<RecordingClient>("10.0.0.66");
  for (int i = 0; i < 5; ++i) hub.on_subscribe("a" + std::to_string(i), std::nullopt, attacker);
  hub.pump();
  ASSERT_EQ(attacker->received.size(), 5u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(attacker->received[i]["reason"], "snapshot") << i;
  EXPECT_EQ(attacker->received[3]["code"], "rate_limited");
  EXPECT_EQ(attacker->codes[3], ErrorCode::rate_limited) << "transports read the code";
  EXPECT_EQ(attacker->received[4]["code"], "rate_limited");
  EXPECT_EQ(hub.stats().rooms, 3u);
  EXPECT_EQ(hub.stats().rooms_refused_rate, 2u);

  // Joining rooms that exist costs nothing; another address has its own budget; a
  // command that would create a room is limited the same way (REST passes the address).
  auto user = std::make_shared<RecordingClient>("10.0.0.7");
  hub.on_subscribe("a0", std::nullopt, attacker);
  hub.on_subscribe("mine", std::nullopt, user);
  std::optional<CommandOutcome> outcome;
  hub.command(
      "a9", R"({"type":"start"})", [&](CommandOutcome o) { outcome = std::move(o); }, "10.0.0.66");
  hub.pump();
  EXPECT_EQ(attacker->received.back()["reason"], "snapshot");
  EXPECT_EQ(user->received.back()["reason"], "snapshot");
  ASSERT_TRUE(outcome && outcome->error);
  EXPECT_EQ(outcome->error->code, ErrorCode::rate_limited);

  // The bucket refills at the rate: one more room after 10 s, not two.
  clock.advance(10s);
  hub.on_subscribe("b0", std::nullopt, attacker);
  hub.on_subscribe("b1", std::nullopt, attacker);
  hub.pump();
  EXPECT_EQ(attacker->received[attacker->received.size() - 2]["reason"], "snapshot");
  EXPECT_EQ(attacker->received.back()["code"], "rate_limited");

  // An unknown address (in-process callers) is not limited.
  for (int i = 0; i < 10; ++i) hub.snapshot("c" + std::to_string(i), [](auto, auto) {});
  hub.pump();
  EXPECT_EQ(hub.stats().rooms, 3u + 1u + 1u + 10u);
}

TEST(RoomCreationRate, AFullHubSaysOverloadedAndCountsIt) {
  testing::FakeClock clock;
  HubOptions options{TimerConfig{}, 1000ms, 16, 2};
  Hub hub(options, clock);
  auto client = std::make_shared<RecordingClient>("10.0.0.1");
  for (const char* room : {"x", "y", "z"}) hub.on_subscribe(room, std::nullopt, client);
  hub.pump();
  EXPECT_EQ(client->received.back()["code"], "overloaded");
  EXPECT_EQ(client->codes.back(), ErrorCode::overloaded);
  EXPECT_EQ(hub.stats().rooms_refused_full, 1u);
  EXPECT_EQ(hub.stats().rooms_refused_rate, 0u);
}

}  // namespace
}  // namespace tickcast
