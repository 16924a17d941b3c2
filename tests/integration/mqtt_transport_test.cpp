// Integration tests of tickcast::mqtt against a real mosquitto broker on loopback, with a
// real Hub, the third-party clients mosquitto_sub/mosquitto_pub and libmosquitto probes.

#include "tickcast/mqtt/mqtt_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "mqtt_test_support.h"
#include "tickcast/core/hub.h"

namespace tickcast::mqtt_test {
namespace {

using tickcast::mqtt::MqttOptions;
using tickcast::mqtt::MqttTransport;

std::string port_arg(int port) { return std::to_string(port); }

// mosquitto_pub one message (MQTT 3.1.1 unless extra args say otherwise); waits for it.
void pub(int port, const std::string& topic, const std::string& payload,
         std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"mosquitto_pub", "-h", "127.0.0.1", "-p",
                                   port_arg(port),  "-q", "1",         "-t",
                                   topic,           "-m", payload};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto [code, out] = run(args);
  ASSERT_EQ(code, 0) << "mosquitto_pub failed: " << out;
}

std::vector<RoomSummary> rooms_of(Hub& hub) {
  std::mutex mutex;
  std::condition_variable done;
  std::optional<std::vector<RoomSummary>> result;
  hub.rooms([&](std::vector<RoomSummary> rooms) {
    std::lock_guard lock(mutex);
    result = std::move(rooms);
    done.notify_all();
  });
  std::unique_lock lock(mutex);
  if (!done.wait_for(lock, 5s, [&] { return result.has_value(); })) return {};
  return *result;
}

std::optional<RoomSummary> room_of(Hub& hub, const std::string& name) {
  for (auto& r : rooms_of(hub)) {
    if (r.name == name) return r;
  }
  return std::nullopt;
}

// A hub ticking every 50 ms, with a RecordingTransport (standing in for ws) and the MQTT
// transport attached, against a test broker.
struct MqttTransportTest : ::testing::Test {
  MqttTransportTest() : hub(HubOptions{TimerConfig{}, Millis(50), 256, 1000}, clock) {}

  void SetUp() override {
    MqttOptions options;
    options.broker_url = broker.url();
    options.reconnect_delay_min_s = 1;
    options.reconnect_delay_max_s = 2;
    options.connect_timeout = 5000ms;
    mqtt = std::make_unique<MqttTransport>(options);
    hub.add_transport(recording);
    hub.add_transport(*mqtt);
    mqtt->start(hub);
    hub.start();
  }
  void TearDown() override {
    hub.stop();
    mqtt->stop();
  }

