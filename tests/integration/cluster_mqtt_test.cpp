// MQTT in a cluster: each room's events reach MQTT subscribers exactly once, whether the
// nodes share one broker (--mqtt-broker: the writer alone publishes, and each command
// reaches one node through a shared subscription) or each runs its own embedded broker.
// Real nats-server, mosquitto, tickcast-server nodes and mosquitto_pub; waits on
// conditions with deadlines.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <set>

#include "mqtt_test_support.h"
#include "support/nats_process.h"
#include "support/room_client.h"
#include "support/server_process.h"
#include "support/temp_dir.h"

namespace tickcast {
namespace {

using mqtt_test::MqttProbe;
using mqtt_test::TestBroker;
using testing::NatsServer;
using testing::post_command;
using testing::ServerProcess;
using testing::TempDir;
using namespace std::chrono_literals;
using nlohmann::json;

// mosquitto_pub, a third-party client, sends one command to the room's commands topic.
void publish_command(int broker_port, const std::string& room, const std::string& command) {
  const auto [code, out] = mqtt_test::run({"mosquitto_pub", "-p", std::to_string(broker_port), "-t",
                                           "tickcast/rooms/" + room + "/commands", "-m", command});
  ASSERT_EQ(code, 0) << out;
}

std::vector<json> events_of(const MqttProbe& probe) {
  std::vector<json> out;
  for (const auto& m : probe.messages()) out.push_back(json::parse(m.payload, nullptr, false));
  return out;
}

// Every seq once, in order, no gap; `reason` events counted.
void expect_exactly_once(const std::vector<json>& events, const std::string& where) {
  for (std::size_t i = 1; i < events.size(); ++i) {
    ASSERT_EQ(events[i]["seq"].get<std::uint64_t>(), events[i - 1]["seq"].get<std::uint64_t>() + 1)
        << where << ": a repeat or a gap after " << events[i - 1].dump();
  }
}

std::size_t count_reason(const std::vector<json>& events, const std::string& reason) {
  return std::count_if(events.begin(), events.end(),
                       [&](const json& e) { return e.value("reason", "") == reason; });
}

// any_skip is a probe.wait() condition: some received event has reason "skip".
bool any_skip(const std::vector<mqtt_test::Received>& all) {
  return std::any_of(all.begin(), all.end(), [](const mqtt_test::Received& r) {
    return r.payload.find(R"("reason":"skip")") != std::string::npos;
  });
}

class ClusterMqtt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::nats_server_available()) GTEST_SKIP() << "no nats-server (scripts/setup.sh)";
    dir_ = std::make_unique<TempDir>("tickcast-nats");
    nats_ = std::make_unique<NatsServer>("n1", dir_->path(), testing::free_port());
  }
  std::vector<std::string> args(std::vector<std::string> mqtt) const {
    std::vector<std::string> a{"--transport", "mqtt", "--tick-ms", "100",
                               "--work",      "1h",   "--cluster", nats_->url()};
    a.insert(a.end(), mqtt.begin(), mqtt.end());
    return a;
  }
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<NatsServer> nats_;
};

TEST_F(ClusterMqtt, NodesSharingOneBrokerPublishEachEventOnceAndApplyEachCommandOnce) {
  TestBroker broker;
  ServerProcess writer(args({"--mqtt-broker", broker.url()}));
  ServerProcess follower(args({"--mqtt-broker", broker.url()}));
  ASSERT_TRUE(follower.wait_for_output("follower")) << follower.output();
  ASSERT_TRUE(writer.wait_for_output("mqtt")) << writer.output();
  ASSERT_TRUE(follower.wait_for_output("mqtt")) << follower.output();
  MqttProbe probe(broker.port(), {"tickcast/rooms/focus/events"});
  ASSERT_TRUE(probe.wait_subscribed(10s));

  // Commands through the broker, which both nodes are subscribed to: a skip applied twice
  // would move two phases.
  publish_command(broker.port(), "focus", R"({"type":"start"})");
  ASSERT_TRUE(probe.wait([](const auto& m) { return !m.empty(); }, 10s)) << writer.output();
  publish_command(broker.port(), "focus", R"({"type":"skip"})");
  ASSERT_TRUE(probe.wait(any_skip, 10s));
  // And one through the follower's REST API.
  ASSERT_EQ(post_command(follower, "focus", R"({"type":"start"})").status, 200);
  const std::size_t enough = probe.messages().size() + 20;
  ASSERT_TRUE(probe.wait([&](const auto& m) { return m.size() >= enough; }, 15s));

  const std::vector<json> events = events_of(probe);
  expect_exactly_once(events, "shared broker");
  EXPECT_EQ(count_reason(events, "skip"), 1u) << "the skip was applied more than once";
  EXPECT_EQ(count_reason(events, "start"), 2u);  // before and after the skip
  EXPECT_EQ(events.back()["state"]["phase"], "short_break") << events.back().dump();
}

