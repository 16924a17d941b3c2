// SSE and long-poll on tickcast-server, with raw-socket SSE readers and cpp-httplib.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "support/server_process.h"
#include "support/sse_reader.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ServerProcess;
using testing::SseReader;

std::uint64_t room_seq(const ServerProcess& server, const std::string& room) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get(("/api/rooms/" + room).c_str());
  return res ? json::parse(res->body)["seq"].get<std::uint64_t>() : 0;
}

void post(const ServerProcess& server, const std::string& room, const std::string& command) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post(("/api/rooms/" + room + "/commands").c_str(), command, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
}

// Waits until the room's seq reaches `seq`, polling its REST snapshot with a deadline.
void wait_for_seq(const ServerProcess& server, const std::string& room, std::uint64_t seq) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (room_seq(server, room) < seq) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "room " << room << " stuck";
    std::this_thread::sleep_for(10ms);
  }
}

std::uint64_t metric(const ServerProcess& server, const std::string& line_prefix) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get("/metrics");
  if (!res) return ~0ULL;
  const auto at = res->body.find(line_prefix + " ");
  if (at == std::string::npos) return ~0ULL;
  return std::stoull(res->body.substr(at + line_prefix.size() + 1));
}

json poll(const ServerProcess& server, const std::string& query, int* status = nullptr) {
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(70s);
  auto res = http.Get(("/poll/rooms/" + query).c_str());
  if (!res) return json();
  if (status) *status = res->status;
  return json::parse(res->body, nullptr, false);
}

TEST(Sse, StreamsTheContractFormat) {
  ServerProcess server({"--transport", "sse", "--tick-ms", "50", "--sse-heartbeat", "200ms"});
  SseReader reader(server.port(), "/sse/rooms/fmt");
  ASSERT_EQ(reader.wait_status(5s), 200);
  EXPECT_EQ(reader.header("content-type"), "text/event-stream");
  EXPECT_EQ(reader.header("cache-control"), "no-cache");
  EXPECT_EQ(reader.header("x-accel-buffering"), "no");
  auto first = reader.next(5s);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->retry.empty()) << "retry: comes once, first";
  auto snapshot = reader.next_event(5s);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->event, "timer");
  EXPECT_EQ(snapshot->id, std::to_string(json::parse(snapshot->data)["seq"].get<std::uint64_t>()));
  EXPECT_EQ(json::parse(snapshot->data)["reason"], "snapshot");
  // With nothing happening in the room, the heartbeat comment keeps the stream alive.
  auto heartbeat = reader.next(5s);
  ASSERT_TRUE(heartbeat);
  EXPECT_TRUE(heartbeat->comment);
  post(server, "fmt", R"({"type":"start"})");
  auto start = reader.next_event(5s);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->id, std::to_string(std::stoull(snapshot->id) + 1));
  EXPECT_EQ(json::parse(start->data)["reason"], "start");
}

// The heartbeat is for a quiet stream: while events come more often than its period, none
// is written (it would be one more write per stream per period at 10,000 streams).
TEST(Sse, AStreamWithEventsGetsNoHeartbeatUntilItIsQuiet) {
  ServerProcess server({"--transport", "sse", "--tick-ms", "50", "--sse-heartbeat", "1s"});
  SseReader reader(server.port(), "/sse/rooms/busy");
  ASSERT_EQ(reader.wait_status(5s), 200);
  post(server, "busy", R"({"type":"start"})");
  // 60 ticks: 3 s, three heartbeat periods, counted from the first tick.
  int ticks = 0;
  int heartbeats = 0;
  while (ticks < 60) {
    const auto got = reader.next(5s);
    ASSERT_TRUE(got) << "the stream went silent after " << ticks << " ticks";
    if (got->comment) {
      heartbeats += ticks > 0 ? 1 : 0;
    } else if (!got->data.empty() && json::parse(got->data)["reason"] == "tick") {
      ++ticks;
    }
  }
  EXPECT_EQ(heartbeats, 0);
  // Stopped, the room is quiet, and the heartbeat comes back.
  post(server, "busy", R"({"type":"stop"})");
  bool heartbeat = false;
  while (!heartbeat) {
    const auto got = reader.next(5s);
    ASSERT_TRUE(got) << "no heartbeat once the room stopped";
    heartbeat = got->comment;
  }
}

