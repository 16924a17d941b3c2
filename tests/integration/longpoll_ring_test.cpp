// The long-poll transport's own ring, in-process with a counting sink: once a room has been
// polled, a poll whose `since` the ring holds is answered (or parked) by the transport
// itself, without a join through the sink; anything else still asks the sink.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "support/raw_socket.h"
#include "tickcast/longpoll/longpoll_transport.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;

// Answers every join with a snapshot at the room's seq (or the backlog, when asked for what
// it still has), and counts the joins; publishes under the same lock.
class CountingSink final : public Sink {
 public:
  void on_subscribe(std::string, std::optional<std::uint64_t> after, ClientRef client) override {
    std::lock_guard lock(mutex_);
    ++joins;
    if (after && *after <= seq_ && *after + events_.size() >= seq_) {
      client->join(
          JoinReply::backlog({events_.end() - long(seq_ - *after), events_.end()}, *after));
      return;
    }
    client->join(
        JoinReply::snapshot({seq_, make_payload(R"({"snapshot":)" + std::to_string(seq_) + "}"),
                             false, MessageKind::snapshot}));
  }
  void on_message(std::string, std::string, ClientRef) override {}
  void on_unsubscribe(std::string, ClientRef) override { ++leaves; }
  void publish(Transport& transport, const std::string& room) {
    std::lock_guard lock(mutex_);
    events_.push_back({++seq_, make_payload(R"({"seq":)" + std::to_string(seq_) + "}")});
    transport.publish(room, events_.back());
  }

  std::atomic<int> joins{0}, leaves{0};

 private:
  std::mutex mutex_;
  std::uint64_t seq_ = 100;
  std::vector<Message> events_;
};

using testing::RawSocket;

// "STATUS BODY" of the next response on `socket`, or what went wrong.
std::string status_and_body(RawSocket& socket) {
  const auto response = socket.response(RawSocket::Clock::now() + 10s);
  if (!response) return "no response";
  return response->substr(9, 3) + " " + response->substr(response->find("\r\n\r\n") + 4);
}

struct LongPollRing : ::testing::Test {
  LongPollRing()
      : server([] {
          http::ServerOptions options;
          options.port = 0;
          return options;
        }()) {}
  void SetUp() override {
    server.start();
    transport = std::make_unique<longpoll::LongPollTransport>(server, options);
    transport->start(sink);
  }
  void TearDown() override {
    transport->stop();
    server.stop();
  }
  std::string poll(const std::string& query) {
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Get("/poll/rooms/r" + query);
    return res ? std::to_string(res->status) + " " + res->body : "no answer";
  }

  http::Server server;
  longpoll::LongPollOptions options;
  CountingSink sink;
  std::unique_ptr<longpoll::LongPollTransport> transport;
};