TEST_F(ClusterMqtt, NodesWithTheirOwnBrokersEachPublishEveryEventOnce) {
  const int port_a = testing::free_port();
  const int port_b = testing::free_port();
  ServerProcess writer(args({"--mqtt-port", std::to_string(port_a)}));
  ServerProcess follower(args({"--mqtt-port", std::to_string(port_b)}));
  ASSERT_TRUE(follower.wait_for_output("follower")) << follower.output();
  ASSERT_TRUE(writer.wait_for_output("mqtt")) << writer.output();
  ASSERT_TRUE(follower.wait_for_output("mqtt")) << follower.output();
  MqttProbe on_a(port_a, {"tickcast/rooms/focus/events"});
  MqttProbe on_b(port_b, {"tickcast/rooms/focus/events"});
  ASSERT_TRUE(on_a.wait_subscribed(10s));
  ASSERT_TRUE(on_b.wait_subscribed(10s));
  // A follower joins the room once a client of its own asks for it: a command does.
  publish_command(port_b, "focus", R"({"type":"start"})");
  ASSERT_TRUE(on_b.wait([](const auto& m) { return m.size() >= 3; }, 15s)) << follower.output();
  publish_command(port_b, "focus", R"({"type":"skip"})");
  // The skip goes through the follower to the writer; a start sent to the writer before it
  // arrived would be refused (still running) and the skip would then stop the timer.
  ASSERT_TRUE(on_a.wait(any_skip, 15s)) << writer.output();
  publish_command(port_a, "focus", R"({"type":"start"})");
  const std::size_t enough = on_b.messages().size() + 20;
  ASSERT_TRUE(on_b.wait([&](const auto& m) { return m.size() >= enough; }, 15s));
  ASSERT_TRUE(on_a.wait([&](const auto& m) { return m.size() >= enough; }, 15s));

  const std::vector<json> a = events_of(on_a);
  const std::vector<json> b = events_of(on_b);
  expect_exactly_once(a, "writer's broker");
  expect_exactly_once(b, "follower's broker");
  EXPECT_EQ(count_reason(a, "skip"), 1u);
  EXPECT_EQ(count_reason(b, "skip"), 1u);
  // The same events under the same seqs on both brokers.
  std::map<std::uint64_t, std::string> by_seq;
  for (const auto& e : a) by_seq[e["seq"]] = e.dump();
  std::size_t common = 0;
  for (const auto& e : b) {
    const auto it = by_seq.find(e["seq"]);
    if (it == by_seq.end()) continue;
    EXPECT_EQ(it->second, e.dump());
    ++common;
  }
  EXPECT_GE(common, 20u);
}

}  // namespace
}  // namespace tickcast

namespace tickcast {
namespace {

// A writer killed after committing events it never handed to the shared broker (fault
// injection: it stops publishing after a few events): the follower, which saw which seqs
// reached the broker, publishes the missing ones when it takes over, once each and in order.
// Without the catch-up the subscriber sees a gap of every event withheld.
TEST_F(ClusterMqtt, ANewWriterSendsTheEventsAKilledWriterNeverHandedToASharedBroker) {
  TestBroker broker;
  ::setenv("TICKCAST_FAULT_MQTT_WITHHOLD_AFTER", "12", 1);
  ServerProcess writer(args({"--mqtt-broker", broker.url()}));
  ::unsetenv("TICKCAST_FAULT_MQTT_WITHHOLD_AFTER");
  ServerProcess follower(args({"--mqtt-broker", broker.url()}));
  ASSERT_TRUE(follower.wait_for_output("follower")) << follower.output();
  ASSERT_TRUE(writer.wait_for_output("mqtt")) << writer.output();
  ASSERT_TRUE(follower.wait_for_output("mqtt")) << follower.output();
  MqttProbe probe(broker.port(), {"tickcast/rooms/focus/events"});
  ASSERT_TRUE(probe.wait_subscribed(10s));

  ASSERT_EQ(post_command(writer, "focus", R"({"type":"start"})").status, 200);
  ASSERT_TRUE(probe.wait([](const auto& m) { return !m.empty(); }, 10s)) << writer.output();
  // The writer goes on committing (the follower's replica follows) but sends nothing more.
  std::uint64_t withheld_from = 0;
  ASSERT_TRUE(testing::wait_for(
      [&] {
        const auto seqs = probe.seqs();
        if (seqs.empty()) return false;
        withheld_from = seqs.back() + 1;
        return testing::room_snapshot(follower, "focus")["seq"].get<std::uint64_t>() >=
               withheld_from + 5;
      },
      15s))
      << writer.output();
  const std::size_t before_kill = probe.messages().size();
  writer.kill_hard();
  ASSERT_TRUE(follower.wait_for_output("took over", 15s)) << follower.output();
  ASSERT_TRUE(probe.wait([&](const auto& m) { return m.size() >= before_kill + 20; }, 15s))
      << follower.output();

  const std::vector<json> events = events_of(probe);
  expect_exactly_once(events, "across the takeover");
  EXPECT_LT(events.front()["seq"].get<std::uint64_t>(), withheld_from);
  EXPECT_GT(events.back()["seq"].get<std::uint64_t>(), withheld_from + 5);
  EXPECT_TRUE(follower.wait_for_output("events the old writer had not handed", 1s))
      << follower.output();
}

}  // namespace
}  // namespace tickcast