TEST(Sse, CurlReadsTheStreamAndResumes) {
  ServerProcess server({"--transport", "sse,longpoll", "--tick-ms", "50"});
  const std::uint64_t base = room_seq(server, "curl");  // positions are relative to it
  post(server, "curl", R"({"type":"start"})");
  wait_for_seq(server, "curl", base + 5);
  const std::string url = server.base_url() + "/sse/rooms/curl";
  const std::string id2 = std::to_string(base + 2), id3 = std::to_string(base + 3);
  // curl stops after 1 s (exit 28); what it printed is what a third-party client sees.
  const std::string stream = testing::run_command(
      "curl -sN --max-time 1 -H 'Last-Event-ID: " + id2 + "' " + url + " 2>/dev/null");
  EXPECT_NE(stream.find("retry: "), std::string::npos) << stream;
  EXPECT_NE(stream.find("id: " + id3 + "\nevent: timer\ndata: {"), std::string::npos) << stream;
  EXPECT_EQ(stream.find("id: " + id2 + "\n"), std::string::npos)
      << "an event it had was sent again";
  const json answer = json::parse(testing::run_command(
      "curl -s '" + server.base_url() + "/poll/rooms/curl?since=" + id2 + "&timeout_ms=0'"));
  EXPECT_EQ(answer["events"][0]["seq"], base + 3);
}

TEST(Sse, ResumeWithLastEventIdGetsExactlyTheMissedEvents) {
  ServerProcess server({"--transport", "sse", "--tick-ms", "50"});
  post(server, "resume", R"({"type":"start"})");
  std::uint64_t last = 0;
  {
    SseReader reader(server.port(), "/sse/rooms/resume");
    for (int i = 0; i < 4; ++i) {
      auto event = reader.next_event(5s);
      ASSERT_TRUE(event);
      last = std::stoull(event->id);
    }
    reader.abort();
  }
  wait_for_seq(server, "resume", last + 10);
  SseReader again(server.port(), "/sse/rooms/resume", {{"Last-Event-ID", std::to_string(last)}});
  for (std::uint64_t expected = last + 1; expected <= last + 10; ++expected) {
    auto event = again.next_event(5s);
    ASSERT_TRUE(event);
    ASSERT_EQ(event->id, std::to_string(expected)) << "missed, repeated or out of order";
    EXPECT_NE(json::parse(event->data)["reason"], "snapshot");
  }
}

TEST(Sse, ResumePastTheHistoryStartsWithASnapshot) {
  ServerProcess server({"--transport", "sse", "--tick-ms", "20", "--history", "5"});
  const std::uint64_t base = room_seq(server, "old");
  post(server, "old", R"({"type":"start"})");
  wait_for_seq(server, "old", base + 20);
  SseReader reader(server.port(), "/sse/rooms/old", {{"Last-Event-ID", std::to_string(base + 2)}});
  auto event = reader.next_event(5s);
  ASSERT_TRUE(event);
  const json first = json::parse(event->data);
  EXPECT_EQ(first["reason"], "snapshot");
  EXPECT_GE(first["seq"].get<std::uint64_t>(), base + 20);
}

