#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

namespace tickcast::bench {

namespace {

// The floor of the same size in the same round.
const RunResult* floor_of(const std::vector<RunResult>& results, std::size_t clients, int run) {
  for (const auto& r : results) {
    if (r.transport == "tcp" && r.clients == clients && r.run == run && r.held &&
        r.latency.count() > 0) {
      return &r;
    }
  }
  return nullptr;
}

std::optional<double> ratio(const RunResult& r, const std::vector<RunResult>& results, double p) {
  const RunResult* tcp = floor_of(results, r.clients, r.run);
  if (!tcp || !r.held || r.latency.count() == 0) return std::nullopt;
  const auto base = static_cast<double>(tcp->latency.percentile(p));
  if (base <= 0) return std::nullopt;
  return static_cast<double>(r.latency.percentile(p)) / base;
}

// The row label: the transport, and the scenario when it is not the normal one.
std::string label_of(const RunResult& r) {
  if (r.scenario == "slow-consumer") return r.transport + "/slow";
  if (r.scenario == "churn") return r.transport + "/churn";
  return r.transport;
}

std::string ms(std::int64_t us) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", static_cast<double>(us) / 1000.0);
  return buffer;
}

std::string num(double value, const char* format = "%.1f") {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// How often the bench's reader went to sleep per event it received in the window.
std::optional<double> sleeps_per_event(const RunResult& r) {
  if (!r.reader_sleeps || r.measured_events == 0) return std::nullopt;
  return static_cast<double>(*r.reader_sleeps) / static_cast<double>(r.measured_events);
}

nlohmann::json percentiles(const Histogram& h) {
  return {{"count", h.count()},      {"p50", h.percentile(50)},     {"p90", h.percentile(90)},
          {"p99", h.percentile(99)}, {"p99_9", h.percentile(99.9)}, {"max", h.max()},
          {"mean", h.mean()}};
}

}  // namespace

Machine describe_machine() {
  Machine m;
  m.cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "gcc " __VERSION__;
#endif
  return m;
}

void print_table(std::ostream& out, const std::vector<RunResult>& results) {
  const std::vector<std::pair<std::string, int>> columns{
      {"transport", 14}, {"N", 6},        {"connect s", 9}, {"p50 ms", 8},   {"p90 ms", 8},
      {"p99 ms", 8},     {"p99.9 ms", 8}, {"max ms", 8},    {"p50/tcp", 7},  {"p99/tcp", 7},
      {"cmd p50", 8},    {"cmd p99", 8},  {"events/s", 9},  {"lost", 6},     {"dup", 4},
      {"ooo", 4},        {"srv cpu%", 8}, {"peak MiB", 8},  {"KiB/conn", 8}, {"tick ms", 7},
      {"load", 5},       {"sleeps/ev", 9}};
  auto row = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const int width = columns[i].second;
      std::string cell = cells[i];
      if (static_cast<int>(cell.size()) < width) {
        const std::size_t pad = width - cell.size();
        if (i == 0) {
          cell.append(pad, ' ');
        } else {
          cell.insert(0, pad, ' ');
        }
      }
      out << cell << (i + 1 < cells.size() ? "  " : "\n");
    }
  };
  std::vector<std::string> header;
  header.reserve(columns.size());
  for (const auto& c : columns) header.push_back(c.first);
  row(header);
  std::vector<std::string> notes;
  for (const auto& r : results) {
    const std::string label = label_of(r) + " " + std::to_string(r.clients);
    if (!r.note.empty()) notes.push_back(label + ": " + r.note);
    if (r.scenario == "slow-consumer") {
      notes.push_back(label + ": " + std::to_string(r.extra.stalled) + " stalled readers, " +
                      std::to_string(r.extra.stalled_closed) +
                      " closed by the server by the end; server counted " +
                      std::to_string(r.extra.closed_slow) + " closed as slow, " +
                      std::to_string(r.extra.ticks_dropped) + " ticks dropped");
    }
    if (r.scenario == "churn") {
      notes.push_back(label + ": churn " + std::to_string(r.extra.churn_connects) + " connects (" +
                      num(r.extra.churn_per_s) + "/s), " + std::to_string(r.extra.churn_errors) +
                      " errors" +
                      (r.extra.churn_error.empty() ? "" : " (first: " + r.extra.churn_error + ")"));
    }
    if (!r.held && r.latency.count() == 0) {
      std::vector<std::string> cells{label_of(r), std::to_string(r.clients), "not held"};
      cells.resize(columns.size(), "-");
      row(cells);
      continue;
    }
    auto r50 = ratio(r, results, 50), r99 = ratio(r, results, 99);
    row({label_of(r),
         std::to_string(r.clients),
         num(r.connect_s, "%.2f"),
         ms(r.latency.percentile(50)),
         ms(r.latency.percentile(90)),
         ms(r.latency.percentile(99)),
         ms(r.latency.percentile(99.9)),
         ms(r.latency.max()),
         r50 ? num(*r50, "%.2f") : "-",
         r99 ? num(*r99, "%.2f") : "-",
         r.command.count() ? ms(r.command.percentile(50)) : "-",
         r.command.count() ? ms(r.command.percentile(99)) : "-",
         num(r.events_per_s, "%.0f"),
         std::to_string(r.lost),
         std::to_string(r.duplicated),
         std::to_string(r.out_of_order),
         r.server_measured ? num(r.server_cpu_percent) : "-",
         r.server_measured ? num(static_cast<double>(r.server_peak_rss_kib) / 1024.0) : "-",
         r.server_measured ? num(r.rss_per_conn_kib, "%.2f") : "-",
         std::to_string(r.tick_ms),
         num(r.load_before, "%.1f"),
         sleeps_per_event(r) ? num(*sleeps_per_event(r), "%.3f") : "-"});
  }
  if (!notes.empty()) {
    out << "\n";
    for (const auto& n : notes) out << "  " << n << "\n";
  }
}

