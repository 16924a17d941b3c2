#pragma once
// One run of the benchmark: one transport, N clients, one server (or the tcp floor)
// started for it alone, so that its CPU and memory belong to this run only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "histogram.h"

namespace tickcast::bench {

/// RunOptions is what every run of a bench shares.
struct RunOptions {
  std::string server_path;  ///< tickcast-server to start per run
  /// httplib_server_path is embed-httplib (tickcast::httplib on cpp-httplib, a thread per
  /// stream), started for the sse-httplib row; empty when it was not built.
  std::string httplib_server_path;
  std::string self_path;  ///< this binary, started with --floor-server for tcp
  std::string host = "127.0.0.1";
  /// target_port, when set, is a running server's HTTP port: no server is started.
  std::optional<int> target_port;
  int target_mqtt_port = 1883;
  /// tick_ms is the tick period; 0 picks it per size (see tick_ms_for).
  int tick_ms = 0;
  double duration_s = 10;       ///< tick-latency window
  int commands = 10;            ///< stop/start commands timed after the window
  std::size_t in_flight = 200;  ///< clients connecting at once
  double connect_timeout_s = 60;
  /// data_dir is tickcast-server's --data-dir: "none" (rooms in memory only), or a folder in
  /// which every run gets a fresh run-XXXXXX subfolder (the SQLite room store).
  std::string data_dir = "none";
  std::uint64_t fd_limit = 0;                        ///< RLIMIT_NOFILE of this process
  std::function<void(const std::string&)> progress;  ///< live status, may be empty
  /// scenario: "normal"; "slow-consumer" adds `stalled` readers that never read to the room;
  /// "churn" adds clients that join and leave continuously during the latency window. In
  /// both, the latency and loss reported are the N measured clients'.
  std::string scenario = "normal";
  std::size_t stalled = 3;
  double churn_rate = 100;               ///< churn connects per second in all (0: unpaced)
  std::size_t churn_workers = 4;         ///< threads connecting and leaving
  std::vector<std::string> server_args;  ///< appended to every tickcast-server's arguments
  /// mqtt_per_process is the most mqtt clients one process runs (3 descriptors each): more
  /// are spread over child processes of this binary; 0 keeps them all in this process.
  /// 5,000 makes 10,000 clients 2 children: with 4, on 2 cores, the clients' processes
  /// took more time from the broker they measure (docs/benchmarks.md).
  std::size_t mqtt_per_process = 5000;
  /// server_cpus: the CPUs of every server the bench starts (the floor, tickcast-server and
  /// its broker); empty: any. With --pin the bench's own clients run on the others.
  std::vector<int> server_cpus;
  std::vector<int> client_cpus;  ///< the bench's own CPUs with --pin (for the report)
  std::size_t client_loops = 1;  ///< epoll loops (threads) of the bench's stream clients
  /// client_poll_us: the stream clients' loops poll every this many µs instead of sleeping
  /// until a socket is ready; 0: they sleep (see docs/benchmarks.md on why it matters here).
  int client_poll_us = 0;
};

/// ScenarioResult is what a scenario's extra clients did, and what the server counted.
struct ScenarioResult {
  std::size_t stalled = 0;          ///< stalled readers opened
  std::size_t stalled_closed = 0;   ///< of those, closed by the server by the end of the run
  std::int64_t closed_slow = -1;    ///< the server's clients_closed_slow_total (-1: unknown)
  std::int64_t ticks_dropped = -1;  ///< the server's ticks_dropped_total (-1: unknown)
  std::uint64_t churn_connects = 0, churn_errors = 0;
  double churn_per_s = 0;  ///< churn connects per second over the window
  std::string churn_error;
};

/// RunResult is everything measured in one run.
struct RunResult {
  int run = 1;  ///< which of the --runs rounds (each round runs every transport once)
  std::string transport;
  std::size_t clients = 0;
  int tick_ms = 0;
  bool held = false;  ///< every client connected and the run completed
  std::string note;   ///< why not held, or what else to know
  std::size_t connected = 0;
  double connect_s = 0;  ///< time until every client had its first message/subscription
  Histogram latency;     ///< tick latency, µs
  Histogram command;     ///< command propagation to every client, µs
  std::size_t command_timeouts = 0;
  std::uint64_t events = 0, lost = 0, duplicated = 0, out_of_order = 0, resyncs = 0;
  double events_per_s = 0;
  std::uint64_t measured_events = 0;  ///< events received in the window
  bool server_measured = false;
  double server_cpu_percent = 0;     ///< of one core, during the latency window
  double client_cpu_percent = 0;     ///< this process and its client processes, same window
  std::size_t client_processes = 0;  ///< child processes running the clients (0: this one)
  /// reader_sleeps: how often the bench's client threads went to sleep during the window
  /// (nothing when its clients are a library's). With sleeping readers on loopback, each is a
  /// wake-up that the server's send paid for.
  std::optional<std::uint64_t> reader_sleeps;
  std::int64_t server_peak_rss_kib = 0;
  double rss_per_conn_kib = 0;
  /// connect_ms_mean: mean client-side time from TCP connect to a usable connection (TLS
  /// handshake included for the *-tls rows); 0 when the client set does not measure it.
  double connect_ms_mean = 0;
  /// connect_server_cpu_ms_per_client: server CPU while the N clients connected, / N.
  double connect_server_cpu_ms_per_client = 0;
  double load_before = 0, load_after = 0;  ///< 1-minute load average around the run
  std::string scenario = "normal";
  ScenarioResult extra;
};

/// tick_ms_for returns the tick period of a run with `clients` clients: options.tick_ms
/// when set, else N/10 ms within 100..1000, so that every size carries about the same
/// 10,000 events/s: 100 ms up to 1,000 clients, 1 s at 10,000. A fixed 100 ms would make
/// the 10,000 row a saturation test of this 2-core machine (100,000 writes/s plus as many
/// reads), not a measure of one tick's fan-out.
int tick_ms_for(const RunOptions& options, std::size_t clients);

/// server_transport names the server transport a bench transport uses ("ws" for ws-lws).
std::string server_transport(const std::string& transport);

/// run_one runs `transport` (tcp, ws, ws-lws, sse, longpoll, mqtt, or ws-tls / sse-tls:
/// ws / sse over TLS, the server with a throw-away self-signed certificate) with `clients`
/// clients.
/// Never throws for what a size cannot hold: the result says so.
RunResult run_one(const RunOptions& options, const std::string& transport, std::size_t clients);

}  // namespace tickcast::bench