TEST(LongPoll, SinceTimeoutAndNextFollowTheContract) {
  ServerProcess server({"--transport", "longpoll", "--tick-ms", "50"});
  // No since: a snapshot at once.
  json answer = poll(server, "lp");
  ASSERT_EQ(answer["events"].size(), 1u);
  EXPECT_EQ(answer["events"][0]["reason"], "snapshot");
  // Positions are relative to the fresh room's base, its snapshot's seq.
  const std::uint64_t base = answer["events"][0]["seq"];
  const std::string since_base = "since=" + std::to_string(base);
  EXPECT_EQ(answer["next"], base);
  // Nothing new: held until the timeout, then an empty answer with the same next.
  answer = poll(server, "lp?" + since_base + "&timeout_ms=200");
  EXPECT_TRUE(answer["events"].empty());
  EXPECT_EQ(answer["next"], base);
  // A parked poll is woken by the next event itself, long before its timeout.
  std::thread starter([&] {
    // Start once the poll is parked; /metrics counts it.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (metric(server, "tickcast_clients{transport=\"longpoll\"}") != 1 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    post(server, "lp", R"({"type":"start"})");
  });
  answer = poll(server, "lp?" + since_base + "&timeout_ms=30000");
  starter.join();
  // Had the poll not been woken, it would have ended at its timeout with no events.
  ASSERT_GE(answer["events"].size(), 1u);
  EXPECT_EQ(answer["events"][0]["reason"], "start");
  EXPECT_EQ(answer["events"][0]["seq"], base + 1);
  // A backlog comes back at once, batched; repeating the same since is safe.
  wait_for_seq(server, "lp", base + 12);
  const std::string since3 = "lp?since=" + std::to_string(base + 3);
  const json backlog = poll(server, since3);
  const json repeat = poll(server, since3);
  ASSERT_GE(backlog["events"].size(), 9u);
  for (std::size_t i = 0; i < backlog["events"].size(); ++i) {
    EXPECT_EQ(backlog["events"][i]["seq"], base + 4 + i);
  }
  EXPECT_EQ(backlog["next"], backlog["events"].back()["seq"]);
  EXPECT_EQ(repeat["events"][0], backlog["events"][0]);
}

