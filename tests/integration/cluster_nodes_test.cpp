// Every node of a cluster serves clients (--cluster): one writer runs the timers, followers
// feed their clients from the JetStream stream and forward commands. Real nats-server, real
// tickcast-server nodes; waits on conditions with deadlines, never on sleeps.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/event_log.h"
#include "support/nats_process.h"
#include "support/room_client.h"
#include "support/server_process.h"
#include "support/sse_reader.h"
#include "support/temp_dir.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::cluster_node_args;
using testing::EventLog;
using testing::get_json;
using testing::get_json_at;
using testing::HttpAnswer;
using testing::NatsServer;
using testing::post_command;
using testing::ServerProcess;
using testing::SseReader;
using testing::TempDir;
using testing::wait_for;

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Received is one SSE event with the wall time it arrived.
struct Received {
  json event;
  std::int64_t at_us;
};

/// Follow reads an SSE stream on its own thread, so receipt times are taken on arrival.
class Follow {
 public:
  Follow(int port, const std::string& path,
         std::vector<std::pair<std::string, std::string>> headers = {})
      : reader_(port, path, std::move(headers)), thread_([this] { run(); }) {}
  ~Follow() {
    stop_ = true;
    thread_.join();
  }
  Follow(const Follow&) = delete;
  Follow& operator=(const Follow&) = delete;

  std::vector<Received> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  /// wait_seq waits until an event with seq >= `seq` arrived.
  bool wait_seq(std::uint64_t seq, std::chrono::milliseconds timeout) const {
    return wait_for(
        [&] {
          std::lock_guard lock(mutex_);
          return !events_.empty() && events_.back().event.value("seq", std::uint64_t{0}) >= seq;
        },
        timeout);
  }
  /// after returns the events after the first one with `reason` (that one included).
  std::vector<json> from_reason(const std::string& reason) const {
    std::vector<json> out;
    for (const auto& r : events()) {
      if (out.empty() && r.event.value("reason", "") != reason) continue;
      out.push_back(r.event);
    }
    return out;
  }

 private:
  void run() {
    while (!stop_) {
      auto e = reader_.next_event(100ms);
      if (!e) continue;
      json event = json::parse(e->data, nullptr, false);
      std::lock_guard lock(mutex_);
      events_.push_back({std::move(event), wall_us()});
    }
  }
  SseReader reader_;
  mutable std::mutex mutex_;
  std::vector<Received> events_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void expect_contiguous(const std::vector<json>& events, const std::string& where) {
  for (std::size_t i = 1; i < events.size(); ++i) {
    ASSERT_EQ(events[i]["seq"].get<std::uint64_t>(), events[i - 1]["seq"].get<std::uint64_t>() + 1)
        << where << ": a gap or a repeat after " << events[i - 1].dump();
  }
}

std::int64_t percentile(std::vector<std::int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()))];
}

class ClusterNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::nats_server_available()) GTEST_SKIP() << "no nats-server (scripts/setup.sh)";
    dir_ = std::make_unique<TempDir>("tickcast-nats");
    monitor_port_ = testing::free_port();
    nats_ = std::make_unique<NatsServer>("n1", dir_->path(), testing::free_port(), 0,
                                         std::vector<int>{}, monitor_port_);
    writer_ = std::make_unique<ServerProcess>(cluster_node_args(nats_->url()));
    follower_ = std::make_unique<ServerProcess>(cluster_node_args(nats_->url()));
    ASSERT_TRUE(follower_->wait_for_output("follower")) << follower_->output();
  }
  // nats_connected tells whether nats-server still lists a connection of `node` (its links
  // are named after the node id, 127.0.0.1:PORT), from its monitoring port's /connz.
  bool nats_connected(const ServerProcess& node) const {
    const json connz = get_json_at(monitor_port_, "/connz");
    const std::string id = "127.0.0.1:" + std::to_string(node.port());
    for (const auto& c : connz.value("connections", json::array())) {
      if (c.value("name", "").find(id) != std::string::npos) return true;
    }
    return false;
  }
  // restart_with_writer_fault starts the two nodes again, the writer with
  // TICKCAST_FAULT_FORWARD_ANSWER=`fault` (what it does with its first forwarded answer).
  void restart_with_writer_fault(const std::string& fault) {
    follower_.reset();
    writer_.reset();
    ::setenv("TICKCAST_FAULT_FORWARD_ANSWER", fault.c_str(), 1);
    writer_ = std::make_unique<ServerProcess>(cluster_node_args(nats_->url()));
    ::unsetenv("TICKCAST_FAULT_FORWARD_ANSWER");
    // The lease of the writer just stopped passes on after a lease time.
    ASSERT_TRUE(
        wait_for([&] { return get_json(*writer_, "/api/cluster")["role"] == "writer"; }, 15s))
        << writer_->output();
    follower_ = std::make_unique<ServerProcess>(cluster_node_args(nats_->url()));
    ASSERT_TRUE(follower_->wait_for_output("follower")) << follower_->output();
  }
  // skip_through_the_follower_with_writer_fault: the nodes again, the writer with `fault`;
  // one skip sent to the follower's REST API is answered 200 with the room one phase on
  // (short_break: a skip run twice would be back at work), after the writer met its fault.
  void skip_through_the_follower_with_writer_fault(const std::string& fault) {
    restart_with_writer_fault(fault);
    const HttpAnswer answer =
        post_command(*follower_, "focus", R"({"type":"skip","request_id":"once"})");
    ASSERT_EQ(answer.status, 200) << answer.body.dump() << '\n'
                                  << writer_->output() << follower_->output();
    EXPECT_EQ(answer.body["state"]["phase"], "short_break") << answer.body.dump();
    EXPECT_TRUE(writer_->wait_for_output("fault injection: no answer to a forwarded command"));
  }
  std::unique_ptr<TempDir> dir_;
  int monitor_port_ = 0;
  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<ServerProcess> writer_;
  std::unique_ptr<ServerProcess> follower_;
};

