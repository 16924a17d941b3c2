#include "runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "client_set.h"
#include "http_request.h"
#include "mqtt_clients.h"
#include "process/child_process.h"
#include "process/ports.h"
#include "process_sample.h"
#include "scenario.h"

namespace tickcast::bench {

namespace {

using Clock = std::chrono::steady_clock;
using support::ChildProcess;
using support::free_port;

// Starts a server child on the servers' CPUs; it never outlives the bench.
std::unique_ptr<ChildProcess> start_child(std::vector<std::string> argv,
                                          const std::vector<int>& cpus) {
  return std::make_unique<ChildProcess>(
      support::ChildOptions{.argv = std::move(argv), .die_with_parent = true, .cpus = cpus});
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

// server_data_dir returns "none", or a fresh subfolder of `dir` for one server run, so no
// run finds the rooms of an earlier one.
std::string server_data_dir(const std::string& dir) {
  if (dir == "none") return dir;
  std::filesystem::create_directories(dir);
  std::string pattern = dir + "/run-XXXXXX";
  return ::mkdtemp(pattern.data()) ? pattern : dir;
}

double self_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// Waits for `ready` while the child lives, up to `timeout`; the error says why not.
bool wait_for(const std::function<bool()>& ready, ChildProcess* child, double timeout_s,
              std::string& error) {
  const auto start = Clock::now();
  while (seconds_since(start) < timeout_s) {
    if (ready()) return true;
    if (child && !child->running()) {
      error = "the server exited: " + child->output(600);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  error = "timed out after " + std::to_string(static_cast<int>(timeout_s)) + " s";
  return false;
}

bool is_tls(const std::string& transport) {
  return transport.size() > 4 && transport.compare(transport.size() - 4, 4, "-tls") == 0;
}

// A self-signed certificate for the *-tls rows, made once per process with the openssl CLI.
std::pair<std::string, std::string> bench_certificate() {
  static const std::pair<std::string, std::string> files = [] {
    char dir[] = "/tmp/tickcast-bench-tls-XXXXXX";
    if (!::mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    const std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=localhost -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    static std::string made_dir;  // removed with its two files when the bench exits
    made_dir = dir;
    std::atexit([] { std::filesystem::remove_all(made_dir); });
    if (std::system(command.c_str()) != 0)
      throw std::runtime_error("openssl could not make a certificate");
    return std::pair{cert, key};
  }();
  return files;
}

// Starts what the clients of `transport` talk to; fills the endpoint's ports.
std::unique_ptr<ChildProcess> start_server(const RunOptions& options, const std::string& transport,
                                           std::size_t clients, int tick_ms, Endpoint& endpoint,
                                           std::string& error) {
  if (transport == "tcp") {
    endpoint.port = free_port();
    auto child = start_child({options.self_path, "--floor-server", options.host,
                              std::to_string(endpoint.port), std::to_string(tick_ms)},
                             options.server_cpus);
    ChildProcess* c = child.get();
    if (!wait_for([&] { return c->output().find("listening") != std::string::npos; }, c, 10, error))
      return nullptr;
    return child;
  }
  if (options.target_port) {
    endpoint.port = *options.target_port;
    endpoint.mqtt_port = options.target_mqtt_port;
    return nullptr;
  }
  endpoint.port = free_port();
  endpoint.mqtt_port = free_port();
  std::vector<std::string> argv{options.server_path,
                                "--transport",
                                server_transport(transport),
                                "--host",
                                options.host,
                                "--port",
                                std::to_string(endpoint.port),
                                "--mqtt-port",
                                std::to_string(endpoint.mqtt_port),
                                "--tick-ms",
                                std::to_string(tick_ms),
                                "--max-clients",
                                std::to_string(clients + 16),
                                "--work",
                                "24h",
                                "--data-dir",
                                server_data_dir(options.data_dir)};
  if (is_tls(transport)) {
    const auto [cert, key] = bench_certificate();
    argv.insert(argv.end(), {"--tls-cert", cert, "--tls-key", key});
    endpoint.tls = true;
  }
  argv.insert(argv.end(), options.server_args.begin(), options.server_args.end());
  if (transport == "sse-httplib") {
    // The same SSE, on an app's cpp-httplib server: one pool thread per open stream, so the
    // pool holds every client plus room for REST and /healthz.
    if (options.httplib_server_path.empty()) {
      error = "embed-httplib was not built";
      return nullptr;
    }
    argv = {options.httplib_server_path,
            "--host",
            options.host,
            "--port",
            std::to_string(endpoint.port),
            "--tick-ms",
            std::to_string(tick_ms),
            "--threads",
            std::to_string(clients + 24),
            "--max-clients",
            std::to_string(clients + 8)};
  }
  auto child = start_child(std::move(argv), options.server_cpus);
  ChildProcess* c = child.get();
  if (!wait_for(
          [&] {
            return http_request(options.host, endpoint.port, "GET", "/healthz", {},
                                std::chrono::seconds(1), endpoint.tls)
                       .status == 200;
          },
          c, 30, error)) {
    return nullptr;
  }
  return child;
}

std::string fmt(const char* format, auto... args) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, args...);
  return buffer;
}

}  // namespace

int tick_ms_for(const RunOptions& options, std::size_t clients) {
  if (options.tick_ms > 0) return options.tick_ms;
  return static_cast<int>(std::clamp<std::size_t>(clients / 10, 100, 1000));
}

std::string server_transport(const std::string& transport) {
  if (transport == "ws-lws" || transport == "ws-tls") return "ws";
  if (transport == "sse-tls") return "sse";
  if (transport == "mqtt-mosquitto") return "mqtt";
  return transport;
}

RunResult run_one(const RunOptions& options, const std::string& transport, std::size_t clients) {
  RunResult result;
  result.transport = transport;
  result.clients = clients;
  result.scenario = options.scenario;
  if (options.scenario != "normal" && !scenario_supported(transport)) {
    result.note =
        "not held: the " + options.scenario + " scenario runs on ws, ws-lws, sse, longpoll";
    return result;
  }
  result.tick_ms = tick_ms_for(options, clients);
  const int tick_ms = result.tick_ms;
  result.load_before = load_average();
  auto progress = [&](const std::string& text) {
    if (options.progress)
      options.progress(transport + " N=" + std::to_string(clients) + ": " + text);
  };

  // mqtt-mosquitto clients beyond options.mqtt_per_process run in child processes, each with its
  // own descriptor limit: this process needs only the child's share, plus a socket per child.
  const std::size_t mqtt_children =
      transport == "mqtt-mosquitto" ? mqtt_processes(clients, options.mqtt_per_process) : 0;
  const std::size_t clients_here =
      mqtt_children > 0 ? (clients + mqtt_children - 1) / mqtt_children : clients;
  const std::uint64_t fds_needed = clients_here * fds_per_client(transport) + 64 + mqtt_children;
  if (options.fd_limit != 0 && fds_needed > options.fd_limit) {
    result.note =
        fmt("not held: needs about %llu file descriptors in a bench process (%zu per client), "
            "RLIMIT_NOFILE is %llu",
            static_cast<unsigned long long>(fds_needed), fds_per_client(transport),
            static_cast<unsigned long long>(options.fd_limit));
    return result;
  }

  Endpoint endpoint;
  endpoint.host = options.host;
  endpoint.client_loops = options.client_loops;
  endpoint.client_poll_us = options.client_poll_us;
  endpoint.room =
      "bench-" + std::to_string(::getpid()) + "-" + transport + "-" + std::to_string(clients);
  std::string error;
  progress("starting server");
  std::unique_ptr<ChildProcess> server;
  try {
    server = start_server(options, transport, clients, tick_ms, endpoint, error);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!error.empty()) {
    result.note = "not held: server did not start: " + error;
    return result;
  }
  const bool measure_server = server != nullptr;
  result.server_measured = measure_server;
  const pid_t pid = server ? server->pid() : 0;
  const ProcessSample before = measure_server ? sample_tree(pid) : ProcessSample{};

  auto set = mqtt_children > 0
                 ? make_mqtt_process_clients(endpoint, clients, mqtt_children, options.self_path)
                 : make_client_set(transport, endpoint, clients);
  result.client_processes = set->processes();
  Recorder& recorder = set->recorder();
  const auto connect_start = Clock::now();
  set->start(clients, options.in_flight);
  auto last_progress = Clock::now();
  const double connect_timeout = std::max(options.connect_timeout_s, 10.0);
  while (recorder.ready() + set->failed() < clients &&
         seconds_since(connect_start) < connect_timeout) {
    if (server && !server->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (seconds_since(last_progress) > 0.25) {
      last_progress = Clock::now();
      progress(fmt("connecting %zu/%zu (%zu failed)", recorder.ready(), clients, set->failed()));
    }
  }
  result.connect_s = seconds_since(connect_start);
  result.connected = recorder.ready();
  result.connect_ms_mean = set->mean_connect_ms();
  if (measure_server && result.connected > 0) {
    result.connect_server_cpu_ms_per_client = 1000.0 *
                                              (sample_tree(pid).cpu_seconds - before.cpu_seconds) /
                                              static_cast<double>(result.connected);
  }
  if (result.connected < clients) {
    std::string why = set->first_error();
    if (why.empty()) why = fmt("timed out after %.0f s", result.connect_s);
    if (server && !server->running()) why = "the server exited: " + server->output(600);
    result.note = fmt("not held: %zu of %zu connected; ", result.connected, clients) + why;
    return result;
  }

  // Idle memory: every client connected, the timer stopped, nothing flowing.
  progress("idle");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  if (measure_server) {
    const ProcessSample idle = sample_tree(pid);
    result.rss_per_conn_kib =
        static_cast<double>(idle.rss_kib - before.rss_kib) / static_cast<double>(clients);
  }

  auto timed_command = [&](bool start) {
    const std::int64_t sent_us = now_us();
    if (!set->send_command(start ? R"({"type":"start"})" : R"({"type":"stop"})")) {
      ++result.command_timeouts;
      return;
    }
    std::optional<std::int64_t> reached;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!(reached = recorder.running_reached(start)) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (reached) {
      result.command.record(*reached - sent_us);
    } else {
      ++result.command_timeouts;
    }
  };

  // slow-consumer: readers that never read join the room before the timer starts.
  std::unique_ptr<StalledReaders> stalled;
  const std::string metric_transport = server_transport(transport);
  if (options.scenario == "slow-consumer") {
    progress("stalled readers");
    stalled = std::make_unique<StalledReaders>(endpoint, transport, options.stalled);
    result.extra.stalled = stalled->opened();
    const std::int64_t want = static_cast<std::int64_t>(clients + stalled->opened());
    const auto joined_by = Clock::now() + std::chrono::seconds(10);
    while (server_metric(endpoint, "tickcast_clients", metric_transport) < want &&
           transport != "longpoll" && Clock::now() < joined_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The latency window: the timer runs, every tick goes to every client.
  timed_command(true);
  // churn: clients join and leave the room all through the window.
  std::unique_ptr<Churn> churn;
  if (options.scenario == "churn") {
    churn = std::make_unique<Churn>(endpoint, transport, options.churn_rate,
                                    std::max<std::size_t>(1, options.churn_workers));
  }
  // CPU is counted from here, as the window's latencies are: the start command's fan-out
  // before it is not a tick's cost (and an outside client stack cannot see it either).
  const ProcessSample cpu_before = measure_server ? sample_tree(pid) : ProcessSample{};
  const double self_before = self_cpu_seconds() + set->other_processes_cpu_seconds();
  const auto sleeps_before = set->reader_sleeps();
  recorder.set_measuring(true);
  const auto window_start = Clock::now();
  while (seconds_since(window_start) < options.duration_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const auto t = recorder.totals();
    progress(fmt("measuring %.0f/%.0f s, %llu ticks, p99 %.2f ms", seconds_since(window_start),
                 options.duration_s, static_cast<unsigned long long>(t.latency.count()),
                 static_cast<double>(t.latency.percentile(99)) / 1000));
    if (server && !server->running()) break;
  }
  recorder.set_measuring(false);
  const double window = seconds_since(window_start);
  if (const auto sleeps_after = set->reader_sleeps(); sleeps_before && sleeps_after) {
    result.reader_sleeps = *sleeps_after - *sleeps_before;
  }
  if (churn) {
    churn->stop();
    const ChurnTotals t = churn->totals();
    result.extra.churn_connects = t.connects;
    result.extra.churn_errors = t.errors;
    result.extra.churn_per_s = static_cast<double>(t.connects) / window;
    result.extra.churn_error = t.first_error;
  }
  if (measure_server) {
    const ProcessSample cpu_after = sample_tree(pid);
    result.server_cpu_percent = 100.0 * (cpu_after.cpu_seconds - cpu_before.cpu_seconds) / window;
  }
  result.client_cpu_percent =
      100.0 * (self_cpu_seconds() + set->other_processes_cpu_seconds() - self_before) / window;
  const RecorderTotals in_window = recorder.totals();

  // Command propagation: stop and start in turn, off the tick grid, ending stopped.
  for (int i = 0; i < options.commands; ++i) {
    progress(fmt("command %d/%d", i + 1, options.commands));
    std::this_thread::sleep_for(std::chrono::milliseconds(tick_ms * 5 / 2));
    timed_command(i % 2 == 1);
  }
  if (options.commands % 2 == 0) timed_command(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max(200, tick_ms * 2)));

  const RecorderTotals totals = recorder.totals();
  if (stalled) {
    result.extra.closed_slow =
        server_metric(endpoint, "tickcast_clients_closed_slow_total", metric_transport);
    result.extra.ticks_dropped =
        server_metric(endpoint, "tickcast_ticks_dropped_total", metric_transport);
    result.extra.stalled_closed = stalled->closed_by_server(Clock::now() + std::chrono::seconds(3));
  }
  result.latency = in_window.latency;
  result.events_per_s = static_cast<double>(in_window.measured_events) / window;
  result.measured_events = in_window.measured_events;
  result.events = totals.events;
  result.lost = totals.lost;
  result.duplicated = totals.duplicated;
  result.out_of_order = totals.out_of_order;
  result.resyncs = totals.snapshots;
  if (measure_server) result.server_peak_rss_kib = sample_tree(pid).peak_rss_kib;
  result.held = true;
  if (set->failed() > 0) {
    result.held = false;
    result.note = fmt("%zu clients dropped during the run; ", set->failed()) + set->first_error();
  }
  if (server && !server->running()) {
    result.held = false;
    result.note = "the server exited during the run: " + server->output(600);
  }
  if (result.command_timeouts > 0) {
    if (!result.note.empty()) result.note += "; ";
    result.note +=
        fmt("%zu commands did not reach every client within 5 s", result.command_timeouts);
  }
  progress("closing");
  set.reset();
  server.reset();
  result.load_after = load_average();
  return result;
}

}  // namespace tickcast::bench
