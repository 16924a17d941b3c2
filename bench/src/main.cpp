// tickcast-bench: tick latency, command propagation, loss and server cost of every
// tickcast transport against a plain-TCP floor measured in the same run.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "mqtt_clients.h"
#include "report.h"
#include "runner.h"
#include "tcp_floor.h"

namespace {

using namespace tickcast::bench;

// ws-lws is the ws transport read by tickcast::wsclient (libwebsockets) instead of the
// bench's own client loop: the difference is the client library's share.
// socketio is Socket.IO v4 over WebSocket on the same loop as ws: the protocol's own cost.
// ws-tls and sse-tls are ws and sse over TLS (the same clients, with OpenSSL).
const std::vector<std::string> kTransports{
    "ws",     "sse",         "longpoll", "mqtt",   "mqtt-mosquitto",
    "ws-lws", "sse-httplib", "socketio", "ws-tls", "sse-tls"};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// pin_cpus splits the CPUs this process may use: the last for itself (its clients, and the
// client processes it starts), the others for the servers it starts. Without it the
// scheduler puts a server and its readers on one core in one run and on two in the next,
// and the same server's CPU and p99 move by half from run to run (docs/benchmarks.md).
bool pin_cpus(RunOptions& options) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  }
  if (cpus.size() < 2) return false;
  cpu_set_t mine;
  CPU_ZERO(&mine);
  CPU_SET(cpus.back(), &mine);
  // Before any thread starts: the threads of this process inherit it.
  if (::sched_setaffinity(0, sizeof mine, &mine) != 0) return false;
  options.client_cpus = {cpus.back()};
  options.server_cpus.assign(cpus.begin(), cpus.end() - 1);
  return true;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (const int cpu : cpus) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

// Raises the soft RLIMIT_NOFILE to the hard one: 10,000 clients need 10,000 descriptors.
void raise_fd_limit(Machine& machine) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      std::fprintf(stderr, "tickcast-bench: cannot raise the file descriptor limit: %s\n",
                   std::strerror(errno));
    }
  }
  ::getrlimit(RLIMIT_NOFILE, &limit);
  machine.fd_limit = limit.rlim_cur;
  machine.fd_hard_limit = limit.rlim_max;
}

// Parses http://host:port into its parts.
bool parse_url(const std::string& url, const std::string& scheme, std::string& host, int& port) {
  const std::string prefix = scheme + "://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  host = rest.substr(0, colon);
  try {
    port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return port > 0 && port < 65536;
}

}  // namespace