  TestBroker broker;
  SystemClock clock;
  RecordingTransport recording;
  Hub hub;
  std::unique_ptr<MqttTransport> mqtt;
};

TEST_F(MqttTransportTest, ConnectsAndReportsTheBroker) {
  EXPECT_EQ(mqtt->name(), "mqtt");
  EXPECT_EQ(mqtt->broker_url(), broker.url());
  EXPECT_EQ(mqtt->websocket_url(), "");
  EXPECT_EQ(mqtt->embedded_broker_pid(), 0);
  const auto stats = mqtt->stats();
  EXPECT_TRUE(stats.accepting);
  ASSERT_TRUE(stats.upstream_connected.has_value());
  EXPECT_TRUE(*stats.upstream_connected);
}

TEST_F(MqttTransportTest, LateMosquittoSubGetsTheRetainedStateAtOnce) {
  MqttProbe probe(broker.port(), {"tickcast/rooms/late/state"});
  ASSERT_TRUE(probe.wait_subscribed(5s));
  pub(broker.port(), "tickcast/rooms/late/commands", R"({"type":"configure","work_ms":60000})");
  // The broker has the state once a subscriber got it; the room is stopped, so nothing
  // newer will be published.
  ASSERT_TRUE(probe.wait([](auto& m) { return !m.empty(); }, 5s));

  // "%r %p": the retained flag, then the payload. The broker marks a message it kept for
  // late subscribers as retained; a live publish would not be.
  const auto [code, out] =
      run({"mosquitto_sub", "-h", "127.0.0.1", "-p", port_arg(broker.port()), "-t",
           "tickcast/rooms/late/state", "-C", "1", "-W", "10", "-F", "%r %p"});
  ASSERT_EQ(code, 0) << "mosquitto_sub got nothing: " << out;
  ASSERT_EQ(out.substr(0, 2), "1 ") << "the state should come as the retained message: " << out;
  const auto event = json::parse(out.substr(2));
  EXPECT_EQ(event["event"], "timer");
  EXPECT_EQ(event["room"], "late");
  EXPECT_EQ(event["reason"], "configure");
  auto late_room = room_of(hub, "late");
  ASSERT_TRUE(late_room);
  EXPECT_EQ(event["seq"], late_room->seq) << "the room's first and only event";
  EXPECT_EQ(event["state"]["remaining_ms"], 60000);
  EXPECT_EQ(event["state"]["running"], false);
}

TEST_F(MqttTransportTest, MosquittoPubCommandsDriveTheRoomForEveryTransport) {
  MqttProbe probe(broker.port(), {"tickcast/rooms/focus/events"});
  ASSERT_TRUE(probe.wait_subscribed(5s));
  pub(broker.port(), "tickcast/rooms/focus/commands", R"({"type":"start","request_id":"a"})");
  ASSERT_TRUE(recording.wait(
      [](auto& e) { return RecordingTransport::count(e, "focus", "tick") >= 3; }, 5s));
  auto room = room_of(hub, "focus");
  ASSERT_TRUE(room);
  EXPECT_TRUE(room->state.running);
  // MQTT subscribers see the same events, in order.
  ASSERT_TRUE(probe.wait([](auto& m) { return m.size() >= 4; }, 5s));
  const auto seqs = probe.seqs();
  for (std::size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[0] + i);
  EXPECT_EQ(json::parse(probe.messages()[0].payload)["reason"], "start");

  pub(broker.port(), "tickcast/rooms/focus/commands", R"({"type":"stop"})");
  ASSERT_TRUE(recording.wait(
      [](auto& e) { return RecordingTransport::count(e, "focus", "stop") == 1; }, 5s));
  room = room_of(hub, "focus");
  ASSERT_TRUE(room);
  EXPECT_FALSE(room->state.running);
  ASSERT_TRUE(probe.wait(
      [](auto& m) { return !m.empty() && json::parse(m.back().payload)["reason"] == "stop"; }, 5s));
  EXPECT_GT(mqtt->stats().messages_sent, 4u);
}

// Every bad input gets its error on the requester's topic; no room changes, no room sees it.
TEST_F(MqttTransportTest, BadInputGetsAnErrorOnTheRightTopicAndChangesNothing) {
  MqttProbe probe(broker.port(), {"#"});
  ASSERT_TRUE(probe.wait_subscribed(5s));
  pub(broker.port(), "tickcast/rooms/calm/commands", R"({"type":"configure","work_ms":60000})");
  ASSERT_TRUE(recording.wait([](auto& e) { return e.size() == 1; }, 5s));
  const auto rooms_before = rooms_of(hub);
  ASSERT_EQ(rooms_before.size(), 1u);

  struct Case {
    std::string name, topic, payload;
    std::vector<std::string> extra;
    std::string reply_topic, code, request_id, correlation;
  };
  const std::string calm = "tickcast/rooms/calm/commands";
  const std::string calm_errors = "tickcast/rooms/calm/errors";
  const std::string long_room(65, 'x');
  const std::vector<Case> cases = {
      {"bad json", calm, "{bad", {}, calm_errors, "bad_request", "", ""},
      {"not an object", calm, "[1,2]", {}, calm_errors, "bad_request", "", ""},
      {"unknown type",
       calm,
       R"({"type":"explode","request_id":"r3"})",
       {},
       calm_errors,
       "unknown_command",
       "r3",
       ""},
      {"too large",
       calm,
       R"({"type":"start","pad":")" + std::string(5000, 'p') + "\"}",
       {},
       calm_errors,
       "too_large",
       "",
       ""},
      {"bad room",
       "tickcast/rooms/bad room!/commands",
       R"({"type":"start"})",
       {},
       "tickcast/rooms/bad room!/errors",
       "bad_room",
       "",
       ""},
      {"room too long",
       "tickcast/rooms/" + long_room + "/commands",
       R"({"type":"start"})",
       {},
       "tickcast/rooms/" + long_room + "/errors",
       "bad_room",
       "",
       ""},
      {"bad room with reply_to",
       "tickcast/rooms/a.b/commands",
       R"({"type":"start","reply_to":"replies/json","request_id":"r7"})",
       {},
       "replies/json",
       "bad_room",
       "r7",
       ""},
      {"state conflict with reply_to",
       calm,
       R"({"type":"stop","reply_to":"replies/json"})",
       {},
       "replies/json",
       "already_stopped",
       "",
       ""},
      {"mqtt5 response topic",
       calm,
       R"({"type":"stop","request_id":"r9"})",
       {"-V", "5", "-D", "publish", "response-topic", "replies/v5", "-D", "publish",
        "correlation-data", "corr-42"},
       "replies/v5",
       "already_stopped",
       "r9",
       "corr-42"},
      {"reply_to aimed at a room",
       calm,
       R"({"type":"start","reply_to":"tickcast/rooms/calm/events"})",
       {},
       calm_errors,
       "bad_request",
       "",
       ""},
      {"bad configure",
       calm,
       R"({"type":"configure","work_ms":1})",
       {},
       calm_errors,
       "bad_request",
       "",
       ""},
  };
  auto is_error = [](const Received& r) {
    const auto j = json::parse(r.payload, nullptr, false);
    return j.is_object() && j.value("success", true) == false;
  };
  std::size_t errors_seen = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    pub(broker.port(), c.topic, c.payload, c.extra);
    ASSERT_TRUE(probe.wait(
        [&](auto& m) { return std::count_if(m.begin(), m.end(), is_error) > (long)errors_seen; },
        5s))
        << "no error for " << c.name;
    ++errors_seen;
    const auto messages = probe.messages();
    const auto it = std::find_if(messages.rbegin(), messages.rend(), is_error);
    EXPECT_EQ(it->topic, c.reply_topic);
    const auto error = json::parse(it->payload);
    EXPECT_EQ(error["event"], "timer");
    EXPECT_EQ(error["code"], c.code);
    EXPECT_TRUE(error["data"].is_null());
    EXPECT_TRUE(error["error"].is_string());
    if (!c.request_id.empty()) {
      EXPECT_EQ(error["request_id"], c.request_id);
    }
    EXPECT_EQ(it->correlation, c.correlation);
    EXPECT_FALSE(it->retain);
  }
  // A fence: a good command in another room; once its event is out, anything the bad
  // inputs might have caused would have been published before it.
  pub(broker.port(), "tickcast/rooms/fence/commands", R"({"type":"reset"})");
  ASSERT_TRUE(probe.wait(
      [](auto& m) {
        return std::any_of(m.begin(), m.end(),
                           [](auto& r) { return r.topic == "tickcast/rooms/fence/events"; });
      },
      5s));
  const auto messages = probe.messages();
  EXPECT_EQ(std::count_if(messages.begin(), messages.end(), is_error), (long)cases.size());
  for (const auto& r : messages) {
    const bool room_topic = r.topic.ends_with("/events") || r.topic.ends_with("/state");
    if (room_topic) {
      EXPECT_FALSE(is_error(r)) << "an error reached a room topic: " << r.topic;
      EXPECT_TRUE(r.topic.starts_with("tickcast/rooms/calm/") ||
                  r.topic.starts_with("tickcast/rooms/fence/"))
          << r.topic;
    }
  }
  EXPECT_EQ(recording.published("calm").size(), 1u) << "calm must be unchanged";
  const auto rooms_after = rooms_of(hub);
  ASSERT_EQ(rooms_after.size(), 2u) << "bad rooms must not be created";
  EXPECT_EQ(rooms_after[0].name, "calm");
  EXPECT_EQ(rooms_after[0].seq,
            recording.published("calm").at(0).event["seq"].get<std::uint64_t>());
  EXPECT_FALSE(rooms_after[0].state.running);
  EXPECT_EQ(rooms_after[1].name, "fence");
  EXPECT_EQ(mqtt->stats().clients_refused, 2u) << "too large and bad reply_to are refused here";
  EXPECT_TRUE(mqtt->stats().upstream_connected.value_or(false));
}

