// tickcast::httplib in-process, on its own cpp-httplib server with a sink of its own (no
// timer app): SSE events carry HttplibOptions::event_name, errors use failure_body, and a
// stream gets broadcasts only after its join reply.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tickcast/httplib/httplib_transport.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;

class GreetingSink final : public Sink {
 public:
  void on_subscribe(std::string room, std::optional<std::uint64_t>, ClientRef client) override {
    if (room == "closed") {
      client->join(JoinReply::refused({FailureCode::overloaded, "closed"},
                                      make_payload(R"({"nope":true})")));
      return;
    }
    client->join(
        JoinReply::snapshot({7, make_payload(R"({"hello":7})"), false, MessageKind::snapshot}));
    ++joins;
  }
  void on_message(std::string, std::string, ClientRef) override {}
  std::atomic<int> joins{0};
};

struct HttplibAdapter : ::testing::Test {
  void SetUp() override {
    options.event_name = "chat";
    options.max_clients = 4;
    options.failure_body = [](const Failure& f, std::string_view) {
      return std::string(R"({"mine":")") + std::string(to_string(f.code)) + "\"}";
    };
    transport = std::make_unique<httplib::HttplibTransport>(server, options);
    transport->start(sink);
    port = server.bind_to_any_port("127.0.0.1");
    listener = std::thread([this] { server.listen_after_bind(); });
    for (int i = 0; i < 300 && !server.is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  void TearDown() override {
    transport->stop();
    server.stop();
    listener.join();
  }

  ::httplib::Server server;
  httplib::HttplibOptions options;
  GreetingSink sink;
  std::unique_ptr<httplib::HttplibTransport> transport;
  int port = 0;
  std::thread listener;
};

TEST_F(HttplibAdapter, SseHonoursEventNameAndGatesOnTheJoin) {
  std::string stream;
  std::thread reader([&] {
    ::httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(3, 0);
    client.Get("/sse/rooms/lobby", [&](const char* data, std::size_t size) {
      stream.append(data, size);
      return stream.find(R"({"n":8})") == std::string::npos;
    });
  });
  for (int i = 0; i < 300 && sink.joins == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(sink.joins, 1);
  transport->publish("lobby", {7, make_payload(R"({"n":7})")});  // at the join position
  transport->publish("lobby", {8, make_payload(R"({"n":8})")});
  reader.join();
  EXPECT_NE(stream.find("id: 7\nevent: chat\ndata: {\"hello\":7}\n\n"), std::string::npos)
      << stream;
  EXPECT_NE(stream.find("id: 8\nevent: chat\ndata: {\"n\":8}\n\n"), std::string::npos) << stream;
  EXPECT_EQ(stream.find(R"({"n":7})"), std::string::npos) << "at or below the join position";
  EXPECT_EQ(stream.find("event: timer"), std::string::npos);
}

TEST_F(HttplibAdapter, ErrorsUseTheAppsFailureBodyAndRefusedJoinsTheirStatus) {
  ::httplib::Client client("127.0.0.1", port);
  auto bad = client.Get("/poll/rooms/bad%20room");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 404);
  EXPECT_EQ(bad->body, R"({"mine":"bad_room"})");
  auto refused = client.Get("/poll/rooms/closed");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->body, R"({"nope":true})");
  auto snapshot = client.Get("/poll/rooms/lobby");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->body, R"({"events":[{"hello":7}],"next":7})");
}

}  // namespace
}  // namespace tickcast
