// The room store on NATS JetStream (--cluster): real nats-servers with file storage, real
// tickcast-server nodes, kill -9 and full restarts. The checks compare what clients saw,
// never elapsed times.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
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
using testing::NatsServer;
using testing::poll_room;
using testing::post_command;
using testing::read_sse;
using testing::room_snapshot;
using testing::ServerProcess;
using testing::SseReader;
using testing::TempDir;
using testing::wait_for;

class ClusterStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::nats_server_available()) GTEST_SKIP() << "no nats-server (scripts/setup.sh)";
  }
};

// One nats-server (R1): the node dies by kill -9, a new node on the same cluster resumes
// every client exactly, from the events JetStream holds.
TEST_F(ClusterStore, ANodeKilledNineIsFollowedByOneThatResumesExactlyFromJetStream) {
  TempDir dir("tickcast-nats");
  NatsServer nats("n1", dir.path(), testing::free_port());
  EventLog log;
  std::vector<json> witness_seen;
  std::uint64_t poll_next = 0;
  {
    ServerProcess node(cluster_node_args(nats.url()));
    ASSERT_EQ(post_command(node, "focus", R"({"type":"start"})").status, 200) << node.output();
    const json first = poll_room(node, "focus?since=0");
    poll_next = first.value("next", std::uint64_t{0});
    SseReader witness(node.port(), "/sse/rooms/focus");
    read_sse(witness, log, witness_seen, 8);
    ASSERT_EQ(witness_seen.size(), 8u) << node.output();
    node.kill_hard();
    std::vector<json> rest;
    read_sse(witness, log, rest, SIZE_MAX, 2s);  // what was sent before the kill
    witness_seen.insert(witness_seen.end(), rest.begin(), rest.end());
  }
  const json last = witness_seen.back();
  const std::uint64_t witness_last = last["seq"];

  ServerProcess node(cluster_node_args(nats.url()));
  const json snapshot = room_snapshot(node, "focus");
  ASSERT_EQ(snapshot["reason"], "snapshot") << node.output();
  EXPECT_TRUE(snapshot["state"]["running"]);
  EXPECT_GE(snapshot["seq"].get<std::uint64_t>(), witness_last) << "a seq went backwards";
  const std::int64_t down_ms = (snapshot["server_time_us"].get<std::int64_t>() -
                                last["server_time_us"].get<std::int64_t>()) /
                               1000;
  EXPECT_LE(snapshot["state"]["remaining_ms"].get<std::int64_t>(),
            last["state"]["remaining_ms"].get<std::int64_t>() - down_ms + 2)
      << "the countdown gained time while no node ran it";

  std::vector<json> resumed;
  SseReader again(node.port(), "/sse/rooms/focus",
                  {{"Last-Event-ID", std::to_string(witness_last)}});
  read_sse(again, log, resumed, 5);
  ASSERT_EQ(resumed.size(), 5u);
  for (std::size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_NE(resumed[i]["reason"], "snapshot");
    EXPECT_EQ(resumed[i]["seq"], witness_last + 1 + i) << "a gap or a repeat across the kill";
  }
  // Long-poll from the first lifetime's position: the stored events, byte for byte as the
  // witness saw them (EventLog compares), then new ones, contiguous.
  const json answer = poll_room(node, "focus?since=" + std::to_string(poll_next));
  ASSERT_FALSE(answer["events"].empty());
  for (std::size_t i = 0; i < answer["events"].size(); ++i) {
    EXPECT_EQ(answer["events"][i]["seq"], poll_next + 1 + i);
    log.add(answer["events"][i]);
  }
}

// Starts a node in the background: a standby does not listen until it holds the lease.
std::future<std::unique_ptr<ServerProcess>> start_standby(const std::string& cluster) {
  return std::async(std::launch::async, [cluster] {
    return std::make_unique<ServerProcess>(cluster_node_args(cluster), 60s);
  });
}