TEST_F(LongPollRing, APollTheRingHoldsIsAnsweredWithoutAJoin) {
  EXPECT_EQ(poll(""), R"(200 {"events":[{"snapshot":100}],"next":100})");
  // The first poll's join, then the ring's own join of the room.
  for (int i = 0; i < 200 && sink.joins < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(sink.joins, 2);
  sink.publish(*transport, "r");
  sink.publish(*transport, "r");
  // Each publish is a task posted to the loop: a poll parked on the ring sees them arrive.
  ASSERT_NE(poll("?since=100&timeout_ms=5000").find(R"({"seq":101})"), std::string::npos);
  ASSERT_NE(poll("?since=101&timeout_ms=5000").find(R"({"seq":102})"), std::string::npos);

  EXPECT_EQ(poll("?since=100"), R"(200 {"events":[{"seq":101},{"seq":102}],"next":102})");
  EXPECT_EQ(poll("?since=101"), R"(200 {"events":[{"seq":102}],"next":102})");
  EXPECT_EQ(sink.joins, 2) << "answered from the ring";

  // Nothing after 102 yet: the poll parks on the ring and the next event answers it.
  std::thread later([&] {  // once the poll is parked (a parked poll is a client)
    for (int i = 0; i < 500 && transport->stats().clients == 0; ++i) {
      std::this_thread::sleep_for(10ms);  // polling interval of the wait
    }
    sink.publish(*transport, "r");
  });
  EXPECT_EQ(poll("?since=102&timeout_ms=5000"), R"(200 {"events":[{"seq":103}],"next":103})");
  later.join();
  EXPECT_EQ(poll("?since=103&timeout_ms=0"), R"(200 {"events":[],"next":103})");
  EXPECT_EQ(sink.joins, 2) << "parked on the ring";
  EXPECT_EQ(sink.leaves, 1) << "only the first poll left the room";

  // A position the ring does not hold (another history) asks the sink again.
  EXPECT_EQ(poll("?since=5"), R"(200 {"events":[{"snapshot":103}],"next":103})");
  EXPECT_EQ(sink.joins, 3);
}

TEST_F(LongPollRing, AForgottenRoomLosesItsRing) {
  poll("");
  for (int i = 0; i < 200 && sink.joins < 2; ++i) std::this_thread::sleep_for(10ms);
  sink.publish(*transport, "r");
  ASSERT_EQ(poll("?since=100&timeout_ms=5000"), R"(200 {"events":[{"seq":101}],"next":101})");
  const int before = sink.joins;
  ASSERT_EQ(before, 2) << "answered from the ring";
  transport->forget_room("r");  // a task posted to the loop: polls see it once it has run
  std::string answer;
  for (int i = 0; i < 500 && sink.joins == before; ++i) answer = poll("?since=100&timeout_ms=0");
  EXPECT_GT(sink.joins, before) << "without its ring, the poll joins through the sink";
  EXPECT_EQ(answer, R"(200 {"events":[{"seq":101}],"next":101})");
}

// A parked poll is answered from the fan-out pass itself, outside its connection's callbacks;
// the transaction still ends as any answer's does: an HTTP/1.1 connection takes the next
// poll, an HTTP/1.0 one is closed after its answer.
TEST_F(LongPollRing, AnAnswerFromTheFanOutEndsItsTransaction) {
  ASSERT_EQ(poll(""), R"(200 {"events":[{"snapshot":100}],"next":100})");
  for (int i = 0; i < 200 && sink.joins < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(sink.joins, 2) << "the ring joined";
  auto publish_once_parked = [&] {
    for (int i = 0; i < 500 && transport->stats().clients == 0; ++i) {
      std::this_thread::sleep_for(10ms);  // polling interval of the wait
    }
    ASSERT_EQ(transport->stats().clients, 1u) << "the poll never parked";
    sink.publish(*transport, "r");
  };

  RawSocket keep_alive(server.port());
  ASSERT_TRUE(keep_alive.connected());
  for (int seq = 100; seq < 103; ++seq) {
    ASSERT_TRUE(keep_alive.send("GET /poll/rooms/r?since=" + std::to_string(seq) +
                                "&timeout_ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::thread publisher(publish_once_parked);
    const std::string answer = status_and_body(keep_alive);
    publisher.join();
    const std::string next = std::to_string(seq + 1);
    EXPECT_EQ(answer, R"(200 {"events":[{"seq":)" + next + R"(}],"next":)" + next + "}");
  }

  RawSocket one_shot(server.port());
  ASSERT_TRUE(one_shot.connected());
  ASSERT_TRUE(one_shot.send("GET /poll/rooms/r?since=103&timeout_ms=5000 HTTP/1.0\r\n\r\n"));
  std::thread publisher(publish_once_parked);
  EXPECT_EQ(status_and_body(one_shot), R"(200 {"events":[{"seq":104}],"next":104})");
  publisher.join();
  EXPECT_TRUE(one_shot.closed_by_peer(RawSocket::Clock::now() + 10s));
  EXPECT_EQ(sink.joins, 2) << "every poll parked on the ring";
}

}  // namespace
}  // namespace tickcast
