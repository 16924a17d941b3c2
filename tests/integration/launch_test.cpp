// tickcast::launch in-process: the transports an app names, on one port (port 0), with a
// sink that answers joins; and the main thread's wait for SIGINT/SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <future>
#include <mutex>
#include <stdexcept>

#include "tickcast/launch/transports.h"
#include "tickcast/transport/stop_signals.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;

// Every join gets a snapshot at seq 0; publish() numbers the room's events under the lock.
class SnapshotSink final : public Sink {
 public:
  void on_subscribe(std::string, std::optional<std::uint64_t>, ClientRef client) override {
    std::lock_guard lock(mutex_);
    client->join(
        JoinReply::snapshot({seq_, make_payload(R"({"snapshot":)" + std::to_string(seq_) + "}"),
                             false, MessageKind::snapshot}));
  }
  void on_message(std::string, std::string, ClientRef) override {}
  void publish(launch::Transports& transports, const std::string& room) {
    std::lock_guard lock(mutex_);
    ++seq_;
    transports.publish(room, {seq_, make_payload(R"({"seq":)" + std::to_string(seq_) + "}")});
  }

 private:
  std::mutex mutex_;
  std::uint64_t seq_ = 0;
};

launch::Options on_port_0(std::vector<std::string> names) {
  launch::Options options;
  options.transports = std::move(names);
  options.http.port = 0;
  return options;
}

TEST(Launch, AnUnknownTransportIsRefusedByName) {
  try {
    launch::Transports transports(on_port_0({"ws", "carrier-pigeon"}));
    FAIL() << "accepted an unknown transport";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"carrier-pigeon\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(launch::known_transports(),
            (std::vector<std::string>{"ws", "sse", "longpoll", "socketio", "mqtt"}));
}

TEST(Launch, TheNamedTransportsShareOnePortAndEachPublish) {
  SnapshotSink sink;
  launch::Transports transports(on_port_0({"sse", "longpoll"}));
  transports.server().route("GET", "/app", [](const http::Request&, http::Responder res) {
    http::Response ok;
    ok.body = R"({"app":true})";
    res.respond(std::move(ok));
  });
  transports.start(sink);
  const int port = transports.server().port();
  EXPECT_EQ(transports.describe(), "sse, longpoll on http://127.0.0.1:" + std::to_string(port));

  httplib::Client client("127.0.0.1", port);
  auto app = client.Get("/app");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->body, R"({"app":true})") << "the app's own route on the same port";
  auto first = client.Get("/poll/rooms/r");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, R"({"events":[{"snapshot":0}],"next":0})");
  // The next publish answers a poll from the position it has (parked, or from the ring).
  auto parked = std::async(std::launch::async, [port] {
    httplib::Client poller("127.0.0.1", port);
    auto res = poller.Get("/poll/rooms/r?since=0&timeout_ms=5000");
    return res ? res->body : std::string("no answer");
  });
  std::string stream;  // the second transport, on the same port: read up to its snapshot
  client.Get("/sse/rooms/r", [&stream](const char* data, std::size_t size) {
    stream.append(data, size);
    return stream.find(R"(data: {"snapshot":0})") == std::string::npos;
  });
  EXPECT_NE(stream.find(R"(data: {"snapshot":0})"), std::string::npos) << stream;
  sink.publish(transports, "r");
  EXPECT_EQ(parked.get(), R"({"events":[{"seq":1}],"next":1})");
  transports.stop();
  transports.stop();  // idempotent
}

TEST(Launch, MqttAloneNeedsNoPortAndSaysWhereItsBrokerIs) {
  launch::Options options = on_port_0({"mqtt"});
  options.mqtt.broker_url = "mqtt://127.0.0.1:1";
  launch::Transports transports(options);
  EXPECT_EQ(transports.describe(), "mqtt via mqtt://127.0.0.1:1");
}

TEST(Launch, StopSignalsTakesSigtermInsteadOfDying) {
  StopSignals stop;
  EXPECT_FALSE(stop.wait_for(20ms)) << "nothing arrived yet";
  ASSERT_EQ(std::raise(SIGTERM), 0);  // to this thread, where it is blocked: it waits
  EXPECT_TRUE(stop.wait_for(5s));
  ASSERT_EQ(std::raise(SIGINT), 0);
  EXPECT_EQ(stop.wait(), SIGINT);
}

}  // namespace
}  // namespace tickcast