// A command published with the retain flag runs once, when it is published; the copy the
// broker keeps and hands to every new subscription (a restart, a reconnect) is not run again.
TEST(MqttTransportRetainedCommands, AStoredCommandIsNotRunAgain) {
  TestBroker broker;
  pub(broker.port(), "tickcast/rooms/stale/commands", R"({"type":"start"})", {"-r"});
  SystemClock clock;
  RecordingTransport recording;
  Hub hub(HubOptions{TimerConfig{}, Millis(60000), 64, 100}, clock);
  MqttOptions options;
  options.broker_url = broker.url();
  MqttTransport mqtt(options);
  hub.add_transport(recording);
  hub.add_transport(mqtt);
  mqtt.start(hub);
  hub.start();
  // A fence behind the retained copy: both come through the same subscription, in order.
  pub(broker.port(), "tickcast/rooms/fence/commands", R"({"type":"reset"})");
  ASSERT_TRUE(
      recording.wait([](auto& e) { return RecordingTransport::count(e, "fence") >= 1; }, 5s));
  EXPECT_FALSE(room_of(hub, "stale")) << "a retained command ran again on subscribe";
  hub.stop();
  mqtt.stop();
}

// kill -9 the broker, start it again on the same port: the hub never stops ticking for the
// other transports, the transport reconnects, re-subscribes and re-publishes retained state.
TEST_F(MqttTransportTest, SurvivesABrokerKilledAndRestarted) {
  auto probe = std::make_unique<MqttProbe>(broker.port(),
                                           std::vector<std::string>{"tickcast/rooms/live/events"});
  ASSERT_TRUE(probe->wait_subscribed(5s));
  pub(broker.port(), "tickcast/rooms/still/commands", R"({"type":"configure","work_ms":120000})");
  pub(broker.port(), "tickcast/rooms/live/commands", R"({"type":"start"})");
  ASSERT_TRUE(probe->wait([](auto& m) { return m.size() >= 5; }, 5s));

  broker.kill9();
  ASSERT_TRUE(poll_until([&] { return !mqtt->stats().upstream_connected.value_or(true); }, 5s));
  EXPECT_FALSE(mqtt->stats().accepting);
  const std::size_t before = recording.published("live").size();
  // Ticks keep flowing to the other transport while the broker is down.
  ASSERT_TRUE(recording.wait(
      [&](auto& e) { return RecordingTransport::count(e, "live") >= before + 10; }, 5s));

  broker.start();
  ASSERT_TRUE(poll_until([&] { return mqtt->stats().upstream_connected.value_or(false); }, 20s))
      << "the transport did not reconnect";
  EXPECT_TRUE(mqtt->stats().accepting);

  // The retained state of a stopped room is back although the new broker started empty.
  const auto [code, out] = run({"mosquitto_sub", "-h", "127.0.0.1", "-p", port_arg(broker.port()),
                                "-t", "tickcast/rooms/still/state", "-C", "1", "-W", "5"});
  ASSERT_EQ(code, 0) << "no retained state after the restart";
  EXPECT_EQ(json::parse(out)["state"]["remaining_ms"], 120000);

  // The probe resumes receiving, with seqs past the outage.
  const std::uint64_t hub_seq_at_reconnect = recording.published("live").back().event["seq"];
  ASSERT_TRUE(
      probe->wait_seqs([&](auto& s) { return !s.empty() && s.back() > hub_seq_at_reconnect; }, 10s))
      << "MQTT subscribers did not resume";

  // Commands work again: the subscription was restored in the on-connect callback.
  pub(broker.port(), "tickcast/rooms/live/commands", R"({"type":"stop"})");
  ASSERT_TRUE(recording.wait(
      [](auto& e) { return RecordingTransport::count(e, "live", "stop") == 1; }, 5s));

  // The hub kept ticking through the whole outage (the ten ticks above arrived while the
  // broker was down), and the room's seq never skipped.
  const auto events = recording.published("live");
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event["seq"].get<std::uint64_t>(),
              events[i - 1].event["seq"].get<std::uint64_t>() + 1);
  }
}

