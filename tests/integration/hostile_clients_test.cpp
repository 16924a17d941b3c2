// Slow and hostile clients against tickcast-server: readers that stop reading, and
// slowloris sockets that trickle their headers or send nothing. What is asserted is what
// happened (server counters, events received, sockets closed by the server), never a time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/raw_socket.h"
#include "support/server_process.h"
#include "support/sse_reader.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using client::WsClientPool;
using client::WsConnection;
using client::WsConnectOptions;
using nlohmann::json;
using testing::RawSocket;
using testing::ServerProcess;
using testing::SseReader;
using Clock = std::chrono::steady_clock;

// -- helpers ------------------------------------------------------------------------------

std::uint64_t metric(const ServerProcess& server, const std::string& name,
                     const std::string& transport) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get("/metrics");
  const std::string line = name + "{transport=\"" + transport + "\"} ";
  if (!res) return ~0ULL;
  const auto at = res->body.find(line);
  if (at == std::string::npos) return ~0ULL;
  return std::stoull(res->body.substr(at + line.size()));
}

// Polls `condition` until it holds; false once `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);  // poll interval, not a synchronisation
  }
  return true;
}

int post(const ServerProcess& server, const std::string& room, const std::string& type) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post(("/api/rooms/" + room + "/commands").c_str(),
                       R"({"type":")" + type + R"("})", "application/json");
  return res ? res->status : 0;
}

std::string websocket_upgrade(const std::string& room) {
  return "GET /rooms/" + room +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

std::string plain_get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

// What one live client saw: the reasons of every event that is not a tick, in order.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> changes;
  bool snapshot = false;
  void record(const std::string& payload) {
    if (payload.find(R"("reason":"tick")") != std::string::npos) return;
    const json event = json::parse(payload, nullptr, false);
    if (!event.is_object() || !event.contains("reason")) return;
    std::lock_guard lock(mutex);
    if (event["reason"] == "snapshot") {
      snapshot = true;
    } else {
      changes.push_back(event["reason"]);
    }
  }
  bool has(const std::string& reason, std::size_t times) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count(changes.begin(), changes.end(), reason)) >= times;
  }
  bool has_snapshot() {
    std::lock_guard lock(mutex);
    return snapshot;
  }
};

// -- stalled readers ----------------------------------------------------------------------