// An SSE client on the writer and one on the follower see the same events (seq and bytes);
// a command sent to the follower is applied once by the writer and answered to its sender;
// a refused one is an error for the sender only; /api/cluster shows both nodes.
TEST_F(ClusterNodes, ClientsOnTwoNodesSeeOneSequenceAndCommandsOnTheFollowerApplyOnce) {
  ServerProcess& a = *writer_;
  ServerProcess& b = *follower_;
  Follow on_a(a.port(), "/sse/rooms/focus");
  Follow on_b(b.port(), "/sse/rooms/focus");  // a room the follower had not seen
  ASSERT_TRUE(wait_for([&] { return !on_a.events().empty() && !on_b.events().empty(); }, 10s));

  const HttpAnswer started = post_command(b, "focus", R"({"type":"start","request_id":"first"})");
  ASSERT_EQ(started.status, 200) << started.body.dump() << b.output();
  EXPECT_EQ(started.body["request_id"], "first");
  EXPECT_TRUE(started.body["state"]["running"]);
  const HttpAnswer again = post_command(b, "focus", R"({"type":"start","request_id":"again"})");
  EXPECT_EQ(again.status, 409) << again.body.dump();
  EXPECT_EQ(again.body["code"], "already_running");
  EXPECT_EQ(again.body["request_id"], "again");

  ASSERT_TRUE(wait_for([&] { return !on_a.from_reason("start").empty(); }, 10s));
  const std::uint64_t start_seq = on_a.from_reason("start").front()["seq"];
  ASSERT_TRUE(on_a.wait_seq(start_seq + 20, 15s));
  ASSERT_TRUE(on_b.wait_seq(start_seq + 20, 15s)) << b.output();

  EventLog log;
  const std::vector<json> seen_a = on_a.from_reason("start");
  const std::vector<json> seen_b = on_b.from_reason("start");
  expect_contiguous(seen_a, "writer's client");
  expect_contiguous(seen_b, "follower's client");
  ASSERT_EQ(seen_b.front()["seq"], start_seq);
  for (const auto& e : seen_a) log.add(e);
  for (const auto& e : seen_b) log.add(e);  // same seq, other bytes: a failure
  for (const auto* seen : {&seen_a, &seen_b}) {
    EXPECT_EQ(std::count_if(seen->begin(), seen->end(),
                            [](const json& e) { return e["reason"] == "start"; }),
              1)
        << "the forwarded start was applied more than once";
    for (const auto& e : *seen) EXPECT_TRUE(e["success"]) << "an error reached a room: " << e;
  }

  // Long-poll on the follower from the start: the same events.
  const json polled = get_json(b, "/poll/rooms/focus?since=" + std::to_string(start_seq));
  ASSERT_FALSE(polled["events"].empty()) << polled.dump();
  EXPECT_EQ(polled["events"][0]["seq"], start_seq + 1);
  for (const auto& e : polled["events"]) log.add(e);

  // Delivery latency (server_time_us to receipt), writer's client vs follower's client.
  std::vector<std::int64_t> lat_a, lat_b;
  for (const auto& r : on_a.events()) {
    if (r.event.value("reason", "") == "tick")
      lat_a.push_back(r.at_us - r.event["server_time_us"].get<std::int64_t>());
  }
  for (const auto& r : on_b.events()) {
    if (r.event.value("reason", "") == "tick")
      lat_b.push_back(r.at_us - r.event["server_time_us"].get<std::int64_t>());
  }
  std::cout << "tick latency us: writer's client p50 " << percentile(lat_a, 0.5) << " p99 "
            << percentile(lat_a, 0.99) << "; follower's client p50 " << percentile(lat_b, 0.5)
            << " p99 " << percentile(lat_b, 0.99) << " (" << lat_b.size() << " ticks)\n";

  const std::string a_id = "127.0.0.1:" + std::to_string(a.port());
  const std::string b_id = "127.0.0.1:" + std::to_string(b.port());
  json cluster;
  ASSERT_TRUE(wait_for(
      [&] {
        cluster = get_json(b, "/api/cluster");
        return cluster.is_object() && cluster["nodes"].size() == 2;
      },
      10s))
      << cluster.dump();
  EXPECT_EQ(cluster["node"], b_id);
  EXPECT_EQ(cluster["role"], "follower");
  EXPECT_EQ(cluster["writer"], a_id);
  for (const auto& n : cluster["nodes"]) {
    EXPECT_TRUE(n["alive"]) << n;
    EXPECT_EQ(n["role"], n["id"] == a_id ? "writer" : "follower") << n;
    EXPECT_EQ(n["url"], "http://" + n["id"].get<std::string>());
  }
  ASSERT_EQ(cluster["rooms"].size(), 1u) << cluster.dump();
  EXPECT_EQ(cluster["rooms"][0]["room"], "focus");
  EXPECT_EQ(cluster["rooms"][0]["owner"], a_id);
  const json light = get_json(b, "/api/cluster?rooms=0");  // the web page's poll
  EXPECT_EQ(light["nodes"].size(), 2u) << light.dump();
  EXPECT_FALSE(light.contains("rooms")) << light.dump();
  EXPECT_EQ(get_json(a, "/api/cluster")["role"], "writer");
  EXPECT_EQ(get_json(b, "/healthz")["status"], "ok");
}

// A client that read the room on the writer reconnects to the follower with its last
// position: exactly the events it missed, by SSE Last-Event-ID and by long-poll since.
TEST_F(ClusterNodes, AClientMovingToTheFollowerResumesExactly) {
  ServerProcess& a = *writer_;
  ServerProcess& b = *follower_;
  ASSERT_EQ(post_command(a, "focus", R"({"type":"start"})").status, 200);
  EventLog log;
  std::uint64_t last = 0;
  {
    Follow on_a(a.port(), "/sse/rooms/focus");
    ASSERT_TRUE(wait_for([&] { return on_a.events().size() >= 6; }, 10s));
    for (const auto& r : on_a.events()) {
      if (r.event["reason"] != "snapshot") log.add(r.event);
    }
    last = on_a.events().back().event["seq"];
  }  // the client leaves node A
  // Missed events happen meanwhile, and reach the follower.
  ASSERT_TRUE(wait_for(
      [&] { return get_json(b, "/api/rooms/focus").value("seq", std::uint64_t{0}) >= last + 5; },
      10s));
  Follow on_b(b.port(), "/sse/rooms/focus", {{"Last-Event-ID", std::to_string(last)}});
  ASSERT_TRUE(on_b.wait_seq(last + 8, 10s));
  std::vector<json> resumed;
  for (const auto& r : on_b.events()) resumed.push_back(r.event);
  ASSERT_NE(resumed.front()["reason"], "snapshot") << "a snapshot instead of the missed events";
  EXPECT_EQ(resumed.front()["seq"], last + 1);
  expect_contiguous(resumed, "resumed on the follower");
  for (const auto& e : resumed) log.add(e);
  const json polled = get_json(b, "/poll/rooms/focus?since=" + std::to_string(last));
  ASSERT_FALSE(polled["events"].empty());
  EXPECT_EQ(polled["events"][0]["seq"], last + 1);
  for (const auto& e : polled["events"]) log.add(e);
}