// 200 MQTT subscribers get every event at a 50 ms tick for two seconds: zero loss.
TEST_F(MqttTransportTest, TwoHundredSubscribersReceiveEveryEvent) {
  constexpr int kSubscribers = 200;
  std::vector<std::unique_ptr<MqttProbe>> probes;
  probes.reserve(kSubscribers);
  for (int i = 0; i < kSubscribers; ++i) {
    probes.push_back(std::make_unique<MqttProbe>(
        broker.port(), std::vector<std::string>{"tickcast/rooms/crowd/events"}, false));
  }
  for (auto& p : probes) ASSERT_TRUE(p->wait_subscribed(10s));

  pub(broker.port(), "tickcast/rooms/crowd/commands", R"({"type":"start"})");
  ASSERT_TRUE(recording.wait(
      [](auto& e) { return RecordingTransport::count(e, "crowd", "tick") >= 40; }, 10s));
  pub(broker.port(), "tickcast/rooms/crowd/commands", R"({"type":"stop"})");
  ASSERT_TRUE(recording.wait(
      [](auto& e) { return RecordingTransport::count(e, "crowd", "stop") == 1; }, 5s));
  // Seqs are relative to the room's first event (start).
  const std::uint64_t first = recording.published("crowd").front().event["seq"];
  const std::uint64_t last = recording.published("crowd").back().event["seq"];
  ASSERT_GE(last, first + 41);

  std::uint64_t lost = 0, duplicated = 0;
  for (auto& p : probes) {
    p->wait_seqs([&](auto& s) { return !s.empty() && s.back() == last; }, 5s);
    const auto seqs = p->seqs();
    const std::set<std::uint64_t> unique(seqs.begin(), seqs.end());
    duplicated += seqs.size() - unique.size();
    for (std::uint64_t s = first; s <= last; ++s) lost += unique.count(s) == 0 ? 1 : 0;
  }
  EXPECT_EQ(lost, 0u) << "events lost across " << kSubscribers << " subscribers";
  EXPECT_EQ(duplicated, 0u);
}

