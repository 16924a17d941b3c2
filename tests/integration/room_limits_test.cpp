// Room exhaustion against the real tickcast-server: an attacker creating rooms in a loop
// from one address cannot stop a user on another address from joining a new room, and
// idle rooms are evicted while joined ones stay.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support/server_process.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ServerProcess;

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// http_from sends one `Connection: close` request to 127.0.0.1:port from the loopback
// address `source` (any 127.x.y.z works on Linux without setup), so the server sees
// another client address than the test's usual 127.0.0.1.
HttpAnswer http_from(const std::string& source, int port, const std::string& method,
                     const std::string& path, const std::string& body = {}) {
  HttpAnswer answer;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    ADD_FAILURE() << "cannot connect from " << source;
    return answer;
  }
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (raw.rfind("HTTP/1.1 ", 0) == 0) answer.status = std::atoi(raw.c_str() + 9);
  if (const auto end = raw.find("\r\n\r\n"); end != std::string::npos) {
    answer.body = raw.substr(end + 4);
  }
  return answer;
}

// The attacker: new rooms as fast as one keep-alive connection from 127.0.0.1 allows.
// Returns how many were refused with 429 rate_limited.
int create_rooms_in_a_loop(const ServerProcess& server, int rooms) {
  httplib::Client http("127.0.0.1", server.port());
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  int refused = 0;
  for (int i = 0; i < rooms; ++i) {
    auto res = http.Post(("/api/rooms/attack" + std::to_string(i) + "/commands").c_str(),
                         R"({"type":"reset"})", "application/json");
    if (!res) {
      ADD_FAILURE() << "request " << i << " failed";
      break;
    }
    if (res->status == 429) {
      EXPECT_EQ(json::parse(res->body)["code"], "rate_limited");
      ++refused;
    }
  }
  return refused;
}

std::uint64_t metric(const ServerProcess& server, const std::string& line_prefix) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get("/metrics");
  if (!res) return 0;
  const auto at = res->body.find("\n" + line_prefix + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(res->body.substr(at + line_prefix.size() + 2));
}

TEST(RoomLimits, AnAttackerCreatingRoomsInALoopCannotLockOutAnotherAddress) {
  // Rooms are few here, so the attack would fill them (see the next test).
  ServerProcess server({"--transport", "ws,sse,longpoll", "--max-rooms", "100",
                        "--room-create-rate", "30", "--room-create-burst", "20"});
  const int refused = create_rooms_in_a_loop(server, 300);
  EXPECT_GT(refused, 200) << "the limiter let most of the attack through";
  EXPECT_EQ(metric(server, "tickcast_room_creations_refused_total{reason=\"rate\"}"),
            static_cast<std::uint64_t>(refused));

  // The attacker's WebSocket joins of new rooms are refused too: an error event, then 1008.
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("attack-ws"));
  ASSERT_TRUE(ws.wait_closed(5s));  // it opens, gets the error and the close at once
  EXPECT_EQ(ws.close_code(), 1008) << ws.error();
  const auto message = ws.next_message(1s);  // queued before the close
  ASSERT_TRUE(message);
  EXPECT_EQ(json::parse(*message)["code"], "rate_limited");

  // So are its long-polls (429 with the error event) and SSE streams (the error event).
  httplib::Client http("127.0.0.1", server.port());
  auto poll = http.Get("/poll/rooms/attack-poll");
  ASSERT_TRUE(poll);
  EXPECT_EQ(poll->status, 429);
  EXPECT_EQ(json::parse(poll->body)["code"], "rate_limited");
  const std::string sse = testing::raw_http(
      server.port(), "GET /sse/rooms/attack-sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(sse.find(R"("code":"rate_limited")"), std::string::npos) << sse;

  // A user on another address joins a new room (a long-poll join) and starts its timer.
  const HttpAnswer joined = http_from("127.0.0.2", server.port(), "GET", "/poll/rooms/legit");
  ASSERT_EQ(joined.status, 200) << joined.body;
  EXPECT_EQ(json::parse(joined.body)["events"][0]["reason"], "snapshot");
  const HttpAnswer started = http_from("127.0.0.2", server.port(), "POST",
                                       "/api/rooms/legit/commands", R"({"type":"start"})");
  EXPECT_EQ(started.status, 200) << started.body;
}

TEST(RoomLimits, WithoutTheLimitTheSameAttackLocksEveryoneOut) {
  ServerProcess server(
      {"--transport", "ws,longpoll", "--max-rooms", "100", "--room-create-rate", "0"});
  EXPECT_EQ(create_rooms_in_a_loop(server, 300), 0);
  const HttpAnswer joined = http_from("127.0.0.2", server.port(), "GET", "/poll/rooms/legit");
  EXPECT_EQ(joined.status, 503) << joined.body;
  EXPECT_EQ(json::parse(joined.body)["code"], "overloaded");
  EXPECT_EQ(metric(server, "tickcast_room_creations_refused_total{reason=\"full\"}"), 201u);
}

bool listed(const ServerProcess& server, const std::string& room) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get("/api/rooms");
  if (!res) return false;
  const json body = json::parse(res->body);
  for (const auto& r : body["rooms"]) {
    if (r["room"] == room) return true;
  }
  return false;
}

TEST(RoomLimits, IdleRoomsAreEvictedAndJoinedOnesStay) {
  ServerProcess server({"--transport", "ws", "--room-idle", "1s"});
  httplib::Client http("127.0.0.1", server.port());
  // Both rooms are made together; only "held" has a client.
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("held"));
  ASSERT_TRUE(ws.wait_open(5s));
  ASSERT_TRUE(ws.next_message(5s));
  auto res = http.Post("/api/rooms/gone/commands", R"({"type":"configure","work_ms":60000})",
                       "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);

  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (listed(server, "gone") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polling interval of the wait, not a synchronisation
  }
  ASSERT_FALSE(listed(server, "gone")) << "the idle room was not evicted";
  EXPECT_TRUE(listed(server, "held")) << "a joined room was evicted";
  EXPECT_GE(metric(server, "tickcast_rooms_evicted_total"), 1u);

  // Created again, it starts afresh, above every seq the old one used (its configure was 1).
  res = http.Get("/api/rooms/gone");
  ASSERT_TRUE(res);
  const json snapshot = json::parse(res->body);
  EXPECT_EQ(snapshot["data"], "00:25:00");
  EXPECT_GT(snapshot["seq"].get<std::uint64_t>(), 1u);
}

}  // namespace
}  // namespace tickcast