// kill -9 of the writer: the follower takes over in place. Its client keeps its connection
// and sees seq go on with no gap and no repeat; the countdown gains no time; a command sent
// while no node runs the timers is sent again until the new writer answers it.
TEST_F(ClusterNodes, AFollowerTakesOverInPlaceFromAWriterKilledNine) {
  ServerProcess& a = *writer_;
  ServerProcess& b = *follower_;
  ASSERT_EQ(post_command(a, "focus", R"({"type":"start"})").status, 200);
  Follow on_b(b.port(), "/sse/rooms/focus");
  ASSERT_TRUE(wait_for([&] { return on_b.events().size() >= 6; }, 10s)) << b.output();
  ASSERT_TRUE(nats_connected(a));
  a.kill_hard();
  const std::int64_t killed_us = wall_us();
  // Once nats-server has dropped A's connections, nobody serves commands until B takes over.
  ASSERT_TRUE(wait_for([&] { return !nats_connected(a); }, 10s));
  // A start of the running timer: the new writer's own answer is 409 already_running.
  const HttpAnswer during = post_command(b, "focus", R"({"type":"start","request_id":"during"})");
  EXPECT_EQ(during.status, 409) << during.body.dump() << b.output();
  EXPECT_EQ(during.body["code"], "already_running");
  EXPECT_EQ(during.body["request_id"], "during");
  EXPECT_GT(metric(b, "tickcast_cluster_forward_resends_total"), 0u)
      << "nobody served commands at first: it was sent again";
  EXPECT_EQ(metric(b, "tickcast_cluster_forward_failures_total"), 0u);
  ASSERT_TRUE(b.wait_for_output("took over", 15s)) << b.output();
  const std::uint64_t before = on_b.events().back().event["seq"];
  ASSERT_TRUE(on_b.wait_seq(before + 10, 10s)) << b.output();

  std::vector<json> seen;
  for (const auto& r : on_b.events()) seen.push_back(r.event);
  expect_contiguous(seen, "the follower's client across the takeover");
  EventLog log;
  for (const auto& e : seen) {
    if (e["reason"] != "snapshot") log.add(e);
  }
  // The largest gap between consecutive events is the takeover.
  std::size_t gap_at = 1;
  for (std::size_t i = 1; i < seen.size(); ++i) {
    const auto gap = seen[i]["server_time_us"].get<std::int64_t>() -
                     seen[i - 1]["server_time_us"].get<std::int64_t>();
    const auto widest = seen[gap_at]["server_time_us"].get<std::int64_t>() -
                        seen[gap_at - 1]["server_time_us"].get<std::int64_t>();
    if (gap > widest) gap_at = i;
  }
  const json& last_before = seen[gap_at - 1];
  const json& first_after = seen[gap_at];
  std::cout << "takeover: gap between events "
            << (first_after["server_time_us"].get<std::int64_t>() -
                last_before["server_time_us"].get<std::int64_t>()) /
                   1000
            << " ms (tick 100 ms); kill to first new event "
            << (first_after["server_time_us"].get<std::int64_t>() - killed_us) / 1000 << " ms\n";
  // No time gained: the snapshot now is no further from the end than the deadline says.
  const json snapshot = get_json(b, "/api/rooms/focus");
  ASSERT_EQ(snapshot["reason"], "snapshot");
  EXPECT_TRUE(snapshot["state"]["running"]);
  const std::int64_t since_ms = (snapshot["server_time_us"].get<std::int64_t>() -
                                 last_before["server_time_us"].get<std::int64_t>()) /
                                1000;
  EXPECT_LE(snapshot["state"]["remaining_ms"].get<std::int64_t>(),
            last_before["state"]["remaining_ms"].get<std::int64_t>() - since_ms + 2)
      << "the countdown gained time across the takeover";
  // The new writer runs commands itself now.
  EXPECT_EQ(post_command(b, "focus", R"({"type":"stop"})").status, 200);
  EXPECT_EQ(get_json(b, "/api/cluster")["role"], "writer");
}

