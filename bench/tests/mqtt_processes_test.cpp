// Runs tickcast-bench's mqtt-mosquitto row (libmosquitto clients) with its 20 subscribers
// spread over 2 child processes (--mqtt-per-process 10) and checks that the bench's report is the
// sum of what the children saw: every client connected and counted, every tick received by every
// client once (events = clients x ticks), nothing lost or duplicated, and as many latency samples
// as events received in the window. No timing assertions.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_run.h"

namespace {

using tickcast::bench::testing::BenchRun;

TEST(BenchMqttProcesses, TwoChildrenAggregateExactly) {
  const BenchRun bench(
      "--transports mqtt-mosquitto --sizes 20 --mqtt-per-process 10 --no-floor"
      " --duration 2 --commands 2 --tick-ms 50");
  ASSERT_EQ(bench.status, 0) << bench.output;
  std::ifstream in(bench.json_path);
  ASSERT_TRUE(in) << bench.output;
  const nlohmann::json report = nlohmann::json::parse(in);
  ASSERT_EQ(report.at("runs").size(), 1u) << report.dump(2);
  const auto& run = report["runs"][0];
  EXPECT_EQ(run.at("transport"), "mqtt-mosquitto");
  EXPECT_TRUE(run.at("held").get<bool>()) << run.at("note");
  EXPECT_EQ(run.at("client_processes"), 2) << "the clients did not run in 2 children";
  EXPECT_EQ(run.at("connected"), 20);
  EXPECT_EQ(run.at("lost"), 0);
  EXPECT_EQ(run.at("duplicated"), 0);
  EXPECT_EQ(run.at("out_of_order"), 0);
  EXPECT_EQ(run.at("command_timeouts"), 0);
  // Each client counts the events after its first; with nothing lost, duplicated or
  // resynced, every client of both children got the same ticks: events = 20 x ticks.
  const auto events = run.at("events").get<std::uint64_t>();
  EXPECT_EQ(run.at("resyncs"), 0);
  EXPECT_GE(events, 20u * 10u) << "2 s of 50 ms ticks are about 40 per client";
  EXPECT_EQ(events % 20u, 0u) << events << " events are not 20 clients x the same ticks";
  EXPECT_GT(run.at("latency_us").at("count").get<std::uint64_t>(), 0u);
  EXPECT_LE(run.at("latency_us").at("count").get<std::uint64_t>(), events);
}

}  // namespace
