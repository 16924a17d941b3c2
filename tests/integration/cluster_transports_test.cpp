// Clients of every transport on two nodes of one cluster, in one room: ws, SSE, long-poll
// and MQTT (each node with its own embedded broker) on the writer and on the follower see
// the same events under the same seqs, byte for byte. Real nats-server, tickcast-server
// nodes and mosquitto; waits on conditions with deadlines.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "mqtt_test_support.h"
#include "support/nats_process.h"
#include "support/room_client.h"
#include "support/server_process.h"
#include "support/sse_reader.h"
#include "support/temp_dir.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::get_json;
using testing::ServerProcess;

// Seen is what one client got: each event's text under its seq (snapshots left out).
using Seen = std::map<std::uint64_t, std::string>;

void note(Seen& seen, const std::string& text) {
  const json e = json::parse(text, nullptr, false);
  if (e.is_object() && e.value("reason", "") != "snapshot") seen[e["seq"]] = text;
}

Seen read_ws(client::WsConnection& ws, std::uint64_t until) {
  Seen seen;
  while (seen.empty() || seen.rbegin()->first < until) {
    const auto m = ws.next_message(5s);
    if (!m) break;
    note(seen, *m);
  }
  return seen;
}

Seen read_sse(testing::SseReader& sse, std::uint64_t until) {
  Seen seen;
  while (seen.empty() || seen.rbegin()->first < until) {
    const auto e = sse.next_event(5s);
    if (!e) break;
    note(seen, e->data);
  }
  return seen;
}

// read_poll long-polls from `since` until `until`; each event re-serialised from the array.
Seen read_poll(const ServerProcess& node, std::uint64_t since, std::uint64_t until) {
  Seen seen;
  for (int polls = 0; since < until && polls < 50; ++polls) {
    const json answer =
        get_json(node, "/poll/rooms/mix?since=" + std::to_string(since) + "&timeout_ms=2000");
    for (const json& e : answer.value("events", json::array())) note(seen, e.dump());
    since = answer.value("next", since);
  }
  return seen;
}

Seen read_mqtt(mqtt_test::MqttProbe& probe, std::uint64_t until) {
  probe.wait(
      [&](const auto& all) {
        return !all.empty() &&
               json::parse(all.back().payload, nullptr, false).value("seq", 0ull) >= until;
      },
      10s);
  Seen seen;
  for (const auto& m : probe.messages()) note(seen, m.payload);
  return seen;
}

TEST(ClusterTransports, ClientsOfEveryTransportOnTwoNodesSeeTheSameEvents) {
  if (!testing::nats_server_available()) GTEST_SKIP() << "no nats-server (scripts/setup.sh)";
  testing::TempDir dir("tickcast-nats");
  testing::NatsServer nats("n1", dir.path(), testing::free_port());
  const int mqtt_a = testing::free_port();
  const int mqtt_b = testing::free_port();
  const auto args = [&](int mqtt) {
    return std::vector<std::string>{
        "--transport", "all",       "--tick-ms", "100",         "--work",
        "1h",          "--cluster", nats.url(),  "--mqtt-port", std::to_string(mqtt)};
  };
  ServerProcess a(args(mqtt_a));  // the writer
  ServerProcess b(args(mqtt_b));
  ASSERT_TRUE(b.wait_for_output("follower")) << b.output();
  ASSERT_TRUE(a.wait_for_output("mqtt ")) << a.output();
  ASSERT_TRUE(b.wait_for_output("mqtt ")) << b.output();

  client::WsClientPool pool;
  auto ws_a = pool.connect(a.ws_url("mix"));
  auto ws_b = pool.connect(b.ws_url("mix"));
  ASSERT_TRUE(ws_a.wait_open(5s));
  ASSERT_TRUE(ws_b.wait_open(5s));
  ASSERT_TRUE(ws_a.next_message(5s));  // the snapshots: both joined
  ASSERT_TRUE(ws_b.next_message(5s));
  testing::SseReader sse_a(a.port(), "/sse/rooms/mix");
  testing::SseReader sse_b(b.port(), "/sse/rooms/mix");
  ASSERT_TRUE(sse_a.next_event(5s));
  ASSERT_TRUE(sse_b.next_event(5s));
  mqtt_test::MqttProbe mqtt_on_a(mqtt_a, {"tickcast/rooms/mix/events"});
  mqtt_test::MqttProbe mqtt_on_b(mqtt_b, {"tickcast/rooms/mix/events"});
  ASSERT_TRUE(mqtt_on_a.wait_subscribed(10s));
  ASSERT_TRUE(mqtt_on_b.wait_subscribed(10s));

  const std::uint64_t before = get_json(a, "/api/rooms/mix")["seq"];
  ASSERT_EQ(testing::post_command(b, "mix", R"({"type":"start"})").status, 200) << b.output();
  const std::uint64_t until = before + 20;  // the start and 19 ticks

  const std::map<std::string, Seen> clients{
      {"ws on the writer", read_ws(ws_a, until)},
      {"ws on the follower", read_ws(ws_b, until)},
      {"sse on the writer", read_sse(sse_a, until)},
      {"sse on the follower", read_sse(sse_b, until)},
      {"long-poll on the writer", read_poll(a, before, until)},
      {"long-poll on the follower", read_poll(b, before, until)},
      {"mqtt on the writer's broker", read_mqtt(mqtt_on_a, until)},
      {"mqtt on the follower's broker", read_mqtt(mqtt_on_b, until)},
  };
  const Seen& reference = clients.at("sse on the writer");
  for (std::uint64_t seq = before + 1; seq <= until; ++seq) {
    const auto ref = reference.find(seq);
    ASSERT_NE(ref, reference.end()) << "sse on the writer missed " << seq;
    for (const auto& [who, seen] : clients) {
      const auto it = seen.find(seq);
      ASSERT_NE(it, seen.end()) << who << " missed seq " << seq;
      EXPECT_EQ(json::parse(it->second), json::parse(ref->second)) << who << ", seq " << seq;
    }
  }
  EXPECT_EQ(json::parse(reference.at(before + 1))["reason"], "start");
}

}  // namespace
}  // namespace tickcast