// One stalled reader per transport (a socket with a tiny receive buffer that never reads)
// among 500 live clients of the same room. The stalled ws and sse clients are shed per the
// queue policy (ticks dropped, then closed as stuck, both counted); the stalled long-poll
// client holds nothing once answered and is closed as idle. Every live client receives every
// state change, including those made while the stalled ones were stuck. The tick (50 ms)
// and the stuck timeout (3 s) leave a sanitizer build room: a live client is closed only if
// the server itself does not write to it for 3 s.
TEST(StalledReaders, AreShedWhileFiveHundredLiveClientsGetEveryStateChange) {
  constexpr int kWs = 350, kSse = 100, kPoll = 50;
  ServerProcess server({"--transport", "ws,sse,longpoll", "--tick-ms", "50", "--work", "24h",
                        "--max-queue", "16", "--stuck-timeout", "3", "--idle-timeout", "2"});
  const std::string room = "stall";
  const std::vector<std::string> expected{"start", "stop", "start", "skip", "reset"};

  // Live WebSocket clients, read on the pool's thread as they arrive.
  WsClientPool pool;
  std::vector<std::unique_ptr<Seen>> ws_seen;
  std::vector<WsConnection> ws_clients;
  for (int i = 0; i < kWs; ++i) {
    ws_seen.push_back(std::make_unique<Seen>());
    WsConnectOptions options;
    options.on_message = [seen = ws_seen.back().get()](client::WsMessage&& m) {
      seen->record(m.data);
    };
    ws_clients.push_back(pool.connect(server.ws_url(room), options));
  }
  // Live SSE clients, each read by its own thread into a queue.
  std::vector<std::unique_ptr<SseReader>> sse_clients;
  sse_clients.reserve(kSse);
  for (int i = 0; i < kSse; ++i) {
    sse_clients.push_back(std::make_unique<SseReader>(server.port(), "/sse/rooms/" + room));
  }
  // Live long-poll clients, one thread each, as browsers would be.
  std::vector<std::unique_ptr<Seen>> poll_seen;
  std::atomic<bool> stop_polling{false};
  std::atomic<int> poll_failures{0};
  std::vector<std::thread> pollers;
  for (int i = 0; i < kPoll; ++i) {
    poll_seen.push_back(std::make_unique<Seen>());
    pollers.emplace_back([&, seen = poll_seen.back().get()] {
      httplib::Client http("127.0.0.1", server.port());
      http.set_read_timeout(30s);
      const std::string path = "/poll/rooms/" + room;
      std::string query;  // no `since` at first: a snapshot at once
      while (!stop_polling && !seen->has("reset", 1)) {
        auto res = http.Get((path + query).c_str());
        if (!res || res->status != 200) {
          ++poll_failures;
          return;
        }
        const json answer = json::parse(res->body);
        for (const auto& e : answer["events"]) seen->record(e.dump());
        query = "?timeout_ms=5000&since=" + std::to_string(answer["next"].get<std::uint64_t>());
      }
    });
  }
  ASSERT_TRUE(eventually(
      [&] {
        for (auto& s : ws_seen)
          if (!s->has_snapshot()) return false;
        return true;
      },
      30s))
      << "not every WebSocket client got its snapshot";
  for (auto& s : sse_clients) ASSERT_TRUE(s->next_event(10s)) << "an SSE client got no snapshot";

  // The stalled readers join the same room.
  RawSocket stalled_ws(server.port(), 1024), stalled_sse(server.port(), 1024),
      stalled_poll(server.port(), 1024);
  ASSERT_TRUE(stalled_ws.connected() && stalled_sse.connected() && stalled_poll.connected());
  ASSERT_TRUE(stalled_ws.send(websocket_upgrade(room)));
  ASSERT_TRUE(stalled_sse.send(plain_get("/sse/rooms/" + room)));
  // The long-poll parks at the room's seq (its base: seqs start at the wall clock).
  std::uint64_t room_seq = 0;
  {
    httplib::Client http("127.0.0.1", server.port());
    const auto res = http.Get("/api/rooms/" + room);
    ASSERT_TRUE(res && res->status == 200);
    room_seq = nlohmann::json::parse(res->body)["seq"].get<std::uint64_t>();
  }
  ASSERT_TRUE(stalled_poll.send(plain_get(
      "/poll/rooms/" + room + "?since=" + std::to_string(room_seq) + "&timeout_ms=60000")));
  ASSERT_TRUE(eventually(
      [&] {
        return metric(server, "tickcast_clients", "ws") == kWs + 1 &&
               metric(server, "tickcast_clients", "sse") == kSse + 1;
      },
      10s));

  // Ticks flow until the stalled ones' queues overflow (ticks shed, counted); a stop and a
  // start happen while they are stuck; then they are closed as stuck, counted; then more.
  ASSERT_EQ(post(server, room, "start"), 200);
  ASSERT_TRUE(eventually(
      [&] {
        return metric(server, "tickcast_ticks_dropped_total", "ws") > 0 &&
               metric(server, "tickcast_ticks_dropped_total", "sse") > 0;
      },
      60s))
      << "the stalled readers' ticks were never shed";
  ASSERT_EQ(post(server, room, "stop"), 200);
  ASSERT_EQ(post(server, room, "start"), 200);
  ASSERT_TRUE(eventually(
      [&] {
        return metric(server, "tickcast_clients_closed_slow_total", "ws") >= 1 &&
               metric(server, "tickcast_clients_closed_slow_total", "sse") >= 1;
      },
      30s))
      << "the stalled readers were never closed";
  ASSERT_EQ(post(server, room, "skip"), 200);
  ASSERT_EQ(post(server, room, "reset"), 200);

  // Every live client saw every state change, in order.
  for (int i = 0; i < kWs; ++i) {
    ASSERT_TRUE(eventually([&] { return ws_seen[i]->has("reset", 1); }, 20s)) << "ws " << i;
    std::lock_guard lock(ws_seen[i]->mutex);
    EXPECT_EQ(ws_seen[i]->changes, expected) << "ws " << i;
  }
  for (int i = 0; i < kSse; ++i) {
    Seen seen;
    while (!seen.has("reset", 1)) {
      auto event = sse_clients[i]->next_event(20s);
      ASSERT_TRUE(event) << "sse " << i << " stalled";
      seen.record(event->data);
    }
    EXPECT_EQ(seen.changes, expected) << "sse " << i;
  }
  for (int i = 0; i < kPoll; ++i) {
    ASSERT_TRUE(eventually([&] { return poll_seen[i]->has("reset", 1); }, 20s)) << "poll " << i;
  }
  stop_polling = true;
  for (auto& t : pollers) t.join();
  EXPECT_EQ(poll_failures, 0);
  for (int i = 0; i < kPoll; ++i) {
    std::lock_guard lock(poll_seen[i]->mutex);
    EXPECT_EQ(poll_seen[i]->changes, expected) << "poll " << i;
  }

  // Only the stalled ones were closed as slow; every live client is still connected.
  EXPECT_EQ(metric(server, "tickcast_clients_closed_slow_total", "ws"), 1u);
  EXPECT_EQ(metric(server, "tickcast_clients_closed_slow_total", "sse"), 1u);
  EXPECT_EQ(metric(server, "tickcast_clients", "ws"), static_cast<std::uint64_t>(kWs));
  EXPECT_EQ(metric(server, "tickcast_clients", "sse"), static_cast<std::uint64_t>(kSse));
  for (auto& c : ws_clients) EXPECT_EQ(c.state(), client::WsState::open);
  // And the server has closed the stalled sockets (the long-poll one as an idle keep-alive).
  const auto deadline = Clock::now() + 20s;
  EXPECT_TRUE(stalled_ws.closed_by_peer(deadline));
  EXPECT_TRUE(stalled_sse.closed_by_peer(deadline));
  EXPECT_TRUE(stalled_poll.closed_by_peer(deadline));
}