TEST(MqttTransportOptions, RejectsBadUrlsAndPrefixes) {
  for (const char* url : {"http://h:1", "mqtt://", "mqtt://host:0", "mqtt://host:99999",
                          "mqtt://host:12x", "mqtt://[::1"}) {
    MqttOptions options;
    options.broker_url = url;
    EXPECT_THROW(MqttTransport{options}, std::invalid_argument) << url;
  }
  for (const char* prefix : {"", "a/#", "+", "/lead", "trail/"}) {
    MqttOptions options;
    options.broker_url = "mqtt://127.0.0.1:1883";
    options.topic_prefix = prefix;
    EXPECT_THROW(MqttTransport{options}, std::invalid_argument) << prefix;
  }
  MqttOptions good;
  good.broker_url = "mqtts://user:pw@[::1]:8883/";
  EXPECT_NO_THROW(MqttTransport{good});
}

TEST(MqttTransportStart, GivesUpOnAnAbsentBrokerWithAClearError) {
  SystemClock clock;
  Hub hub(HubOptions{}, clock);
  MqttOptions options;
  options.broker_url = "mqtt://127.0.0.1:" + std::to_string(free_port());
  options.connect_timeout = 1500ms;
  MqttTransport mqtt(options);
  const auto started = SteadyClock::now();
  try {
    mqtt.start(hub);
    FAIL() << "start should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("could not connect"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(options.broker_url), std::string::npos) << e.what();
  }
  // A deadline against hanging, not a measurement: start gives up after connect_timeout.
  EXPECT_LT(SteadyClock::now() - started, 30s);
  EXPECT_FALSE(mqtt.stats().upstream_connected.value_or(true));
}

