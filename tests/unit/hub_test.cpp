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
  std::map<std::string, std::vector<Message>> published;
  std::vector<std::pair<std::string, Message>> created;
};

class RecordingClient final : public Client {
 public:
  void send(std::vector<Message> messages) override {
    for (auto& m : messages) received.push_back(json::parse(*m.payload));
  }
  std::string_view transport() const override { return "test"; }
  std::vector<json> received;
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
  const auto tick = json::parse(*transport.published["a"][1].payload);
  EXPECT_EQ(tick["seq"], 2);
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
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    hub.pump();
  }
  auto late = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", std::nullopt, late);
  hub.pump();
  ASSERT_EQ(late->received.size(), 1u);
  EXPECT_EQ(late->received[0]["reason"], "snapshot");
  EXPECT_EQ(late->received[0]["seq"], 6);
  EXPECT_EQ(late->received[0]["data"], "00:24:55");

  auto resumer = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", 3, resumer);
  hub.pump();
  ASSERT_EQ(resumer->received.size(), 3u);
  EXPECT_EQ(resumer->received[0]["seq"], 4);
  EXPECT_EQ(resumer->received[2]["seq"], 6);

  for (int i = 0; i < 20; ++i) {
    clock.advance(1s);
    hub.pump();
  }
  auto too_late = std::make_shared<RecordingClient>();
  hub.on_subscribe("r", 2, too_late);
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

TEST(HubThread, TicksOnItsOwnThreadByRealDeadline) {
  SystemClock clock;
  RecordingTransport transport;
  std::mutex mutex;
  std::condition_variable cv;
  int outcomes = 0;
  Hub hub(HubOptions{TimerConfig{}, 20ms, 16, 100}, clock);
  hub.add_transport(transport);
  hub.start();
  hub.command("t", R"({"type":"start"})", [&](CommandOutcome) {
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
  EXPECT_EQ(json::parse(*transport.published["t"][4].payload)["seq"], 5);
}

TEST_F(HubTest, TransportsHearOfANewRoomOnceWithItsSnapshotBeforeItsFirstEvent) {
  auto client = std::make_shared<RecordingClient>();
  hub.on_subscribe("a", std::nullopt, client);                    // a join makes a room
  hub.on_message("a", R"({"type":"start"})", client);             // a known room is not made again
  hub.command("b", R"({"type":"stop"})", [](CommandOutcome) {});  // refused, still made
  hub.on_message("c", "{bad", client);                            // bad commands make none
  hub.on_message("bad room", R"({"type":"start"})", client);
  hub.pump();
  ASSERT_EQ(transport.created.size(), 2u);
  EXPECT_EQ(transport.created[0].first, "a");
  EXPECT_EQ(transport.created[1].first, "b");
  const Message& snapshot = transport.created[0].second;
  EXPECT_EQ(snapshot.kind, MessageKind::snapshot);
  EXPECT_EQ(snapshot.seq, 0u);
  const json first = json::parse(*snapshot.payload);
  EXPECT_EQ(first["reason"], "snapshot");
  EXPECT_EQ(first["room"], "a");
  EXPECT_EQ(first["state"]["running"], false);
  ASSERT_EQ(transport.published["a"].size(), 1u);
  EXPECT_EQ(json::parse(*transport.published["a"][0].payload)["reason"], "start");
}

}  // namespace
}  // namespace tickcast