int main(int argc, char** argv) {
  // Hidden mode: the tcp floor server, started by the bench itself as a child process.
  if (argc == 5 && std::strcmp(argv[1], "--floor-server") == 0) {
    return run_tcp_floor(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  // Hidden mode: a share of the mqtt clients, in a child process of the bench.
  if (argc > 1 && std::strcmp(argv[1], "--mqtt-child") == 0) {
    std::signal(SIGPIPE, SIG_IGN);
    return run_mqtt_child(argc, argv);
  }

  CLI::App app{"tickcast-bench: latency of every tickcast transport against a plain-TCP floor"};
  std::string transports_list = "ws,sse,longpoll,mqtt,mqtt-mosquitto,ws-lws,sse-httplib,socketio";
  std::string sizes_list = "100";
  bool compare = false;
  bool no_floor = false;
  std::string target, target_mqtt, json_path, csv_path;
  RunOptions options;
  options.server_path = TICKCAST_SERVER_PATH;
#ifdef TICKCAST_HTTPLIB_SERVER_PATH
  options.httplib_server_path = TICKCAST_HTTPLIB_SERVER_PATH;
#endif
  app.add_flag("--compare", compare,
               "every transport and tcp for N in 1,100,1000,10000 (see --sizes)");
  app.add_option(
         "--transports", transports_list,
         "comma list of ws,sse,longpoll,mqtt,mqtt-mosquitto,ws-lws,sse-httplib,socketio or all "
         "(tcp is always added)")
      ->capture_default_str();
  app.add_option("--sizes,--clients", sizes_list, "comma list of client counts per transport")
      ->capture_default_str();
  app.add_option("--duration", options.duration_s, "seconds of tick latency per run")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--tick-ms", options.tick_ms,
                 "tick period of the server and the floor (0: N/10 ms within 100..1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--commands", options.commands, "stop/start commands timed per run")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--in-flight", options.in_flight, "clients connecting at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--connect-timeout", options.connect_timeout_s, "seconds to connect every client")
      ->capture_default_str();
  app.add_option("--httplib-server", options.httplib_server_path,
                 "embed-httplib to start for the sse-httplib row");
  app.add_option("--server", options.server_path, "tickcast-server to start for each run")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "tickcast-server's --data-dir: none, or a folder (a fresh subfolder per run)")
      ->capture_default_str();
  app.add_option("--host", options.host, "loopback address for servers and clients")
      ->capture_default_str();
  app.add_option("--target", target,
                 "http://host:port of a running tickcast-server (no server is started)");
  app.add_option("--target-mqtt", target_mqtt,
                 "mqtt://host:port of its broker (default: its host, 1883)");
  app.add_flag("--no-floor", no_floor, "skip the tcp floor (no ratios)");
  int runs = 1;
  app.add_option("--runs", runs,
                 "rounds of every transport and size, interleaved (a round runs each once); "
                 "prints the median and range per row")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  std::string scenarios_list = "normal";
  app.add_option("--scenario", scenarios_list,
                 "comma list of normal, slow-consumer (stalled readers that never read join "
                 "the room), churn (clients join and leave all through the window); runs "
                 "are interleaved per transport, in this order")
      ->capture_default_str();
  app.add_option("--stalled", options.stalled, "slow-consumer: readers that never read")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--churn-rate", options.churn_rate, "churn: connects per second (0: unpaced)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100000.0));
  app.add_option("--churn-workers", options.churn_workers, "churn: threads joining and leaving")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--server-arg", options.server_args,
                 "an argument appended to each tickcast-server run (repeat it), e.g. "
                 "--server-arg=--stuck-timeout --server-arg=5")
      ->allow_extra_args(false);
  app.add_option("--mqtt-per-process", options.mqtt_per_process,
                 "most mqtt-mosquitto clients per process (3 descriptors each); more are "
                 "spread over child processes of the bench; 0: all in this process")
      ->capture_default_str();
  app.add_option("--client-loops", options.client_loops,
                 "epoll loops (threads) the bench's own stream clients (tcp floor, ws, sse, "
                 "longpoll, mqtt, socketio) are spread over; ws-lws and mqtt-mosquitto keep "
                 "theirs")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--client-poll-us", options.client_poll_us,
                 "the bench's own stream clients poll their sockets every this many µs instead "
                 "of sleeping until one is ready, so that no server send has to wake them (adds "
                 "up to that much to each latency); long-poll clients then send their next "
                 "polls once a round reads no answer; 0: they sleep")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  bool pin = false;
  app.add_flag("--pin", pin,
               "run the servers (the floor, tickcast-server, its broker) on every CPU but the "
               "last, and the clients on the last (needs 2 CPUs)");
  app.add_option("--json", json_path, "write every result as JSON");
  app.add_option("--csv", csv_path, "write every result as CSV");
  CLI11_PARSE(app, argc, argv);
  if (pin && !pin_cpus(options)) {
    std::fprintf(stderr, "tickcast-bench: --pin needs 2 CPUs this process may run on\n");
    return 2;
  }

  std::vector<std::size_t> sizes;
  try {
    if (compare && app.count("--sizes") == 0) sizes_list = "1,100,1000,10000";
    for (const auto& s : split(sizes_list)) sizes.push_back(std::stoul(s));
  } catch (const std::exception&) {
    std::fprintf(stderr, "tickcast-bench: --sizes wants numbers, e.g. 1,100,1000\n");
    return 2;
  }
  std::vector<std::string> transports;
  for (const auto& t : split(transports_list)) {
    if (t == "tcp") continue;
    if (t == "all") {
      transports = kTransports;
      continue;
    }
    if (std::find(kTransports.begin(), kTransports.end(), t) == kTransports.end()) {
      std::fprintf(stderr, "tickcast-bench: unknown transport '%s'\n", t.c_str());
      return 2;
    }
    transports.push_back(t);
  }
  if (!target.empty()) {
    int port = 0;
    std::string host;
    if (!parse_url(target, "http", host, port)) {
      std::fprintf(stderr, "tickcast-bench: --target wants http://host:port\n");
      return 2;
    }
    options.host = host;
    options.target_port = port;
    options.target_mqtt_port = 1883;
    if (!target_mqtt.empty()) {
      std::string mqtt_host;
      if (!parse_url(target_mqtt, "mqtt", mqtt_host, options.target_mqtt_port)) {
        std::fprintf(stderr, "tickcast-bench: --target-mqtt wants mqtt://host:port\n");
        return 2;
      }
    }
  } else if (::access(options.server_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "tickcast-bench: no tickcast-server at %s (use --server PATH)\n",
                 options.server_path.c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  Machine machine = describe_machine();
  raise_fd_limit(machine);
  options.fd_limit = machine.fd_limit;
  if (app.count("--mqtt-per-process") == 0 && machine.fd_limit > 64) {
    // Unless told otherwise, a process holds no more mqtt-mosquitto clients than its limit
    // allows.
    options.mqtt_per_process =
        std::clamp<std::size_t>((machine.fd_limit - 64) / 3, 1, options.mqtt_per_process);
  }
  char self[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  options.self_path = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : argv[0];

  const bool live = ::isatty(STDERR_FILENO) != 0;
  options.progress = [live](const std::string& text) {
    if (live) std::fprintf(stderr, "\r\033[K%s", text.c_str());
  };
  std::fprintf(stderr,
               "tickcast-bench: %d CPUs, file descriptor limit %llu (hard %llu), tick %d ms (0: by "
               "size), %.1f s per run\n",
               machine.cpus, static_cast<unsigned long long>(machine.fd_limit),
               static_cast<unsigned long long>(machine.fd_hard_limit), options.tick_ms,
               options.duration_s);
  if (pin) {
    std::fprintf(stderr, "tickcast-bench: pinned: servers on CPU %s, clients on CPU %s\n",
                 cpu_list(options.server_cpus).c_str(), cpu_list(options.client_cpus).c_str());
  }
  for (std::size_t size : sizes) {
    const std::size_t per_process =
        options.mqtt_per_process == 0 ? size : std::min(size, options.mqtt_per_process);
    const std::uint64_t needed = std::max<std::uint64_t>(size, per_process * 3) + 64;
    if (needed > machine.fd_limit) {
      std::fprintf(stderr,
                   "tickcast-bench: N=%zu may not fit: the limit of %llu descriptors is below %llu "
                   "(mqtt-mosquitto needs 3 per client in each of its processes, see "
                   "--mqtt-per-process); as root, raise the hard limit (ulimit -Hn) "
                   "before running\n",
                   size, static_cast<unsigned long long>(machine.fd_limit),
                   static_cast<unsigned long long>(needed));
    }
  }

  const std::vector<std::string> scenarios = split(scenarios_list);
  for (const auto& s : scenarios) {
    if (s != "normal" && s != "slow-consumer" && s != "churn") {
      std::fprintf(stderr, "tickcast-bench: unknown scenario '%s'\n", s.c_str());
      return 2;
    }
  }
  // Rounds are interleaved (every transport once per round, not K in a row), so that
  // the other load on a shared machine spreads over every row alike.
  std::vector<RunResult> results;
  for (int run = 1; run <= runs; ++run) {
    for (std::size_t size : sizes) {
      std::vector<std::pair<std::string, std::string>> order;  // transport, scenario
      if (!no_floor) order.emplace_back("tcp", "normal");
      for (const auto& transport : transports) {
        for (const auto& scenario : scenarios) order.emplace_back(transport, scenario);
      }
      for (const auto& [transport, scenario] : order) {
        options.scenario = scenario;
        RunResult r = run_one(options, transport, size);
        r.run = run;
        if (live) std::fprintf(stderr, "\r\033[K");
        char line[128];
        std::snprintf(line, sizeof line, "p50 %.2f ms, p99 %.2f ms",
                      static_cast<double>(r.latency.percentile(50)) / 1000,
                      static_cast<double>(r.latency.percentile(99)) / 1000);
        std::fprintf(stderr, "tickcast-bench: round %d/%d %-14s %-13s N=%-6zu load %.2f  %s\n", run,
                     runs, transport.c_str(), scenario.c_str(), size, r.load_before,
                     r.held ? line : r.note.c_str());
        results.push_back(std::move(r));
      }
    }
  }
  std::cout << "\n";
  print_table(std::cout, results);
  if (runs > 1) print_summary(std::cout, results);

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << to_json(results, machine, options).dump(2) << "\n";
    if (!out) std::fprintf(stderr, "tickcast-bench: cannot write %s\n", json_path.c_str());
  }
  if (!csv_path.empty()) {
    std::ofstream out(csv_path);
    write_csv(out, results);
    if (!out) std::fprintf(stderr, "tickcast-bench: cannot write %s\n", csv_path.c_str());
  }
  return 0;
}