namespace {

// "median (min-max)" of the values, or "-" when there are none.
std::string spread(std::vector<double> values, const char* format) {
  if (values.empty()) return "-";
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return num(median, format) + " (" + num(values.front(), format) + "-" +
         num(values.back(), format) + ")";
}

}  // namespace

void print_summary(std::ostream& out, const std::vector<RunResult>& results) {
  std::vector<std::pair<std::string, std::size_t>> keys;
  for (const auto& r : results) {
    const std::pair key{label_of(r), r.clients};  // a scenario is a row of its own
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  out << "\nmedian (min-max) over the rounds; ratios to the tcp floor of the same round\n";
  out << "transport       N  runs  p50 ms                 p99 ms                 p99/tcp"
         "             srv cpu%            cpu/tcp             lost\n";
  for (const auto& [label, clients] : keys) {
    std::vector<double> p50, p99, r99, cpu, rcpu;
    std::uint64_t lost = 0;
    int runs = 0;
    for (const auto& r : results) {
      if (label_of(r) != label || r.clients != clients) continue;
      ++runs;
      lost += r.lost;
      if (!r.held || r.latency.count() == 0) continue;
      p50.push_back(static_cast<double>(r.latency.percentile(50)) / 1000);
      p99.push_back(static_cast<double>(r.latency.percentile(99)) / 1000);
      if (auto value = ratio(r, results, 99)) r99.push_back(*value);
      if (r.server_measured) {
        cpu.push_back(r.server_cpu_percent);
        const RunResult* tcp = floor_of(results, r.clients, r.run);
        if (tcp && tcp->server_measured && tcp->server_cpu_percent > 0) {
          rcpu.push_back(r.server_cpu_percent / tcp->server_cpu_percent);
        }
      }
    }
    char head[64];
    std::snprintf(head, sizeof head, "%-9s %6zu  %4d  ", label.c_str(), clients, runs);
    auto cell = [](const std::string& text) {
      return text + std::string(text.size() < 21 ? 21 - text.size() : 1, ' ');
    };
    out << head << cell(spread(p50, "%.1f")) << cell(spread(p99, "%.1f"))
        << cell(spread(r99, "%.2f")) << cell(spread(cpu, "%.1f")) << cell(spread(rcpu, "%.2f"))
        << lost << "\n";
  }
}

nlohmann::json to_json(const std::vector<RunResult>& results, const Machine& machine,
                       const RunOptions& options) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json ratios = nlohmann::json::object();
    for (auto [name, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99_9", 99.9}}) {
      auto value = ratio(r, results, p);
      ratios[name] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
    }
    runs.push_back({
        {"run", r.run},
        {"transport", r.transport},
        {"clients", r.clients},
        {"tick_ms", r.tick_ms},
        {"held", r.held},
        {"note", r.note},
        {"connected", r.connected},
        {"connect_s", r.connect_s},
        {"latency_us", percentiles(r.latency)},
        {"ratio_to_tcp", ratios},
        {"command_us", percentiles(r.command)},
        {"command_timeouts", r.command_timeouts},
        {"events", r.events},
        {"events_per_s", r.events_per_s},
        {"lost", r.lost},
        {"duplicated", r.duplicated},
        {"out_of_order", r.out_of_order},
        {"resyncs", r.resyncs},
        {"server",
         {{"measured", r.server_measured},
          {"cpu_percent", r.server_cpu_percent},
          {"peak_rss_kib", r.server_peak_rss_kib},
          {"rss_per_conn_kib", r.rss_per_conn_kib},
          {"connect_cpu_ms_per_client", r.connect_server_cpu_ms_per_client}}},
        {"connect_ms_mean", r.connect_ms_mean},
        {"client_cpu_percent", r.client_cpu_percent},
        {"client_processes", r.client_processes},
        {"reader_sleeps",
         r.reader_sleeps ? nlohmann::json(*r.reader_sleeps) : nlohmann::json(nullptr)},
        {"reader_sleeps_per_event",
         sleeps_per_event(r) ? nlohmann::json(*sleeps_per_event(r)) : nlohmann::json(nullptr)},
        {"load_average", {{"before", r.load_before}, {"after", r.load_after}}},
        {"scenario", r.scenario},
        {"scenario_result",
         {{"stalled", r.extra.stalled},
          {"stalled_closed_by_server", r.extra.stalled_closed},
          {"server_clients_closed_slow", r.extra.closed_slow},
          {"server_ticks_dropped", r.extra.ticks_dropped},
          {"churn_connects", r.extra.churn_connects},
          {"churn_connects_per_s", r.extra.churn_per_s},
          {"churn_errors", r.extra.churn_errors},
          {"churn_first_error", r.extra.churn_error}}},
    });
  }
  return {
      {"tool", "tickcast-bench"},
      {"machine",
       {{"cpus", machine.cpus},
        {"cpu_model", machine.cpu_model},
        {"kernel", machine.kernel},
        {"compiler", machine.compiler},
        {"fd_limit", machine.fd_limit},
        {"fd_hard_limit", machine.fd_hard_limit}}},
      {"options",
       {{"tick_ms", options.tick_ms},
        {"duration_s", options.duration_s},
        {"commands", options.commands},
        {"in_flight", options.in_flight},
        {"server_cpus", options.server_cpus},
        {"client_cpus", options.client_cpus},
        {"client_loops", options.client_loops},
        {"client_poll_us", options.client_poll_us},
        {"target",
         options.target_port ? nlohmann::json(*options.target_port) : nlohmann::json(nullptr)}}},
      {"runs", runs},
  };
}