// A forwarded command whose answer is lost (injected: the writer runs it, then drops the
// answer) is sent again by the follower, and the writer answers it from memory instead of
// running it twice: the requester gets 200 and the room moved by one skip, not two.
TEST_F(ClusterNodes, AForwardedCommandWhoseAnswerWasLostIsSentAgainAndRunOnce) {
  ASSERT_NO_FATAL_FAILURE(skip_through_the_follower_with_writer_fault("drop"));
  ServerProcess& a = *writer_;
  ServerProcess& b = *follower_;
  EXPECT_GE(testing::metric(b, "tickcast_cluster_forward_resends_total"), 1u);
  EXPECT_EQ(testing::metric(b, "tickcast_cluster_forward_failures_total"), 0u);
  // Two skips would have gone on to work.
  EXPECT_EQ(testing::room_snapshot(a, "focus")["state"]["phase"], "short_break");
  EXPECT_EQ(testing::room_snapshot(b, "focus")["state"]["phase"], "short_break");
}

// The writer runs a forwarded command, stores its event and dies before answering
// (injected): the follower sends it again until, having taken over, it answers it itself
// from the stored event's origin, without running it again.
TEST_F(ClusterNodes, ACommandTheWriterRanBeforeDyingIsAnsweredByTheNewWriterNotRunAgain) {
  ASSERT_NO_FATAL_FAILURE(skip_through_the_follower_with_writer_fault("exit"));
  ServerProcess& a = *writer_;
  ServerProcess& b = *follower_;
  const std::optional<int> status = a.terminate();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 70) << *status << '\n' << a.output();
  EXPECT_TRUE(b.wait_for_output("took over")) << b.output();
  EXPECT_EQ(testing::room_snapshot(b, "focus")["state"]["phase"], "short_break");
}

// The position check: a follower whose feed stops delivering (injected: the subscription
// drops messages after 20, as a wedged one would, while the link stays up) is found by
// comparing its position with the stream's, reported (/healthz 503, /metrics), and its feed
// is made again from its position: its client gets every event, late but with no gap.
TEST_F(ClusterNodes, AWedgedFeedIsFoundByThePositionCheckAndRecreated) {
  ServerProcess& a = *writer_;
  follower_.reset();
  ::setenv("TICKCAST_FAULT_FEED_STALL_AFTER", "20", 1);
  follower_ = std::make_unique<ServerProcess>(cluster_node_args(nats_->url()));
  ::unsetenv("TICKCAST_FAULT_FEED_STALL_AFTER");
  ServerProcess& b = *follower_;
  ASSERT_TRUE(b.wait_for_output("follower")) << b.output();
  Follow on_b(b.port(), "/sse/rooms/focus");
  ASSERT_EQ(post_command(a, "focus", R"({"type":"start"})").status, 200);
  json health;
  ASSERT_TRUE(wait_for(
      [&] {
        health = get_json(b, "/healthz");
        return health.value("status", "") == "cluster feed lagging";
      },
      15s))
      << b.output();
  EXPECT_TRUE(health["cluster"]["feed_wedged"]);
  EXPECT_TRUE(b.wait_for_output("recreating it"));
  ASSERT_TRUE(wait_for([&] { return get_json(b, "/healthz").value("status", "") == "ok"; }, 10s))
      << b.output();
  httplib::Client http("127.0.0.1", b.port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body.find("\ntickcast_cluster_feed_restarts_total 0\n"), std::string::npos)
      << "no restart counted";
  std::vector<json> seen;  // the snapshot, then every event
  for (const auto& r : on_b.events()) seen.push_back(r.event);
  ASSERT_GE(seen.size(), 25u) << "the recreated feed did not deliver what was missed\n"
                              << b.output();
  expect_contiguous(seen, "the follower's client across the wedge");
}

