// Runs tickcast-bench for a few seconds with 10 clients per transport and checks its
// JSON: well formed, every transport present and held, nothing lost or duplicated on
// ws, sse and long-poll. No timing assertions: the machine may be busy.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "bench_run.h"

namespace {

using tickcast::bench::testing::BenchRun;

TEST(BenchSmoke, TenClientsPerTransport) {
  const BenchRun bench(
      "--transports ws,sse,longpoll,mqtt,mqtt-mosquitto,ws-lws,socketio,ws-tls,sse-tls --sizes 10"
      " --duration 2 --commands 2 --tick-ms 50");
  ASSERT_EQ(bench.status, 0) << bench.output;

  std::ifstream in(bench.json_path);
  ASSERT_TRUE(in) << bench.output;
  nlohmann::json report;
  ASSERT_NO_THROW(report = nlohmann::json::parse(in)) << bench.output;
  ASSERT_TRUE(report.contains("runs")) << report.dump(2);
  ASSERT_TRUE(report.contains("machine"));

  std::set<std::string> seen;
  for (const auto& run : report["runs"]) {
    const std::string transport = run.at("transport");
    seen.insert(transport);
    EXPECT_EQ(run.at("clients"), 10) << transport;
    EXPECT_TRUE(run.at("held").get<bool>()) << transport << ": " << run.at("note");
    EXPECT_EQ(run.at("connected"), 10) << transport;
    EXPECT_GT(run.at("latency_us").at("count").get<std::uint64_t>(), 0u) << transport;
    EXPECT_TRUE(run.at("latency_us").at("p99").is_number()) << transport;
    EXPECT_TRUE(run.at("server").at("peak_rss_kib").is_number()) << transport;
    if (transport == "ws" || transport == "ws-lws" || transport == "sse" ||
        transport == "longpoll" || transport == "socketio" || transport == "tcp" ||
        transport == "ws-tls" || transport == "sse-tls") {
      EXPECT_EQ(run.at("lost"), 0) << transport;
      EXPECT_EQ(run.at("duplicated"), 0) << transport;
      EXPECT_EQ(run.at("out_of_order"), 0) << transport;
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{"tcp", "ws", "sse", "longpoll", "mqtt", "mqtt-mosquitto",
                                         "ws-lws", "socketio", "ws-tls", "sse-tls"}));

  std::ifstream csv(bench.csv_path);
  std::string header;
  ASSERT_TRUE(std::getline(csv, header));
  EXPECT_EQ(header.rfind("transport,clients,held", 0), 0u);
}

// --client-loops 3: ten clients over three epoll loops (4, 3 and 3), the commands through
// client 0's loop. Every stream row connects all ten, loses nothing, and every command
// reaches every client.
TEST(BenchSmoke, ClientsSpreadOverSeveralLoops) {
  const BenchRun bench(
      "--transports ws,sse,longpoll,mqtt,socketio,sse-tls --sizes 10 --duration 2 --commands 2"
      " --tick-ms 50 --client-loops 3");
  ASSERT_EQ(bench.status, 0) << bench.output;
  std::ifstream in(bench.json_path);
  nlohmann::json report;
  ASSERT_NO_THROW(report = nlohmann::json::parse(in)) << bench.output;
  EXPECT_EQ(report.at("options").at("client_loops"), 3);
  std::set<std::string> seen;
  for (const auto& run : report.at("runs")) {
    const std::string transport = run.at("transport");
    seen.insert(transport);
    EXPECT_TRUE(run.at("held").get<bool>()) << transport << ": " << run.at("note");
    EXPECT_EQ(run.at("connected"), 10) << transport;
    EXPECT_EQ(run.at("command_timeouts"), 0) << transport;
    EXPECT_GT(run.at("latency_us").at("count").get<std::uint64_t>(), 0u) << transport;
    if (transport != "mqtt") {
      EXPECT_EQ(run.at("lost"), 0) << transport;
    }
    EXPECT_EQ(run.at("duplicated"), 0) << transport;
  }
  EXPECT_EQ(seen,
            (std::set<std::string>{"tcp", "ws", "sse", "longpoll", "mqtt", "socketio", "sse-tls"}));
}

// --client-poll-us: the stream clients poll instead of sleeping until a socket is ready.
// Every row still gets every event and command, and the reader's sleeps are counted: about
// one per poll period (a 2 s window at 1 ms: ~2,000), where a sleeping reader of 10 clients
// at 50 ms ticks sleeps at most once per event (400).
TEST(BenchSmoke, ClientsPollInsteadOfSleeping) {
  const BenchRun bench(
      "--transports ws,sse,longpoll,mqtt --sizes 10 --duration 2 --commands 2 --tick-ms 50"
      " --client-poll-us 1000");
  ASSERT_EQ(bench.status, 0) << bench.output;
  std::ifstream in(bench.json_path);
  nlohmann::json report;
  ASSERT_NO_THROW(report = nlohmann::json::parse(in)) << bench.output;
  EXPECT_EQ(report.at("options").at("client_poll_us"), 1000);
  ASSERT_EQ(report.at("runs").size(), 5u) << report.dump(2);
  for (const auto& run : report.at("runs")) {
    const std::string transport = run.at("transport");
    EXPECT_TRUE(run.at("held").get<bool>()) << transport << ": " << run.at("note");
    EXPECT_EQ(run.at("command_timeouts"), 0) << transport;
    EXPECT_GT(run.at("latency_us").at("count").get<std::uint64_t>(), 0u) << transport;
    if (transport != "mqtt") {
      EXPECT_EQ(run.at("lost"), 0) << transport;
    }
    ASSERT_FALSE(run.at("reader_sleeps").is_null()) << transport;
    EXPECT_GT(run.at("reader_sleeps").get<std::uint64_t>(), 1000u) << transport;
  }
}

// The two scenarios on ws: the stalled readers were opened and shed by the server (its
// stuck timeout shortened to 1 s, the window long enough for it), the churn clients came
// and went, and the measured clients lost nothing either way.
TEST(BenchSmoke, SlowConsumerAndChurnScenarios) {
  const BenchRun bench(
      "--transports ws --sizes 10 --duration 6 --commands 0 --tick-ms 20 --no-floor"
      " --scenario slow-consumer,churn --stalled 2 --churn-rate 20"
      " --server-arg=--stuck-timeout --server-arg=1");
  ASSERT_EQ(bench.status, 0) << bench.output;
  std::ifstream in(bench.json_path);
  nlohmann::json report;
  ASSERT_NO_THROW(report = nlohmann::json::parse(in)) << bench.output;
  ASSERT_EQ(report.at("runs").size(), 2u) << report.dump(2);
  for (const auto& run : report["runs"]) {
    const std::string scenario = run.at("scenario");
    const auto& extra = run.at("scenario_result");
    EXPECT_TRUE(run.at("held").get<bool>()) << scenario << ": " << run.at("note");
    EXPECT_EQ(run.at("lost"), 0) << scenario;
    if (scenario == "slow-consumer") {
      EXPECT_EQ(extra.at("stalled"), 2);
      EXPECT_EQ(extra.at("server_clients_closed_slow"), 2) << extra.dump();
      EXPECT_EQ(extra.at("stalled_closed_by_server"), 2) << extra.dump();
    } else {
      EXPECT_EQ(scenario, "churn");
      EXPECT_GT(extra.at("churn_connects").get<std::uint64_t>(), 0u) << extra.dump();
      EXPECT_EQ(extra.at("churn_errors"), 0) << extra.dump();
    }
  }
}

}  // namespace