// -- slowloris ------------------------------------------------------------------------------

// Sockets that trickle their headers a byte at a time, that send nothing, or that trickle a
// request body, fill the server past --max-clients; a normal WebSocket and SSE client still
// get in and get their snapshot, and the server closes every slow socket by itself.
TEST(Slowloris, TricklingAndSilentSocketsAreClosedAndNormalClientsGetIn) {
  constexpr int kEach = 40;  // of each kind; --max-clients is 20
  ServerProcess server({"--transport", "ws,sse", "--max-clients", "20", "--header-timeout", "2"});
  const std::string request =
      "GET /sse/rooms/loris HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(64, 'a') +
      "\r\n\r\n";
  const std::string body_request =
      "POST /api/rooms/loris/commands HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n";
  std::vector<std::unique_ptr<RawSocket>> trickling, silent, slow_body;
  for (int i = 0; i < kEach; ++i) {
    trickling.push_back(std::make_unique<RawSocket>(server.port()));
    silent.push_back(std::make_unique<RawSocket>(server.port()));
    slow_body.push_back(std::make_unique<RawSocket>(server.port()));
    ASSERT_TRUE(trickling.back()->connected() && silent.back()->connected() &&
                slow_body.back()->connected());
    ASSERT_TRUE(slow_body.back()->send(body_request));
  }
  // One byte per socket per round, every 250 ms: each keeps sending for longer than the
  // header timeout, so a deadline re-armed per byte would never close it.
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread trickler([&] {
    for (std::size_t at = 0; !stop && at < request.size(); ++at) {
      for (auto& s : trickling) s->send(request.substr(at, 1));
      for (auto& s : slow_body) s->send(" ");
      ++rounds;
      for (int i = 0; i < 25 && !stop; ++i) std::this_thread::sleep_for(10ms);  // the pace
    }
  });

  // While they hang on, a normal client gets in on each transport and gets its snapshot.
  ASSERT_TRUE(eventually([&] { return rounds >= 2; }, 10s));
  {
    WsClientPool pool;
    auto ws = pool.connect(server.ws_url("loris"));
    ASSERT_TRUE(ws.wait_open(5s)) << ws.error();
    auto message = ws.next_message(5s);
    ASSERT_TRUE(message);
    EXPECT_EQ(json::parse(*message)["reason"], "snapshot");
    SseReader sse(server.port(), "/sse/rooms/loris");
    ASSERT_EQ(sse.wait_status(5s), 200);
    auto snapshot = sse.next_event(5s);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(json::parse(snapshot->data)["reason"], "snapshot");
  }

  // The server closes every slow socket by itself, whatever they trickle meanwhile.
  const auto deadline = Clock::now() + 30s;
  int still_open = 0;
  for (auto* group : {&trickling, &silent, &slow_body}) {
    for (auto& s : *group) still_open += s->closed_by_peer(deadline) ? 0 : 1;
  }
  stop = true;
  trickler.join();
  EXPECT_EQ(still_open, 0);
  EXPECT_LT(rounds, static_cast<int>(request.size())) << "a trickler finished its request";
  // And the server is still fine for everyone.
  httplib::Client http("127.0.0.1", server.port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// On a keep-alive connection the next request is bounded too, though libwebsockets' own
// keep-alive timeout is dropped after each response: its headers by --idle-timeout (the
// loop's idle deadline), its body by --header-timeout, however slowly either trickles.
TEST(Slowloris, ASlowNextRequestOnAKeepAliveConnectionIsClosed) {
  ServerProcess server({"--transport", "ws", "--idle-timeout", "2", "--header-timeout", "2"});
  const std::string next_headers =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(64, 'a') + "\r\n\r\n";
  const std::string next_body_request =
      "POST /api/rooms/keep/commands HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n";
  RawSocket slow_headers(server.port()), slow_body(server.port());
  ASSERT_TRUE(slow_headers.connected() && slow_body.connected());
  ASSERT_TRUE(slow_headers.send(plain_get("/healthz")));
  ASSERT_TRUE(slow_body.send(plain_get("/healthz")));
  // The first responses are out: both connections are now waiting for a next request.
  ASSERT_TRUE(slow_headers.read_response(Clock::now() + 5s));
  ASSERT_TRUE(slow_body.read_response(Clock::now() + 5s));
  ASSERT_TRUE(slow_body.send(next_body_request));
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    for (std::size_t at = 0; !stop && at < next_headers.size(); ++at) {
      slow_headers.send(next_headers.substr(at, 1));
      slow_body.send(" ");
      for (int i = 0; i < 25 && !stop; ++i) std::this_thread::sleep_for(10ms);
    }
  });
  const auto deadline = Clock::now() + 10s;  // the trickle would last about 25 s
  const bool headers_closed = slow_headers.closed_by_peer(deadline);
  const bool body_closed = slow_body.closed_by_peer(deadline);
  stop = true;
  trickler.join();
  EXPECT_TRUE(headers_closed);
  EXPECT_TRUE(body_closed);
}