// kill -9 of the writer: a standby takes the lease once it is not renewed, loads the rooms
// from JetStream and goes on from the absolute deadline; a client moving over resumes
// exactly.
TEST_F(ClusterStore, AStandbyTakesOverFromAWriterKilledNineAndClientsResumeExactly) {
  TempDir dir("tickcast-nats");
  NatsServer nats("n1", dir.path(), testing::free_port());
  EventLog log;
  std::vector<json> seen;
  auto active = std::make_unique<ServerProcess>(cluster_node_args(nats.url()));
  ASSERT_EQ(post_command(*active, "focus", R"({"type":"start"})").status, 200) << active->output();
  auto standby = start_standby(nats.url());
  {
    SseReader witness(active->port(), "/sse/rooms/focus");
    read_sse(witness, log, seen, 6);
    ASSERT_EQ(seen.size(), 6u) << active->output();
    active->kill_hard();
    std::vector<json> rest;
    read_sse(witness, log, rest, SIZE_MAX, 2s);
    seen.insert(seen.end(), rest.begin(), rest.end());
  }
  const json last = seen.back();
  const std::uint64_t last_seq = last["seq"];
  std::unique_ptr<ServerProcess> next = standby.get();
  EXPECT_TRUE(next->wait_for_output("lease held")) << next->output();
  const json snapshot = room_snapshot(*next, "focus");
  ASSERT_EQ(snapshot["reason"], "snapshot") << next->output();
  EXPECT_TRUE(snapshot["state"]["running"]);
  const std::int64_t gap_ms = (snapshot["server_time_us"].get<std::int64_t>() -
                               last["server_time_us"].get<std::int64_t>()) /
                              1000;
  EXPECT_LE(snapshot["state"]["remaining_ms"].get<std::int64_t>(),
            last["state"]["remaining_ms"].get<std::int64_t>() - gap_ms + 2)
      << "the countdown gained time across the takeover";
  std::vector<json> resumed;
  SseReader again(next->port(), "/sse/rooms/focus", {{"Last-Event-ID", std::to_string(last_seq)}});
  read_sse(again, log, resumed, 5);
  ASSERT_EQ(resumed.size(), 5u);
  for (std::size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_NE(resumed[i]["reason"], "snapshot");
    EXPECT_EQ(resumed[i]["seq"], last_seq + 1 + i) << "a gap or a repeat across the takeover";
  }
}

// SIGSTOP of the writer past its lease: a standby takes over; after SIGCONT the stale
// writer publishes nothing more (it finds its lease lost before its next commit and
// exits), so no seq ever reaches a client with two payloads.
TEST_F(ClusterStore, AWriterStoppedPastItsLeaseSendsNothingLateAfterSigcont) {
  TempDir dir("tickcast-nats");
  NatsServer nats("n1", dir.path(), testing::free_port());
  EventLog log;
  std::vector<json> on_stale;
  ServerProcess stale(cluster_node_args(nats.url()));
  ASSERT_EQ(post_command(stale, "focus", R"({"type":"start"})").status, 200) << stale.output();
  SseReader witness(stale.port(), "/sse/rooms/focus");
  read_sse(witness, log, on_stale, 4);
  ASSERT_EQ(on_stale.size(), 4u);
  ASSERT_EQ(::kill(stale.pid(), SIGSTOP), 0);
  // The standby starts listening only once it holds the lease: a lease time after the
  // stopped writer's last renewal.
  auto next = start_standby(nats.url()).get();
  std::vector<json> on_next;
  SseReader fresh(next->port(), "/sse/rooms/focus");
  read_sse(fresh, log, on_next, 3);
  ASSERT_EQ(on_next.size(), 3u) << next->output();
  ASSERT_EQ(::kill(stale.pid(), SIGCONT), 0);
  // Everything the stale writer's client gets until its stream ends (the writer exits).
  // Bounded: a writer that was not fenced would go on ticking forever.
  read_sse(witness, log, on_stale, on_stale.size() + 100, 5s);
  // Every event the stale writer's client got was stored before the new writer loaded
  // the room: none is numbered past the new writer's first snapshot. A late event would be
  // (under the same numbers, EventLog would see two payloads; renumbered, it is above).
  ASSERT_EQ(on_next.front()["reason"], "snapshot");
  const std::uint64_t takeover_seq = on_next.front()["seq"];
  for (const json& e : on_stale) {
    EXPECT_LE(e["seq"].get<std::uint64_t>(), takeover_seq) << "late: " << e.dump();
  }
  EXPECT_TRUE(stale.wait_for_output("exiting")) << "the stale writer did not stop after SIGCONT:\n"
                                                << stale.output();
}