TEST(HttpStreams, BadInputGetsAJsonError) {
  ServerProcess server({"--transport", "sse,longpoll"});
  httplib::Client http("127.0.0.1", server.port());
  struct Case {
    std::string path;
    int status;
    std::string code;
  };
  for (const Case& k : std::vector<Case>{{"/sse/rooms/bad.room", 404, "bad_room"},
                                         {"/poll/rooms/bad.room", 404, "bad_room"},
                                         {"/poll/rooms/" + std::string(65, 'a'), 404, "bad_room"},
                                         {"/poll/rooms/r?since=-1", 400, "bad_request"},
                                         {"/poll/rooms/r?since=abc", 400, "bad_request"},
                                         {"/poll/rooms/r?since=1.5", 400, "bad_request"},
                                         {"/poll/rooms/r?timeout_ms=60001", 400, "bad_request"},
                                         {"/poll/rooms/r?timeout_ms=-5", 400, "bad_request"},
                                         {"/poll/rooms/r?timeout_ms=soon", 400, "bad_request"},
                                         {"/poll/rooms/r/extra", 404, "not_found"},
                                         {"/sse/nothing", 404, "not_found"}}) {
    auto res = http.Get(k.path.c_str());
    ASSERT_TRUE(res) << k.path;
    EXPECT_EQ(res->status, k.status) << k.path << ": " << res->body;
    const json body = json::parse(res->body, nullptr, false);
    EXPECT_EQ(body["code"], k.code) << k.path;
    EXPECT_EQ(body["success"], false) << k.path;
  }
  // A `since` that is no position of the room's history (here: below its base) is another
  // history's position, not bad input: it gets the snapshot. (It was a 400 while a `since`
  // ahead of the room could only be garbage; since epochs, it is a position from before a
  // restart.)
  {
    auto res = http.Get("/poll/rooms/r?since=99&timeout_ms=0");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["events"][0]["reason"], "snapshot");
  }
  for (const char* path : {"/sse/rooms/r", "/poll/rooms/r"}) {
    auto res = http.Post(path, "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 405) << path;
    EXPECT_EQ(json::parse(res->body)["code"], "method_not_allowed");
  }
  auto res = http.Post("/api/rooms/r/commands", std::string(5000, 'x'), "application/json");
  EXPECT_EQ(res->status, 413);
  res = http.Options("/api/rooms/r/commands", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(res->status, 403);
}

TEST(HttpStreams, CorsForAllowedOrigins) {
  ServerProcess server({"--transport", "sse,longpoll", "--allowed-origins", "http://app.example"});
  httplib::Client http("127.0.0.1", server.port());
  httplib::Headers origin{{"Origin", "http://app.example"},
                          {"Access-Control-Request-Method", "POST"}};
  auto res = http.Options("/api/rooms/c/commands", origin);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  EXPECT_NE(res->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  res = http.Post("/api/rooms/c/commands", origin, R"({"type":"start"})", "application/json");
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  res = http.Get("/poll/rooms/c", origin);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  SseReader reader(server.port(), "/sse/rooms/c", {{"Origin", "http://app.example"}});
  ASSERT_EQ(reader.wait_status(5s), 200);
  EXPECT_EQ(reader.header("access-control-allow-origin"), "http://app.example");
}

TEST(HttpStreams, AMixedRoomSeesOneSequence) {
  ServerProcess server({"--transport", "ws,sse,longpoll", "--tick-ms", "50"});
  client::WsClientPool pool;
  auto ws = pool.connect(server.ws_url("mixed"));
  SseReader sse(server.port(), "/sse/rooms/mixed");
  ASSERT_TRUE(ws.wait_open(5s));
  const auto ws_snapshot = ws.next_message(5s);
  ASSERT_TRUE(ws_snapshot);
  const std::uint64_t base = json::parse(*ws_snapshot)["seq"];
  ASSERT_TRUE(sse.next_event(5s));                   // snapshot
  ASSERT_TRUE(ws.send_text(R"({"type":"start"})"));  // a ws command, seen by everyone
  std::map<std::uint64_t, std::string> by_ws, by_sse, by_poll;
  while (by_ws.size() < 20) {
    auto m = ws.next_message(5s);
    ASSERT_TRUE(m);
    const json e = json::parse(*m);
    by_ws[e["seq"]] = e["data"];
  }
  while (by_sse.size() < 20) {
    auto e = sse.next_event(5s);
    ASSERT_TRUE(e);
    by_sse[std::stoull(e->id)] = json::parse(e->data)["data"];
  }
  std::uint64_t since = base;
  while (by_poll.size() < 20) {
    const json answer = poll(server, "mixed?since=" + std::to_string(since));
    for (const auto& e : answer["events"]) by_poll[e["seq"]] = e["data"];
    since = answer["next"];
  }
  for (std::uint64_t seq = base + 1; seq <= base + 20; ++seq) {
    ASSERT_TRUE(by_ws.count(seq) && by_sse.count(seq) && by_poll.count(seq)) << seq;
    EXPECT_EQ(by_ws[seq], by_sse[seq]);
    EXPECT_EQ(by_ws[seq], by_poll[seq]);
  }
}

TEST(HttpStreams, TwoHundredSseAndTwoHundredLongPollClientsMissNothing) {
  ServerProcess server({"--transport", "sse,longpoll", "--tick-ms", "50"});
  std::vector<std::unique_ptr<SseReader>> streams;
  streams.reserve(200);
  for (int i = 0; i < 200; ++i) {
    streams.push_back(std::make_unique<SseReader>(server.port(), "/sse/rooms/crowd"));
  }
  std::vector<std::uint64_t> last(streams.size());
  for (std::size_t i = 0; i < streams.size(); ++i) {
    auto snapshot = streams[i]->next_event(10s);
    ASSERT_TRUE(snapshot) << i;
    last[i] = std::stoull(snapshot->id);
  }
  // Long-poll clients, one thread each, as 200 browsers would be. Positions are relative to
  // the fresh room's base (its snapshot's seq).
  const std::uint64_t base = last[0];
  const std::uint64_t kTarget = base + 60;
  std::atomic<int> gaps{0}, failures{0};
  std::vector<std::thread> pollers;
  pollers.reserve(200);
  for (int i = 0; i < 200; ++i) {
    pollers.emplace_back([&] {
      httplib::Client http("127.0.0.1", server.port());
      http.set_read_timeout(30s);
      std::uint64_t since = base;
      while (since < kTarget) {
        auto res = http.Get(("/poll/rooms/crowd?since=" + std::to_string(since)).c_str());
        if (!res || res->status != 200) {
          ++failures;
          return;
        }
        const json answer = json::parse(res->body);
        for (const auto& e : answer["events"]) {
          if (e["seq"].get<std::uint64_t>() != since + 1) ++gaps;
          since = e["seq"];
        }
      }
    });
  }
  post(server, "crowd", R"({"type":"start"})");
  for (std::size_t i = 0; i < streams.size(); ++i) {
    while (last[i] < kTarget) {
      auto event = streams[i]->next_event(10s);
      ASSERT_TRUE(event) << "stream " << i << " stalled after " << last[i];
      const std::uint64_t seq = std::stoull(event->id);
      ASSERT_EQ(seq, last[i] + 1) << "stream " << i << " saw a gap";
      last[i] = seq;
    }
  }
  for (auto& t : pollers) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(metric(server, "tickcast_ticks_dropped_total{transport=\"sse\"}"), 0u);
}

TEST(HttpStreams, AThousandAbruptDisconnectsLeaveNothingBehind) {
  ServerProcess server({"--transport", "sse,longpoll", "--tick-ms", "100"});
  post(server, "churn", R"({"type":"start"})");
  for (int round = 0; round < 4; ++round) {
    std::vector<std::unique_ptr<SseReader>> streams;
    streams.reserve(250);
    for (int i = 0; i < 250; ++i) {
      streams.push_back(std::make_unique<SseReader>(server.port(), "/sse/rooms/churn"));
    }
    for (auto& s : streams) ASSERT_EQ(s->wait_status(10s), 200);
    EXPECT_EQ(metric(server, "tickcast_clients{transport=\"sse\"}"), 250u);
    for (auto& s : streams) s->abort();
    streams.clear();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (metric(server, "tickcast_clients{transport=\"sse\"}") != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "vanished clients still held";
      std::this_thread::sleep_for(20ms);
    }
  }
  // Parked long-polls that vanish are freed too.
  {
    std::vector<std::unique_ptr<SseReader>> polls;  // a raw GET that is never answered
    post(server, "churn", R"({"type":"stop"})");    // nothing more happens in the room
    const std::uint64_t seq = room_seq(server, "churn");
    polls.reserve(100);
    for (int i = 0; i < 100; ++i) {
      polls.push_back(std::make_unique<SseReader>(
          server.port(), "/poll/rooms/churn?timeout_ms=60000&since=" + std::to_string(seq)));
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (metric(server, "tickcast_clients{transport=\"longpoll\"}") != 100) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << metric(server, "tickcast_clients{transport=\"longpoll\"}") << " parked; "
          << polls.front()->body();
      std::this_thread::sleep_for(20ms);
    }
    for (auto& p : polls) p->abort();
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (metric(server, "tickcast_clients{transport=\"longpoll\"}") != 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "vanished polls still held";
    std::this_thread::sleep_for(20ms);
  }
  httplib::Client http("127.0.0.1", server.port());
  EXPECT_EQ(http.Get("/healthz")->status, 200);
}

TEST(HttpStreams, FullStreamSlotsAnswer503AndRestStillAnswers) {
  ServerProcess server({"--transport", "sse,longpoll", "--max-clients", "20"});
  std::vector<std::unique_ptr<SseReader>> streams;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(std::make_unique<SseReader>(server.port(), "/sse/rooms/full"));
    ASSERT_EQ(streams.back()->wait_status(5s), 200);
  }
  SseReader refused(server.port(), "/sse/rooms/full");
  ASSERT_EQ(refused.wait_status(5s), 503);
  EXPECT_EQ(refused.header("retry-after"), "5");
  EXPECT_NE(refused.body().find("overloaded"), std::string::npos);
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(2s);
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto command = http.Post("/api/rooms/full/commands", R"({"type":"start"})", "application/json");
  ASSERT_TRUE(command);
  EXPECT_EQ(command->status, 200);
}

}  // namespace
}  // namespace tickcast
