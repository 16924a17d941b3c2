#pragma once
// The bench's output: a readable table, JSON and CSV, each transport beside the tcp floor
// of the same size measured in the same run.

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "runner.h"

namespace tickcast::bench {

/// Machine describes where the bench ran.
struct Machine {
  int cpus = 0;
  std::string cpu_model, kernel, compiler;
  std::uint64_t fd_limit = 0, fd_hard_limit = 0;
};

/// describe_machine reads /proc and uname.
Machine describe_machine();

/// print_table writes the results as an aligned table with ratios to tcp.
void print_table(std::ostream& out, const std::vector<RunResult>& results);

/// print_summary writes, per transport and size, the median and range over the --runs
/// rounds of p50, p99, their ratios to the tcp floor of the same round, and server CPU.
void print_summary(std::ostream& out, const std::vector<RunResult>& results);
/// to_json renders every result, the machine and the options.
nlohmann::json to_json(const std::vector<RunResult>& results, const Machine& machine,
                       const RunOptions& options);

/// write_csv writes one line per result.
void write_csv(std::ostream& out, const std::vector<RunResult>& results);

}  // namespace tickcast::bench