bool healthz_ok(const ServerProcess& node) {
  httplib::Client http("127.0.0.1", node.port());
  auto res = http.Get("/healthz");
  return res && res->status == 200;
}

// Waits for `condition` until `timeout`; polling a condition, not a sleep as a guess.
TEST_F(ClusterStore, HealthSaysWhenTheEngineLinkIsLostAndRecovers) {
  TempDir dir("tickcast-nats");
  const int port = testing::free_port();
  auto nats = std::make_unique<NatsServer>("n1", dir.path(), port);
  ServerProcess node(cluster_node_args(nats->url()));
  ASSERT_TRUE(healthz_ok(node));
  {  // /api/cluster names this node, the writer of every room, and its servers
    httplib::Client http("127.0.0.1", node.port());
    auto res = http.Get("/api/cluster");
    ASSERT_TRUE(res && res->status == 200);
    const json cluster = json::parse(res->body);
    EXPECT_EQ(cluster["node"], "127.0.0.1:" + std::to_string(node.port()));
    EXPECT_EQ(cluster["role"], "writer");
    EXPECT_EQ(cluster["servers"], json::array({nats->url()}));
    res = http.Get("/api/config");
    ASSERT_TRUE(res);
    EXPECT_EQ(json::parse(res->body)["node"], cluster["node"]);
  }
  nats->stop(SIGKILL);
  EXPECT_TRUE(wait_for([&] { return !healthz_ok(node); }, 15s)) << "still 200 without engine";
  httplib::Client http("127.0.0.1", node.port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ntickcast_store_connected 0\n"), std::string::npos);
  nats = std::make_unique<NatsServer>("n1", dir.path(), port);
  EXPECT_TRUE(wait_for([&] { return healthz_ok(node); }, 30s)) << node.output();
  metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ntickcast_store_connected 1\n"), std::string::npos);
}

// kill -9 of the nats-server that leads the stream (R3): ticks resume after the election,
// and every event a client saw before the kill is still there, byte for byte.
TEST_F(ClusterStore, KillingTheStreamLeaderLosesNoAcknowledgedEventAndTicksResume) {
  TempDir dir("tickcast-nats3");
  int ports[3], routes[3], monitors[3];
  for (int i = 0; i < 3; ++i) {
    ports[i] = testing::free_port();
    routes[i] = testing::free_port();
    monitors[i] = testing::free_port();
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
    servers.push_back(std::make_unique<NatsServer>("n" + std::to_string(i), store, ports[i],
                                                   routes[i], others, monitors[i]));
    cluster += (cluster.empty() ? "" : ",") + servers.back()->url();
  }
  ServerProcess node(cluster_node_args(cluster), 45s);
  ASSERT_EQ(post_command(node, "focus", R"({"type":"start"})").status, 200) << node.output();
  EventLog log;
  std::vector<json> before;
  SseReader reader(node.port(), "/sse/rooms/focus");
  read_sse(reader, log, before, 6);
  ASSERT_EQ(before.size(), 6u);
  // The stream's leader, as the monitoring port reports it.
  std::string leader;
  ASSERT_TRUE(wait_for(
      [&] {
        httplib::Client http("127.0.0.1", monitors[0]);
        auto res = http.Get("/jsz?accounts=true&streams=true");
        if (!res) return false;
        const json jsz = json::parse(res->body, nullptr, false);
        for (const json& account : jsz.value("account_details", json::array())) {
          for (const json& stream : account.value("stream_detail", json::array())) {
            if (stream.value("name", "") == "TICKCAST_tickcast" && stream.contains("cluster")) {
              leader = stream["cluster"].value("leader", "");
            }
          }
        }
        return !leader.empty();
      },
      15s));
  for (auto& s : servers) {
    if (s->name() == leader) s->stop(SIGKILL);
  }
  const std::uint64_t first_seen = before[1]["seq"];
  // Ticks go on after the election: the client sees new events (a read waits up to 30 s).
  std::vector<json> after;
  read_sse(reader, log, after, 10, 30s);
  ASSERT_EQ(after.size(), 10u) << "ticks did not resume after the election\n" << node.output();
  // Resume from before the kill: the events seen then come back byte for byte (EventLog).
  const json answer = poll_room(node, "focus?since=" + std::to_string(first_seen));
  ASSERT_FALSE(answer["events"].empty()) << answer.dump();
  EXPECT_NE(answer["events"][0]["reason"], "snapshot") << "the history before the kill was lost:\n"
                                                       << node.output();
  for (const json& e : answer["events"]) {
    if (e["reason"] != "snapshot") log.add(e);
  }
  std::cout << "leader " << leader << " killed; store write errors seen: "
            << (node.output().find("room store write failed") != std::string::npos) << '\n';
}

// Three nats-servers (R3, file storage): every nats-server and the node stop, all start
// again on the same folders, and the room is back with its timer and its history.
TEST_F(ClusterStore, AFullRestartOfEveryNatsServerAndTheNodeBringsRoomsBack) {
  TempDir dir("tickcast-nats3");
  const int ports[3] = {testing::free_port(), testing::free_port(), testing::free_port()};
  const int routes[3] = {testing::free_port(), testing::free_port(), testing::free_port()};
  auto start_nats = [&](std::vector<std::unique_ptr<NatsServer>>& servers) {
    for (int i = 0; i < 3; ++i) {
      const std::string store = dir.path() + "/n" + std::to_string(i);
      std::filesystem::create_directories(store);
      std::vector<int> others;
      for (int j = 0; j < 3; ++j) {
        if (j != i) others.push_back(routes[j]);
      }
      servers.push_back(std::make_unique<NatsServer>("n" + std::to_string(i), store, ports[i],
                                                     routes[i], others));
    }
  };
  std::string cluster;
  for (int p : ports)
    cluster += (cluster.empty() ? "" : ",") + ("nats://127.0.0.1:" + std::to_string(p));

  EventLog log;
  std::vector<json> seen;
  {
    std::vector<std::unique_ptr<NatsServer>> servers;
    start_nats(servers);
    ServerProcess node(cluster_node_args(cluster), 45s);
    ASSERT_EQ(post_command(node, "focus", R"({"type":"start"})").status, 200) << node.output();
    SseReader reader(node.port(), "/sse/rooms/focus");
    read_sse(reader, log, seen, 6);
    ASSERT_EQ(seen.size(), 6u) << node.output();
    ASSERT_EQ(node.terminate(), std::optional<int>(0));
    for (auto& s : servers) s->stop(SIGTERM);
  }
  const std::uint64_t last_seen = seen.back()["seq"];
  std::vector<std::unique_ptr<NatsServer>> servers;
  start_nats(servers);
  ServerProcess node(cluster_node_args(cluster), 45s);
  const json snapshot = room_snapshot(node, "focus");
  ASSERT_EQ(snapshot["reason"], "snapshot") << node.output();
  EXPECT_TRUE(snapshot["state"]["running"]) << "the timer is not back";
  EXPECT_GE(snapshot["seq"].get<std::uint64_t>(), last_seen);
  std::vector<json> resumed;
  SseReader again(node.port(), "/sse/rooms/focus", {{"Last-Event-ID", std::to_string(last_seen)}});
  read_sse(again, log, resumed, 3);
  ASSERT_EQ(resumed.size(), 3u);
  for (std::size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i]["seq"], last_seen + 1 + i) << "history lost across the full restart";
  }
}

}  // namespace
}  // namespace tickcast
