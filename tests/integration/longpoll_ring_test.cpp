// The long-poll transport's own ring, in-process with a counting sink: once a room has been
// polled, a poll whose `since` the ring holds is answered (or parked) by the transport
// itself, without a join through the sink; anything else still asks the sink.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

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

// One HTTP/1 connection, written and read by hand: what the server does with the connection
// after an answer (keeps it or closes it) is what is tested.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    const timeval timeout{10, 0};  // a read that gets nothing fails the test, never hangs it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool send(const std::string& request) {
    return connected_ && ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
                             static_cast<ssize_t>(request.size());
  }
  /// response reads one response with a Content-Length: "STATUS BODY", or what went wrong.
  std::string response() {
    for (;;) {
      const auto end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto at = buffer_.find("content-length: ");
        if (at == std::string::npos || at > end) return "no content-length: " + buffer_;
        const std::size_t length = std::stoul(buffer_.substr(at + 16));
        if (buffer_.size() >= end + 4 + length) {
          std::string answer = buffer_.substr(9, 3) + " " + buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return answer;
        }
      }
      if (!read_some()) return "connection ended: " + buffer_;
    }
  }
  /// closed_by_server tells whether the server ends the connection (EOF) within 10 s.
  bool closed_by_server() {
    while (read_some()) {
    }
    return eof_;
  }

 private:
  bool read_some() {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
    eof_ = n == 0;
    return n > 0;
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

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

  RawConnection keep_alive(server.port());
  for (int seq = 100; seq < 103; ++seq) {
    ASSERT_TRUE(keep_alive.send("GET /poll/rooms/r?since=" + std::to_string(seq) +
                                "&timeout_ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::thread publisher(publish_once_parked);
    const std::string answer = keep_alive.response();
    publisher.join();
    const std::string next = std::to_string(seq + 1);
    EXPECT_EQ(answer, R"(200 {"events":[{"seq":)" + next + R"(}],"next":)" + next + "}");
  }

  RawConnection one_shot(server.port());
  ASSERT_TRUE(one_shot.send("GET /poll/rooms/r?since=103&timeout_ms=5000 HTTP/1.0\r\n\r\n"));
  std::thread publisher(publish_once_parked);
  EXPECT_EQ(one_shot.response(), R"(200 {"events":[{"seq":104}],"next":104})");
  publisher.join();
  EXPECT_TRUE(one_shot.closed_by_server());
  EXPECT_EQ(sink.joins, 2) << "every poll parked on the ring";
}

}  // namespace
}  // namespace tickcast
