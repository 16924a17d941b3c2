// tickcast-server over WebSocket, driven by real libwebsockets clients on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "support/server_process.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using client::WsClientPool;
using client::WsConnection;
using client::WsConnectOptions;
using client::WsState;
using nlohmann::json;
using testing::ServerProcess;

// Reads the next JSON message, failing the test on timeout.
json next_json(WsConnection& connection, std::chrono::milliseconds timeout = 5s) {
  auto message = connection.next_message(timeout);
  if (!message) {
    ADD_FAILURE() << "no message within " << timeout.count() << " ms";
    return json();
  }
  return json::parse(*message);
}

// Reads messages until one with seq >= `seq` arrives; returns every event read.
std::vector<json> read_until_seq(WsConnection& connection, std::uint64_t seq,
                                 std::chrono::milliseconds timeout = 10s) {
  std::vector<json> events;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto message = connection.next_message(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!message) break;
    events.push_back(json::parse(*message));
    if (events.back().value("seq", 0ULL) >= seq) return events;
  }
  ADD_FAILURE() << "seq " << seq << " not reached; got " << events.size() << " events";
  return events;
}

// Reads a room's snapshot over REST (creating the room).
json room_snapshot(const ServerProcess& server, const std::string& room) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get(("/api/rooms/" + room).c_str());
  return res ? json::parse(res->body) : json();
}

json post_command(const ServerProcess& server, const std::string& room, const std::string& body,
                  int* status = nullptr) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post(("/api/rooms/" + room + "/commands").c_str(), body, "application/json");
  if (!res) {
    ADD_FAILURE() << "POST failed";
    return json();
  }
  if (status) *status = res->status;
  return json::parse(res->body);
}

TEST(WsTransport, TwoClientsInOneRoomSeeTheSameEventsAndOtherRoomsSeeNone) {
  ServerProcess server({"--tick-ms", "50"});
  WsClientPool pool;
  auto a = pool.connect(server.ws_url("focus"));
  auto b = pool.connect(server.ws_url("focus"));
  auto other = pool.connect(server.ws_url("elsewhere"));
  for (auto* c : {&a, &b, &other}) ASSERT_TRUE(c->wait_open(5s));
  const json snap_a = next_json(a), snap_b = next_json(b), snap_other = next_json(other);
  EXPECT_EQ(snap_a["reason"], "snapshot");
  EXPECT_EQ(snap_a["data"], "00:25:00");
  EXPECT_EQ(snap_a["state"]["running"], false);
  EXPECT_EQ(snap_other["room"], "elsewhere");

  ASSERT_TRUE(a.send_text(R"({"type":"start","request_id":"go"})"));
  const std::uint64_t base = snap_a["seq"];
  const auto events_a = read_until_seq(a, base + 20);
  const auto events_b = read_until_seq(b, base + 20);
  ASSERT_EQ(events_a.size(), events_b.size());
  for (std::size_t i = 0; i < events_a.size(); ++i) {
    EXPECT_EQ(events_a[i]["seq"], events_b[i]["seq"]);
    EXPECT_EQ(events_a[i]["data"], events_b[i]["data"]);
    EXPECT_EQ(events_a[i]["server_time_us"], events_b[i]["server_time_us"]);
  }
  EXPECT_EQ(events_a.front()["reason"], "start");
  EXPECT_EQ(events_a.back()["reason"], "tick");
  EXPECT_EQ(events_a.back()["room"], "focus");
  // The other room got its snapshot and nothing since: an event of its own, caused now,
  // is the very next message it receives (a socket delivers in order).
  int status = 0;
  post_command(server, "elsewhere", R"({"type":"configure","work_ms":60000})", &status);
  ASSERT_EQ(status, 200);
  const json next_other = next_json(other);
  EXPECT_EQ(next_other["room"], "elsewhere");
  EXPECT_EQ(next_other["reason"], "configure");
  EXPECT_EQ(next_other["seq"], snap_other["seq"].get<std::uint64_t>() + 1);
}