// The embedded broker: started from a generated config, serves MQTT and WebSocket,
// gone after stop().
TEST(MqttEmbeddedBroker, StartsServesAndStops) {
  SystemClock clock;
  RecordingTransport recording;
  Hub hub(HubOptions{TimerConfig{}, Millis(50), 64, 100}, clock);
  MqttOptions options;
  options.port = free_port();
  options.websocket_port = free_port();
  MqttTransport mqtt(options);
  hub.add_transport(recording);
  hub.add_transport(mqtt);
  mqtt.start(hub);
  hub.start();
  const pid_t pid = mqtt.embedded_broker_pid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(mqtt.broker_url(), "mqtt://127.0.0.1:" + std::to_string(options.port));
  EXPECT_EQ(mqtt.websocket_url(), "ws://127.0.0.1:" + std::to_string(options.websocket_port));
  EXPECT_TRUE(mqtt.stats().upstream_connected.value_or(false));

  pub(options.port, "tickcast/rooms/emb/commands", R"({"type":"start"})");
  ASSERT_TRUE(recording.wait([](auto& e) { return RecordingTransport::count(e, "emb") >= 2; }, 5s));
  const auto [code, out] = run({"mosquitto_sub", "-h", "127.0.0.1", "-p", port_arg(options.port),
                                "-t", "tickcast/rooms/emb/events", "-C", "2", "-W", "5"});
  EXPECT_EQ(code, 0) << out;

  // The WebSocket listener speaks MQTT-over-WebSocket: the upgrade is accepted.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(options.websocket_port));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string request =
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), (ssize_t)request.size());
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    char buffer[512] = {};
    ASSERT_GT(::recv(fd, buffer, sizeof buffer - 1, 0), 0);
    EXPECT_TRUE(std::string(buffer).starts_with("HTTP/1.1 101")) << buffer;
    ::close(fd);
  }

  hub.stop();
  mqtt.stop();
  EXPECT_EQ(mqtt.embedded_broker_pid(), 0);
  EXPECT_TRUE(process_gone(pid)) << "the embedded broker outlived stop()";
  EXPECT_FALSE(port_accepts(options.port));
  EXPECT_FALSE(port_accepts(options.websocket_port));
}

TEST(MqttEmbeddedBroker, RefusesAPortInUseWithAClearError) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

  SystemClock clock;
  Hub hub(HubOptions{}, clock);
  MqttOptions options;
  options.port = ntohs(addr.sin_port);
  MqttTransport mqtt(options);
  const auto started = SteadyClock::now();
  try {
    mqtt.start(hub);
    FAIL() << "start should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
  }
  EXPECT_LT(SteadyClock::now() - started, 30s) << "a taken port must not hang";
  EXPECT_EQ(mqtt.embedded_broker_pid(), 0);
  ::close(fd);
}

TEST(MqttEmbeddedBroker, ReportsAMissingBinary) {
  SystemClock clock;
  Hub hub(HubOptions{}, clock);
  MqttOptions options;
  options.port = free_port();
  options.mosquitto_binary = "/nonexistent/mosquitto";
  MqttTransport mqtt(options);
  try {
    mqtt.start(hub);
    FAIL() << "start should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/mosquitto"), std::string::npos) << e.what();
  }
}

// SIGKILL the process that owns the transport: its broker must die too (PR_SET_PDEATHSIG).
// This test process becomes a child subreaper, so the orphaned broker is reparented to it
// and can be reaped and inspected here.
TEST(MqttEmbeddedBroker, DiesWithItsOwnerEvenOnSigkill) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  struct ResetSubreaper {
    ~ResetSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } reset;
  const int port = free_port();
  ChildProcess owner({.argv = {TICKCAST_MQTT_CHILD, std::to_string(port)},
                      .output = ChildOptions::Output::pipe,
                      .stop_grace = 0ms});
  const auto line = owner.read_line(15s);
  ASSERT_TRUE(line.has_value()) << "the owner process did not start its broker";
  ASSERT_TRUE(line->starts_with("broker-pid ")) << *line;
  const pid_t broker_pid = std::stoi(line->substr(11));
  ASSERT_GT(broker_pid, 0);
  ASSERT_TRUE(port_accepts(port));

  owner.signal(SIGKILL);
  ASSERT_TRUE(owner.wait(5s).has_value());
  int status = 0;
  const bool reaped =
      poll_until([&] { return ::waitpid(broker_pid, &status, WNOHANG) == broker_pid; }, 5s);
  ASSERT_TRUE(reaped) << "the embedded broker outlived its SIGKILLed owner";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(port_accepts(port));
}

}  // namespace
}  // namespace tickcast::mqtt_test
