#pragma once
// One tickcast-bench run for the bench's end-to-end tests, in a fresh temporary folder that
// holds its JSON, CSV and output and goes with the BenchRun.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace tickcast::bench::testing {

/// BenchRun runs TICKCAST_BENCH_PATH with `arguments` plus --json and --csv into its folder,
/// and keeps the exit status and everything the bench printed.
struct BenchRun {
  explicit BenchRun(const std::string& arguments) {
    std::string folder = "/tmp/tickcast-bench-test-XXXXXX";
    if (::mkdtemp(folder.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = folder;
    json_path = dir + "/bench.json";
    csv_path = dir + "/bench.csv";
    const std::string command = std::string(TICKCAST_BENCH_PATH) + " " + arguments + " --json " +
                                json_path + " --csv " + csv_path + " > " + dir + "/out.txt 2>&1";
    status = std::system(command.c_str());
    std::ifstream out(dir + "/out.txt");
    output.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
  }
  ~BenchRun() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  BenchRun(const BenchRun&) = delete;
  BenchRun& operator=(const BenchRun&) = delete;

  std::string dir, json_path, csv_path;
  int status = -1;
  std::string output;  ///< stdout and stderr
};

}  // namespace tickcast::bench::testing
