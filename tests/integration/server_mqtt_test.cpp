// tickcast-server with MQTT beside the loop transports: one room, every protocol, with
// the real mosquitto_pub / mosquitto_sub as third-party clients.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "support/server_process.h"
#include "support/sse_reader.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::free_port;
using testing::run_command;
using testing::ServerProcess;

std::string sub_one(int port, const std::string& topic, int seconds = 5) {
  return run_command("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(port) + " -t '" + topic +
                     "' -C 1 -W " + std::to_string(seconds) + " 2>&1");
}

void pub(int port, const std::string& topic, const std::string& payload) {
  run_command("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) + " -t '" + topic + "' -m '" +
              payload + "'");
}

TEST(ServerMqtt, OneRoomServesWsSseLongPollAndMqttAtOnce) {
  const int mqtt_port = free_port();
  ServerProcess server(
      {"--transport", "all", "--tick-ms", "100", "--mqtt-port", std::to_string(mqtt_port)});
  EXPECT_NE(server.output().find("mqtt://127.0.0.1:" + std::to_string(mqtt_port)),
            std::string::npos)
      << server.output();
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("mix"));
  ASSERT_TRUE(ws.wait_open(5s));
  ASSERT_TRUE(ws.next_message(5s));  // snapshot
  testing::SseReader sse(server.port(), "/sse/rooms/mix");
  ASSERT_TRUE(sse.next_event(5s));

  // A command published over MQTT changes what ws and SSE clients see.
  pub(mqtt_port, "tickcast/rooms/mix/commands", R"({"type":"start"})");
  auto started = ws.next_message(5s);
  ASSERT_TRUE(started);
  EXPECT_EQ(json::parse(*started)["reason"], "start");
  auto sse_started = sse.next_event(5s);
  ASSERT_TRUE(sse_started);
  EXPECT_EQ(json::parse(sse_started->data)["reason"], "start");

  // A late mosquitto_sub gets the retained state at once; the events topic carries ticks.
  // The room's state has been retained since the room was made (a snapshot, not running),
  // and the broker may get the start a moment after the ws client does: read it again
  // until it shows the start, with a deadline.
  json state;
  const auto start_deadline = std::chrono::steady_clock::now() + 5s;
  do {
    state = json::parse(sub_one(mqtt_port, "tickcast/rooms/mix/state"), nullptr, false);
  } while (!(state.is_object() && state["state"].is_object() &&
             state["state"].value("running", false)) &&
           std::chrono::steady_clock::now() < start_deadline);
  EXPECT_EQ(state["room"], "mix");
  EXPECT_EQ(state["state"]["running"], true);
  const json event = json::parse(sub_one(mqtt_port, "tickcast/rooms/mix/events"));
  EXPECT_EQ(event["room"], "mix");

  // A ws command reaches MQTT subscribers, and an MQTT error goes to the requester only.
  ASSERT_TRUE(ws.send_text(R"({"type":"stop"})"));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool stopped = false;
  while (!stopped && std::chrono::steady_clock::now() < deadline) {
    const json e = json::parse(sub_one(mqtt_port, "tickcast/rooms/mix/state"));
    stopped = e["state"]["running"] == false;
  }
  EXPECT_TRUE(stopped);
  std::string error_text;
  std::atomic<bool> replied{false};
  std::thread listen([&] {
    error_text = sub_one(mqtt_port, "tickcast/rooms/mix/errors");
    replied = true;
  });
  // mosquitto_sub needs a moment to subscribe; publish until its reply is seen.
  const auto error_deadline = std::chrono::steady_clock::now() + 5s;
  while (!replied && std::chrono::steady_clock::now() < error_deadline) {
    pub(mqtt_port, "tickcast/rooms/mix/commands", R"({"type":"stop","request_id":"m1"})");
    std::this_thread::sleep_for(100ms);
  }
  listen.join();
  const json error = json::parse(error_text, nullptr, false);
  EXPECT_EQ(error["code"], "already_stopped") << error_text;

  httplib::Client http("127.0.0.1", server.port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["transports"]["mqtt"]["upstream_connected"], true);
  auto metrics = http.Get("/metrics");
  EXPECT_NE(metrics->body.find("tickcast_upstream_connected{transport=\"mqtt\"} 1"),
            std::string::npos);
}

TEST(ServerMqtt, TheEmbeddedBrokerDiesWithTheServerEvenBySigkill) {
  for (const bool hard : {false, true}) {
    const int mqtt_port = free_port();
    ServerProcess server({"--transport", "mqtt", "--mqtt-port", std::to_string(mqtt_port)});
    ASSERT_TRUE(testing::port_accepts(mqtt_port));
    if (hard) {
      server.kill_hard();
    } else {
      ASSERT_TRUE(server.terminate());
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (testing::port_accepts(mqtt_port)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the broker outlived a server ended by " << (hard ? "SIGKILL" : "SIGTERM");
      std::this_thread::sleep_for(20ms);
    }
  }
}

TEST(ServerMqtt, ATakenBrokerPortIsAClearError) {
  const int mqtt_port = free_port();
  ServerProcess first({"--transport", "mqtt", "--mqtt-port", std::to_string(mqtt_port)});
  try {
    ServerProcess second({"--transport", "mqtt", "--mqtt-port", std::to_string(mqtt_port)}, 10s);
    FAIL() << "a second server on the same broker port started";
  } catch (const std::runtime_error& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("exited at start"), std::string::npos) << text;
    EXPECT_NE(text.find(std::to_string(mqtt_port)), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace tickcast