void write_csv(std::ostream& out, const std::vector<RunResult>& results) {
  out << "transport,clients,held,connected,connect_s,p50_us,p90_us,p99_us,p99_9_us,max_us,p50_"
         "ratio_tcp,"
         "p99_ratio_tcp,cmd_p50_us,cmd_p99_us,command_timeouts,events_per_s,lost,duplicated,out_of_"
         "order,"
         "server_cpu_percent,server_peak_rss_kib,rss_per_conn_kib,client_cpu_percent,load_before,"
         "scenario,stalled,stalled_closed,closed_slow,ticks_dropped,churn_connects_per_s,churn_"
         "errors,reader_sleeps,note\n";
  for (const auto& r : results) {
    auto opt = [](std::optional<double> v) { return v ? num(*v, "%.3f") : std::string(); };
    std::string note = r.note;
    for (char& c : note) {
      if (c == '"' || c == '\n') c = '\'';
    }
    out << r.transport << ',' << r.clients << ',' << (r.held ? 1 : 0) << ',' << r.connected << ','
        << num(r.connect_s, "%.3f") << ',' << r.latency.percentile(50) << ','
        << r.latency.percentile(90) << ',' << r.latency.percentile(99) << ','
        << r.latency.percentile(99.9) << ',' << r.latency.max() << ',' << opt(ratio(r, results, 50))
        << ',' << opt(ratio(r, results, 99)) << ',' << r.command.percentile(50) << ','
        << r.command.percentile(99) << ',' << r.command_timeouts << ','
        << num(r.events_per_s, "%.1f") << ',' << r.lost << ',' << r.duplicated << ','
        << r.out_of_order << ',' << num(r.server_cpu_percent) << ',' << r.server_peak_rss_kib << ','
        << num(r.rss_per_conn_kib, "%.3f") << ',' << num(r.client_cpu_percent) << ','
        << num(r.load_before, "%.2f") << ',' << r.scenario << ',' << r.extra.stalled << ','
        << r.extra.stalled_closed << ',' << r.extra.closed_slow << ',' << r.extra.ticks_dropped
        << ',' << num(r.extra.churn_per_s) << ',' << r.extra.churn_errors << ','
        << (r.reader_sleeps ? std::to_string(*r.reader_sleeps) : std::string()) << ",\"" << note
        << "\"\n";
  }
}

}  // namespace tickcast::bench
