// The loop with a route whose answer comes later, from another thread (as the Hub answers
// REST): lws reads nothing more of the connection meanwhile, and reads again once the
// answer is given, so pipelined requests are answered in order and a client that left is
// noticed then. In-process, port 0, raw sockets.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "tickcast/http/server.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

// Reads until `text` has arrived (true) or the deadline passes, or the peer closes (false).
bool read_until(int fd, std::string& got, const std::string& text, Clock::time_point deadline) {
  char buffer[4096];
  while (got.find(text) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// Late answers /late/{n} only when the test says so; waiting() counts the requests held.
struct LateRoute {
  std::mutex mutex;
  std::vector<std::pair<std::string, http::Responder>> held;
  std::size_t waiting() {
    std::lock_guard lock(mutex);
    return held.size();
  }
  void answer_all() {  // from the test's thread, as a Hub answers from its own
    std::lock_guard lock(mutex);
    for (auto& [n, responder] : held) {
      http::Response response;
      response.body = "answer " + n;
      responder.respond(std::move(response));
    }
    held.clear();
  }
};

struct HttpLateAnswer : ::testing::Test {
  HttpLateAnswer()
      : server([] {
          http::ServerOptions options;
          options.port = 0;
          return options;
        }()) {
    server.route("GET", "/late/{n}", [this](const http::Request& request, http::Responder res) {
      std::lock_guard lock(late.mutex);
      late.held.emplace_back(request.params.at("n"), std::move(res));
    });
    server.start();
  }
  bool wait_for_held(std::size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (late.waiting() < n && Clock::now() < deadline) ::usleep(5000);  // polling interval
    return late.waiting() >= n;
  }
  LateRoute late;
  http::Server server;
};

TEST_F(HttpLateAnswer, PipelinedRequestsAreReadAfterTheAnswerAndAnsweredInOrder) {
  const int fd = connect_to(server.port());
  const std::string get = " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_GT(::send(fd, ("GET /late/1" + get + "GET /late/2" + get).data(), 2 * (11 + get.size()),
                   MSG_NOSIGNAL),
            0);
  ASSERT_TRUE(wait_for_held(1));
  EXPECT_EQ(late.waiting(), 1u) << "the second request is not read while the first waits";
  late.answer_all();
  ASSERT_TRUE(wait_for_held(1)) << "the second request is read once the first is answered";
  late.answer_all();
  std::string got;
  ASSERT_TRUE(read_until(fd, got, "answer 2", Clock::now() + 5s)) << got;
  EXPECT_LT(got.find("answer 1"), got.find("answer 2")) << got;
  ::close(fd);
}

TEST_F(HttpLateAnswer, AClientThatLeavesBeforeItsAnswerIsDroppedAndOthersAreServed) {
  const int gone = connect_to(server.port());
  const std::string request = "GET /late/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_GT(::send(gone, request.data(), request.size(), MSG_NOSIGNAL), 0);
  ASSERT_TRUE(wait_for_held(1));
  ::close(gone);
  late.answer_all();  // to a client that has gone: dropped
  const int next = connect_to(server.port());
  const std::string second = "GET /late/y HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_GT(::send(next, second.data(), second.size(), MSG_NOSIGNAL), 0);
  ASSERT_TRUE(wait_for_held(1));
  late.answer_all();
  std::string got;
  EXPECT_TRUE(read_until(next, got, "answer y", Clock::now() + 5s)) << got;
  ::close(next);
}

}  // namespace
}  // namespace tickcast
