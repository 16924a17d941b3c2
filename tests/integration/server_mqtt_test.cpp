// tickcast-server with MQTT beside the loop transports: one room, every protocol, with
// the real mosquitto_pub / mosquitto_sub as third-party clients.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

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
  EXPECT_TRUE(server.wait_for_output("mqtt://127.0.0.1:" + std::to_string(mqtt_port)))
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

// A room's state topic holds its snapshot from the moment the room exists, whatever made
// it: a dashboard that subscribes before anyone presses start sees the room.
TEST(ServerMqtt, TheStateTopicHoldsARoomFromItsCreation) {
  const int mqtt_port = free_port();
  ServerProcess server(
      {"--transport", "all", "--tick-ms", "60000", "--mqtt-port", std::to_string(mqtt_port)});
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("via-ws"));
  ASSERT_TRUE(ws.wait_open(5s));
  ASSERT_TRUE(ws.next_message(5s));
  testing::SseReader sse(server.port(), "/sse/rooms/via-sse");
  ASSERT_TRUE(sse.next_event(5s));
  httplib::Client http("127.0.0.1", server.port());
  ASSERT_EQ(http.Get("/poll/rooms/via-poll")->status, 200);
  // A refused command still makes the room (as the contract says: its first command).
  ASSERT_EQ(
      http.Post("/api/rooms/via-rest/commands", R"({"type":"stop"})", "application/json")->status,
      409);
  pub(mqtt_port, "tickcast/rooms/via-mqtt/commands", R"({"type":"stop"})");
  for (const std::string room : {"via-ws", "via-sse", "via-poll", "via-rest", "via-mqtt"}) {
    const std::string text = sub_one(mqtt_port, "tickcast/rooms/" + room + "/state");
    const json state = json::parse(text, nullptr, false);
    ASSERT_TRUE(state.is_object()) << room << ": " << text;
    EXPECT_EQ(state["room"], room);
    EXPECT_EQ(state["reason"], "snapshot") << text;
    // The room's seq (its base: no events yet), as REST reads it.
    const auto rest = http.Get("/api/rooms/" + room);
    ASSERT_TRUE(rest) << room;
    EXPECT_EQ(state["seq"], json::parse(rest->body)["seq"]) << text << "\n" << rest->body;
    EXPECT_EQ(state["state"]["running"], false) << text;
  }
}

// MqttWatcher runs mosquitto_sub on a room's events and state topics (`-v`: "topic
// payload" lines) until it has `count` messages, and collects the lines as they come.
class MqttWatcher {
 public:
  MqttWatcher(int port, const std::string& room, int count) {
    const std::string prefix = "tickcast/rooms/" + room;
    const std::string command = "stdbuf -oL mosquitto_sub -h 127.0.0.1 -p " + std::to_string(port) +
                                " -v -t '" + prefix + "/events' -t '" + prefix + "/state' -C " +
                                std::to_string(count) + " -W 20";
    pipe_ = ::popen(command.c_str(), "r");
    reader_ = std::thread([this] {
      char line[16384];
      while (pipe_ && std::fgets(line, sizeof line, pipe_)) {
        std::string text(line);
        if (!text.empty() && text.back() == '\n') text.pop_back();
        std::lock_guard lock(mutex_);
        lines_.push_back(std::move(text));
        changed_.notify_all();
      }
    });
  }
  ~MqttWatcher() {
    reader_.join();  // mosquitto_sub exits after `count` messages or 20 s
    if (pipe_) ::pclose(pipe_);
  }
  MqttWatcher(const MqttWatcher&) = delete;
  MqttWatcher& operator=(const MqttWatcher&) = delete;

  /// wait_lines waits until `n` lines came (or the deadline) and returns every line so far.
  std::vector<std::string> wait_lines(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return lines_.size() >= n; });
    return lines_;
  }

 private:
  FILE* pipe_ = nullptr;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// Bad MQTT commands (bad JSON, oversized, bad fields, bad room topics, replies aimed at
// the room) are answered to the requester only: an MQTT subscriber of the room's events
// and state, and a WebSocket client of the room, see nothing until the next good command.
TEST(ServerMqtt, BadCommandsChangeNothingForTheRoomsSubscribers) {
  const int mqtt_port = free_port();
  ServerProcess server(
      {"--transport", "all", "--tick-ms", "60000", "--mqtt-port", std::to_string(mqtt_port)});
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(ws.wait_open(5s));
  const auto snapshot = ws.next_message(5s);
  ASSERT_TRUE(snapshot);
  const std::uint64_t base = json::parse(*snapshot)["seq"];
  // The retained snapshot is its first line: once it is there, the watcher is subscribed.
  MqttWatcher watcher(mqtt_port, "calm", 3);
  auto lines = watcher.wait_lines(1, 10s);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("tickcast/rooms/calm/state {", 0), 0u) << lines[0];

  const std::string commands = "tickcast/rooms/calm/commands";
  for (const auto& [topic, payload] : std::vector<std::pair<std::string, std::string>>{
           {commands, "{bad"},
           {commands, "[1,2]"},
           {commands, ""},
           {commands, R"({"type":"explode","request_id":"m1"})"},
           {commands, R"({"type":"configure","work_ms":1})"},
           {commands, R"({"type":"stop"})"},
           {commands, R"({"type":"start","pad":")" + std::string(5000, 'x') + "\"}"},
           {commands, R"({"type":"start","reply_to":"tickcast/rooms/calm/state"})"},
           {commands, R"({"type":"start","reply_to":"tickcast/rooms/calm/events"})"},
           {commands, R"({"type":"start","reply_to":"a/+/wildcard"})"},
           {"tickcast/rooms/calm.x/commands", R"({"type":"start"})"},
           {"tickcast/rooms//commands", R"({"type":"start"})"},
       }) {
    pub(mqtt_port, topic, payload);
  }
  // The fence, on the same path as the bad inputs (broker, then the hub in order).
  pub(mqtt_port, commands, R"({"type":"start","request_id":"fence"})");

  const auto started = ws.next_message(5s);
  ASSERT_TRUE(started);
  EXPECT_EQ(json::parse(*started)["seq"], base + 1) << *started;
  EXPECT_EQ(json::parse(*started)["reason"], "start") << *started;
  EXPECT_EQ(ws.messages_received(), 2u) << "the ws client got an extra message";

  lines = watcher.wait_lines(3, 10s);
  ASSERT_EQ(lines.size(), 3u);
  std::vector<std::string> topics;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto space = lines[i].find(' ');
    topics.push_back(lines[i].substr(0, space));
    const json event = json::parse(lines[i].substr(space + 1), nullptr, false);
    EXPECT_EQ(event["seq"], base + 1) << lines[i];
    EXPECT_EQ(event["reason"], "start") << lines[i];
  }
  std::sort(topics.begin(), topics.end());
  EXPECT_EQ(topics,
            (std::vector<std::string>{"tickcast/rooms/calm/events", "tickcast/rooms/calm/state"}));
  httplib::Client http("127.0.0.1", server.port());
  const json rooms = json::parse(http.Get("/api/rooms")->body);
  ASSERT_EQ(rooms["rooms"].size(), 1u) << "a bad room topic made a room: " << rooms.dump();
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