TEST(WsTransport, ALateJoinerGetsASnapshotAtOnce) {
  // Ticks every 10 s: a snapshot that waited for the next tick would take seconds.
  ServerProcess server({"--tick-ms", "10000"});
  int status = 0;
  const std::uint64_t base = room_snapshot(server, "late")["seq"];
  post_command(server, "late", R"({"type":"start"})", &status);
  ASSERT_EQ(status, 200);
  WsClientPool pool;
  auto late = pool.connect(server.ws_url("late"));
  // Waiting for the next tick would show as a first message that is a tick, or a snapshot
  // taken after it (base + 2); the deadline is shorter than the tick period.
  const json snapshot = next_json(late, 5s);
  EXPECT_EQ(snapshot["reason"], "snapshot");
  EXPECT_EQ(snapshot["seq"], base + 1) << "as of the start event";
  EXPECT_EQ(snapshot["state"]["running"], true);
  EXPECT_EQ(snapshot["success"], true);
}

// lws reads a WebSocket through a 256-byte buffer (Loop::start): a longer command comes
// in pieces, and must reach the app whole.
TEST(WsTransport, ACommandLongerThanTheReceiveBufferArrivesWhole) {
  ServerProcess server({"--tick-ms", "10000"});
  WsClientPool pool;
  auto sender = pool.connect(server.ws_url("long"));
  ASSERT_TRUE(sender.wait_open(5s));
  EXPECT_EQ(next_json(sender)["reason"], "snapshot");
  // Answered unknown_command only if the JSON arrived whole (a piece is bad_request).
  ASSERT_TRUE(sender.send_text(R"({"type":"explode","request_id":"r9","pad":")" +
                               std::string(3000, 'x') + R"("})"));
  const json reply = next_json(sender);
  EXPECT_EQ(reply["code"], "unknown_command");
  EXPECT_EQ(reply["request_id"], "r9");
}