// -- streams their clients ended ------------------------------------------------------------

// libwebsockets reads nothing from a connection whose response is under way, so a client
// that ended its stream left a readable socket that kept the loop busy until the next
// write to it. Now a stream or parked poll whose client closes it, resets it, or sends
// anything on it (a pipelined request) is dropped: at once on libev (a watcher), within
// a second on poll (the loop's sweep). The heartbeat is a minute away, the polls' timeout
// too, and the room stopped, so nothing else drops them before the deadline.
class EndedStreams : public ::testing::TestWithParam<std::string> {};

TEST_P(EndedStreams, AreDropped) {
  ServerProcess server(
      {"--event-lib", GetParam(), "--transport", "sse,longpoll", "--sse-heartbeat", "60s"});
  const std::string room = "ended";
  std::uint64_t room_seq = 0;
  {
    httplib::Client http("127.0.0.1", server.port());
    const auto res = http.Get("/api/rooms/" + room);
    ASSERT_TRUE(res && res->status == 200);
    room_seq = nlohmann::json::parse(res->body)["seq"].get<std::uint64_t>();
  }
  const std::string poll =
      "/poll/rooms/" + room + "?since=" + std::to_string(room_seq) + "&timeout_ms=60000";
  RawSocket closed_sse(server.port()), reset_sse(server.port()), talking_sse(server.port()),
      closed_poll(server.port()), talking_poll(server.port());
  for (auto* s : {&closed_sse, &reset_sse, &talking_sse}) {
    ASSERT_TRUE(s->connected() && s->send(plain_get("/sse/rooms/" + room)));
  }
  for (auto* s : {&closed_poll, &talking_poll}) {
    ASSERT_TRUE(s->connected() && s->send(plain_get(poll)));
  }
  ASSERT_TRUE(eventually(
      [&] {
        return metric(server, "tickcast_clients", "sse") == 3 &&
               metric(server, "tickcast_clients", "longpoll") == 2;
      },
      10s));

  closed_sse.close();
  reset_sse.reset();
  ASSERT_TRUE(talking_sse.send("x"));
  closed_poll.close();
  ASSERT_TRUE(talking_poll.send(plain_get("/healthz")));

  EXPECT_TRUE(talking_sse.closed_by_peer(Clock::now() + 5s)) << "an SSE stream that talked";
  EXPECT_TRUE(talking_poll.closed_by_peer(Clock::now() + 5s)) << "a parked poll that talked";
  EXPECT_TRUE(eventually(
      [&] {
        return metric(server, "tickcast_clients", "sse") == 0 &&
               metric(server, "tickcast_clients", "longpoll") == 0;
      },
      5s))
      << "sse " << metric(server, "tickcast_clients", "sse") << ", longpoll "
      << metric(server, "tickcast_clients", "longpoll") << " still held";

  // A stream and a poll that stay are served as before: a command reaches both.
  SseReader live(server.port(), "/sse/rooms/" + room);
  ASSERT_EQ(live.wait_status(5s), 200);
  RawSocket parked(server.port());
  ASSERT_TRUE(parked.connected() && parked.send(plain_get(poll)));
  ASSERT_TRUE(eventually([&] { return metric(server, "tickcast_clients", "longpoll") == 1; }, 5s));
  ASSERT_EQ(post(server, room, "start"), 200);
  const auto answer = parked.response(Clock::now() + 10s);
  ASSERT_TRUE(answer) << "the parked poll got no answer";
  EXPECT_NE(answer->find(R"("reason":"start")"), std::string::npos) << *answer;
  bool started = false;
  for (int i = 0; i < 3 && !started; ++i) {
    const auto got = live.next_event(5s);
    ASSERT_TRUE(got) << "the live stream went silent";
    started = got->data.find(R"("reason":"start")") != std::string::npos;
  }
  EXPECT_TRUE(started);
}