// 3 nats-servers (R3) and 3 nodes: a client on every node, commands from every node, one
// sequence everywhere; kill -9 of the writer: one survivor takes over, the other goes on
// following it, and both survivors' clients see seq go on with no gap or repeat.
TEST(ClusterOfThree, ClientsOnEveryNodeSeeOneSequenceAcrossAWriterKilledNine) {
  if (!testing::nats_server_available()) GTEST_SKIP() << "no nats-server (scripts/setup.sh)";
  TempDir dir("tickcast-nats3");
  int ports[3], routes[3];
  for (int i = 0; i < 3; ++i) {
    ports[i] = testing::free_port();
    routes[i] = testing::free_port();
  }
  std::vector<std::unique_ptr<NatsServer>> servers;
  std::string cluster;
  for (int i = 0; i < 3; ++i) {
    const std::string store = dir.path() + "/n" + std::to_string(i);
    std::filesystem::create_directories(store);
    std::vector<int> others;
    for (int j = 0; j < 3; ++j) {
      if (j != i) others.push_back(routes[j]);
    }
    servers.push_back(
        std::make_unique<NatsServer>("n" + std::to_string(i), store, ports[i], routes[i], others));
    cluster += (cluster.empty() ? "" : ",") + servers.back()->url();
  }
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  nodes.push_back(std::make_unique<ServerProcess>(cluster_node_args(cluster), 45s));
  for (int i = 0; i < 2; ++i) {
    nodes.push_back(std::make_unique<ServerProcess>(cluster_node_args(cluster), 45s));
    ASSERT_TRUE(nodes.back()->wait_for_output("follower")) << nodes.back()->output();
  }
  std::vector<std::unique_ptr<Follow>> clients;
  for (auto& node : nodes)
    clients.push_back(std::make_unique<Follow>(node->port(), "/sse/rooms/focus"));
  ASSERT_TRUE(wait_for(
      [&] {
        return std::all_of(clients.begin(), clients.end(),
                           [](const auto& c) { return !c->events().empty(); });
      },
      15s));
  // Commands from every node, each applied once.
  ASSERT_EQ(post_command(*nodes[1], "focus", R"({"type":"start"})").status, 200)
      << nodes[1]->output();
  ASSERT_EQ(post_command(*nodes[2], "focus", R"({"type":"stop"})").status, 200)
      << nodes[2]->output();
  ASSERT_EQ(post_command(*nodes[0], "focus", R"({"type":"start"})").status, 200);
  const std::uint64_t writer_seq = get_json(*nodes[0], "/api/rooms/focus")["seq"];
  for (auto& c : clients) ASSERT_TRUE(c->wait_seq(writer_seq + 5, 15s));
  nodes[0]->kill_hard();
  ASSERT_TRUE(wait_for(
      [&] {
        return nodes[1]->output().find("took over") != std::string::npos ||
               nodes[2]->output().find("took over") != std::string::npos;
      },
      20s));
  const bool second_took = nodes[1]->output().find("took over") != std::string::npos;
  ServerProcess& new_writer = second_took ? *nodes[1] : *nodes[2];
  ServerProcess& still_follower = second_took ? *nodes[2] : *nodes[1];
  const std::uint64_t after = get_json(new_writer, "/api/rooms/focus")["seq"];
  ASSERT_TRUE(clients[1]->wait_seq(after + 10, 15s));
  ASSERT_TRUE(clients[2]->wait_seq(after + 10, 15s));
  // The remaining follower forwards to the new writer.
  EXPECT_EQ(post_command(still_follower, "focus", R"({"type":"stop"})").status, 200);
  EventLog log;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::vector<json> seen;
    for (const auto& r : clients[i]->events()) seen.push_back(r.event);
    expect_contiguous(seen, "node " + std::to_string(i) + "'s client");
    for (const auto& e : seen) {
      if (e["reason"] != "snapshot") log.add(e);
    }
    const auto count = [&](const char* reason) {
      return std::count_if(seen.begin(), seen.end(),
                           [&](const json& e) { return e["reason"] == reason; });
    };
    EXPECT_EQ(count("start"), 2) << "node " << i;
  }
  EXPECT_EQ(get_json(still_follower, "/api/cluster")["writer"],
            "127.0.0.1:" + std::to_string(new_writer.port()));
}

}  // namespace
}  // namespace tickcast