TEST(WsTransport, BadInputGetsItsAnswerAndOthersKeepTicking) {
  ServerProcess server({"--tick-ms", "50"});
  WsClientPool pool;
  auto watcher = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(watcher.wait_open(5s));
  const json snapshot = next_json(watcher);
  ASSERT_TRUE(watcher.send_text(R"({"type":"start"})"));

  // Bad JSON, unknown command, wrong shapes: an error event to the sender only.
  auto sender = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(sender.wait_open(5s));
  EXPECT_EQ(next_json(sender)["reason"], "snapshot");
  for (const auto& [input, code] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "bad_request"},
           {"[1,2]", "bad_request"},
           {R"({"type":"explode","request_id":"r7"})", "unknown_command"},
           {R"({"type":"configure","work_ms":"soon"})", "bad_request"},
           {R"({"type":"start","request_id":"again"})", "already_running"}}) {
    ASSERT_TRUE(sender.send_text(input));
    // Skip broadcasts (ticks) until the error reply arrives.
    json reply;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      reply = next_json(sender);
      if (reply.value("success", true) == false) break;
    }
    EXPECT_EQ(reply["code"], code) << input;
    EXPECT_TRUE(reply["data"].is_null());
    EXPECT_TRUE(reply["error"].is_string());
  }
  EXPECT_EQ(sender.state(), WsState::open) << "errors keep the connection";

  // A binary frame closes with 1003; a frame over 4 KiB with 1009.
  auto binary = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(binary.wait_open(5s));
  binary.send_binary("\x01\x02");
  ASSERT_TRUE(binary.wait_closed(5s));
  EXPECT_EQ(binary.close_code(), 1003);

  auto large = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(large.wait_open(5s));
  large.send_text(R"({"type":"start","pad":")" + std::string(5000, 'x') + "\"}");
  ASSERT_TRUE(large.wait_closed(5s));
  EXPECT_EQ(large.close_code(), 1009);

  // A bad room or a foreign Origin is refused at the upgrade.
  auto bad_room =
      pool.connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/rooms/no%20way");
  ASSERT_TRUE(bad_room.wait_closed(5s));
  EXPECT_EQ(bad_room.state(), WsState::failed);
  EXPECT_EQ(bad_room.http_status(), 404);
  auto too_long = pool.connect(server.ws_url(std::string(65, 'a')));
  ASSERT_TRUE(too_long.wait_closed(5s));
  EXPECT_EQ(too_long.http_status(), 404);
  WsConnectOptions evil;
  evil.origin = "http://evil.example";
  auto foreign = pool.connect(server.ws_url("calm"), evil);
  ASSERT_TRUE(foreign.wait_closed(5s));
  EXPECT_EQ(foreign.http_status(), 403);
  WsConnectOptions own;
  own.origin = server.base_url();
  auto same_origin = pool.connect(server.ws_url("calm"), own);
  EXPECT_TRUE(same_origin.wait_open(5s)) << "the server's own origin is allowed";

  // Malformed HTTP on the same port: 400 with a JSON body.
  const std::string answer = testing::raw_http(server.port(), "GARBAGE\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find(R"("code":"bad_request")"), std::string::npos) << answer;

  // Through all of it the watcher saw one unbroken sequence.
  const std::uint64_t first = snapshot["seq"].get<std::uint64_t>() + 1;
  const auto seen = read_until_seq(watcher, first + 30);
  std::uint64_t expected = first;
  for (const auto& event : seen) {
    ASSERT_EQ(event["seq"], expected) << "gap or error leaked to another client";
    ASSERT_EQ(event["success"], true);
    ++expected;
  }
  httplib::Client http("127.0.0.1", server.port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(WsTransport, AllowedOriginsWidenTheDefault) {
  ServerProcess server({"--allowed-origins", "http://good.example,http://also.example"});
  WsClientPool pool;
  WsConnectOptions good;
  good.origin = "http://also.example";
  auto connection = pool.connect(server.ws_url("x"), good);
  EXPECT_TRUE(connection.wait_open(5s));
  WsConnectOptions bad;
  bad.origin = "http://evil.example";
  auto refused = pool.connect(server.ws_url("x"), bad);
  ASSERT_TRUE(refused.wait_closed(5s));
  EXPECT_EQ(refused.http_status(), 403);
}

TEST(WsTransport, MaxClientsRefusesTheNextOneClearly) {
  ServerProcess server({"--max-clients", "2"});
  WsClientPool pool;
  auto one = pool.connect(server.ws_url("r"));
  auto two = pool.connect(server.ws_url("r"));
  ASSERT_TRUE(one.wait_open(5s));
  ASSERT_TRUE(two.wait_open(5s));
  auto three = pool.connect(server.ws_url("r"));
  ASSERT_TRUE(three.wait_closed(5s));
  EXPECT_EQ(three.http_status(), 503);
  one.close();
  ASSERT_TRUE(one.wait_closed(5s));
  // The slot frees once the server has seen the close; retry until then.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool opened = false;
  while (!opened && std::chrono::steady_clock::now() < deadline) {
    auto retry = pool.connect(server.ws_url("r"));
    opened = retry.wait_open(2s);
  }
  EXPECT_TRUE(opened);
}

TEST(WsTransport, ShutdownClosesClientsWithGoingAway) {
  auto server = std::make_unique<ServerProcess>(std::vector<std::string>{"--tick-ms", "50"});
  WsClientPool pool;
  auto connection = pool.connect(server->ws_url("bye"));
  ASSERT_TRUE(connection.wait_open(5s));
  next_json(connection);
  const auto status = server->terminate();
  ASSERT_TRUE(status) << "server did not exit on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  ASSERT_TRUE(connection.wait_closed(5s));
  EXPECT_EQ(connection.close_code(), 1001);
}

// The same server on lws's own poll() loop instead of the default libev (epoll): events
// flow, the keepalive timer runs, and SIGTERM still stops it cleanly.
TEST(WsTransport, ServesAndStopsOnThePollLoop) {
  auto server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--event-lib", "poll", "--tick-ms", "50", "--ws-ping", "1"});
  WsClientPool pool;
  auto connection = pool.connect(server->ws_url("evloop"));
  ASSERT_TRUE(connection.wait_open(5s));
  EXPECT_EQ(next_json(connection)["reason"], "snapshot");
  int status = 0;
  post_command(*server, "evloop", R"({"type":"start"})", &status);
  ASSERT_EQ(status, 200);
  read_until_seq(connection, 5);
  const auto exit_status = server->terminate();
  ASSERT_TRUE(exit_status) << "server did not exit on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  ASSERT_TRUE(connection.wait_closed(5s));
  EXPECT_EQ(connection.close_code(), 1001);
}

// A client that never answers pings is pinged, then closed, on the server's schedule.
TEST(WsTransport, KeepalivePingsAndClosesASilentClient) {
  ServerProcess server({"--ws-ping", "1", "--ws-hangup", "3"});
  const std::string upgrade =
      "GET /rooms/quiet HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  // raw_http reads until the server closes the connection, or gives up after 15 s.
  const auto asked = std::chrono::steady_clock::now();
  const std::string answer = testing::raw_http(server.port(), upgrade, 15s);
  const bool closed_by_server = std::chrono::steady_clock::now() - asked < 15s;
  EXPECT_EQ(answer.rfind("HTTP/1.1 101", 0), 0u) << answer;
  // Walk the server's (unmasked) frames after the handshake, looking for a ping (0x9).
  std::size_t at = answer.find("\r\n\r\n");
  ASSERT_NE(at, std::string::npos);
  bool pinged = false;
  for (at += 4; at + 2 <= answer.size();) {
    const int opcode = static_cast<unsigned char>(answer[at]) & 0x0f;
    std::size_t length = static_cast<unsigned char>(answer[at + 1]) & 0x7f;
    std::size_t header = 2;
    if (length == 126 && at + 4 <= answer.size()) {
      length = (static_cast<unsigned char>(answer[at + 2]) << 8) |
               static_cast<unsigned char>(answer[at + 3]);
      header = 4;
    }
    pinged = pinged || opcode == 0x9;
    at += header + length;
  }
  EXPECT_TRUE(pinged) << "no ping frame was sent";
  EXPECT_TRUE(closed_by_server) << "a silent client was never closed";
}

// A raw WebSocket client socket that reads the server's frames one at a time and can
// answer them, for the keepalive tests (the lws client answers pings on its own).
class RawWebSocket {
 public:
  RawWebSocket(int port, const std::string& path) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    send("GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  }
  ~RawWebSocket() { ::close(fd_); }
  RawWebSocket(const RawWebSocket&) = delete;
  RawWebSocket& operator=(const RawWebSocket&) = delete;

  /// upgraded reads the handshake answer; true for a 101.
  bool upgraded(std::chrono::milliseconds timeout) {
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      if (!fill(timeout)) return false;
    }
    const bool ok = buffer_.rfind("HTTP/1.1 101", 0) == 0;
    buffer_.erase(0, buffer_.find("\r\n\r\n") + 4);
    return ok;
  }

  struct Frame {
    int opcode;
    std::string payload;
  };

  /// next_frame reads the next whole frame; nullopt once the server closed the
  /// connection (or after `timeout`).
  std::optional<Frame> next_frame(std::chrono::milliseconds timeout) {
    for (;;) {
      if (buffer_.size() >= 2) {
        std::size_t length = static_cast<unsigned char>(buffer_[1]) & 0x7f;  // < 64 KiB here
        const std::size_t header = length == 126 ? 4 : 2;
        if (length == 126 && buffer_.size() >= 4) {
          length = (static_cast<unsigned char>(buffer_[2]) << 8) |
                   static_cast<unsigned char>(buffer_[3]);
        }
        if (buffer_.size() >= header && buffer_.size() >= header + length) {
          Frame frame{static_cast<unsigned char>(buffer_[0]) & 0x0f,
                      buffer_.substr(header, length)};
          buffer_.erase(0, header + length);
          return frame;
        }
      }
      if (!fill(timeout)) return std::nullopt;
    }
  }

  /// pong answers a ping: a masked pong frame echoing its (short) payload.
  void pong(const std::string& payload) {
    const char mask[4] = {1, 2, 3, 4};
    std::string frame{'\x8a', static_cast<char>(0x80 | payload.size())};
    frame.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
      frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    send(frame);
  }

 private:
  void send(const std::string& bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

// A client that answers every ping stays open well past the hangup time: each pong
// counts as hearing from it. Without that, the second ping would never come (the
// connection would be closed 2 s after the upgrade).
TEST(WsTransport, KeepaliveKeepsAClientThatAnswersPings) {
  ServerProcess server({"--ws-ping", "1", "--ws-hangup", "2"});
  RawWebSocket client(server.port(), "/rooms/alive");
  ASSERT_TRUE(client.upgraded(5s));
  int pings = 0;
  while (pings < 3) {
    const auto frame = client.next_frame(15s);
    ASSERT_TRUE(frame) << "closed (or silent) after " << pings << " pings";
    if (frame->opcode == 0x9) {
      ++pings;
      client.pong(frame->payload);
    }
  }
}

// The next ping is due a ping period after the pong, not at the hangup time of the ping
// that pong answered: with a 1 s ping and a 30 s hangup, every ping follows the last pong
// within seconds (before the fix, the second came 30 s after the upgrade).
TEST(WsTransport, KeepalivePingsAgainAPingPeriodAfterEachPong) {
  ServerProcess server({"--ws-ping", "1", "--ws-hangup", "30"});
  RawWebSocket client(server.port(), "/rooms/answering");
  ASSERT_TRUE(client.upgraded(5s));
  int pings = 0;
  auto waited_since = std::chrono::steady_clock::now();
  while (pings < 3) {
    const auto frame = client.next_frame(10s);
    ASSERT_TRUE(frame) << "no ping within 10 s of pong " << pings;
    if (frame->opcode != 0x9) continue;
    EXPECT_LT(std::chrono::steady_clock::now() - waited_since, 10s) << "ping " << pings + 1;
    ++pings;
    client.pong(frame->payload);
    waited_since = std::chrono::steady_clock::now();
  }
}

// Connections opened together are pinged over a span, not in one burst: with a 4 s ping
// each waits up to 1 s more, at a share set by its id. Without the spread all twelve first
// pings fall due on one 250 ms slot of the loop's timer grid.
TEST(WsTransport, KeepaliveSpreadsThePingsOfConnectionsOpenedTogether) {
  ServerProcess server({"--ws-ping", "4", "--ws-hangup", "60"});
  std::vector<std::unique_ptr<RawWebSocket>> clients;
  for (int i = 0; i < 12; ++i) {
    clients.push_back(std::make_unique<RawWebSocket>(server.port(), "/rooms/together"));
    ASSERT_TRUE(clients.back()->upgraded(5s)) << i;
  }
  std::vector<std::optional<std::chrono::steady_clock::time_point>> pinged(clients.size());
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    readers.emplace_back([&, i] {
      while (const auto frame = clients[i]->next_frame(15s)) {
        if (frame->opcode == 0x9) {
          pinged[i] = std::chrono::steady_clock::now();
          return;
        }
      }
    });
  }
  for (auto& reader : readers) reader.join();
  for (std::size_t i = 0; i < pinged.size(); ++i) ASSERT_TRUE(pinged[i]) << "client " << i;
  const auto [first, last] = std::minmax_element(
      pinged.begin(), pinged.end(), [](const auto& a, const auto& b) { return *a < *b; });
  EXPECT_GE(**last - **first, 500ms)
      << "the first pings came within " << std::chrono::duration<double>(**last - **first).count()
      << " s of each other";
}

TEST(WsTransport, TwoHundredClientsGetEveryTickWithoutAGap) {
  ServerProcess server({"--tick-ms", "50"});
  WsClientPool pool;
  std::vector<WsConnection> clients;
  clients.reserve(200);
  for (int i = 0; i < 200; ++i) clients.push_back(pool.connect(server.ws_url("crowd")));
  std::vector<std::uint64_t> last_seq(clients.size());
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i].wait_open(10s)) << i;
    const json snapshot = next_json(clients[i]);
    ASSERT_EQ(snapshot["reason"], "snapshot");
    last_seq[i] = snapshot["seq"];
  }
  int status = 0;
  post_command(server, "crowd", R"({"type":"start"})", &status);
  ASSERT_EQ(status, 200);
  // 60 ticks at 50 ms: three seconds of fan-out to 200 sockets.
  const std::uint64_t target = 61;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    while (last_seq[i] < target) {
      auto message = clients[i].next_message(10s);
      ASSERT_TRUE(message) << "client " << i << " stalled after seq " << last_seq[i];
      const auto seq = json::parse(*message)["seq"].get<std::uint64_t>();
      ASSERT_EQ(seq, last_seq[i] + 1) << "client " << i << " saw a gap";
      last_seq[i] = seq;
    }
  }
  httplib::Client http("127.0.0.1", server.port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tickcast_clients{transport=\"ws\"} 200"), std::string::npos);
  EXPECT_NE(metrics->body.find("tickcast_ticks_dropped_total{transport=\"ws\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace tickcast