INSTANTIATE_TEST_SUITE_P(EventLibs, EndedStreams, ::testing::Values("libev", "poll"),
                         [](const auto& info) { return info.param; });

// -- a quiet server, on each event loop ---------------------------------------------------

// With nothing else happening on the server, its timers must still fire on time: lws's own
// (the header timeout) and the loop's (the SSE heartbeat). On libev both once waited for
// lws's 30 s internal check, and a closed SSE stream (readable, unread) stopped them all.
class QuietServer : public ::testing::TestWithParam<std::string> {};

TEST_P(QuietServer, ASilentSocketIsClosedAfterTheHeaderTimeout) {
  ServerProcess server({"--event-lib", GetParam(), "--header-timeout", "2"});
  RawSocket silent(server.port());
  ASSERT_TRUE(silent.connected());
  // 2 s, late by at most a second (libev); the next lws check would be 30 s away.
  EXPECT_TRUE(silent.closed_by_peer(Clock::now() + 8s)) << "still open after 8 s";
}

TEST_P(QuietServer, AClosedSseStreamInAStoppedRoomIsDroppedAtItsHeartbeat) {
  ServerProcess server({"--event-lib", GetParam(), "--transport", "sse", "--sse-heartbeat", "1s"});
  {
    RawSocket stream(server.port());
    ASSERT_TRUE(stream.connected());
    ASSERT_TRUE(stream.send(plain_get("/sse/rooms/quiet")));
    ASSERT_TRUE(eventually([&] { return metric(server, "tickcast_clients", "sse") == 1; }, 5s));
  }  // closed (a FIN): lws does not read a stream mid-response, so the socket stays readable
  // Nothing is written to the room; the heartbeat's write finds the stream gone.
  EXPECT_TRUE(eventually([&] { return metric(server, "tickcast_clients", "sse") == 0; }, 8s))
      << "a closed stream is still held";
  // And the loop's timers still run for a stream that stays: its heartbeat comes.
  SseReader live(server.port(), "/sse/rooms/quiet");
  ASSERT_EQ(live.wait_status(5s), 200);
  bool heartbeat = false;
  for (int i = 0; i < 3 && !heartbeat; ++i) {
    const auto got = live.next(5s);
    ASSERT_TRUE(got) << "the stream went silent";
    heartbeat = got->comment;
  }
  EXPECT_TRUE(heartbeat);
}

INSTANTIATE_TEST_SUITE_P(EventLibs, QuietServer, ::testing::Values("libev", "poll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tickcast
