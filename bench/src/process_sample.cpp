#include "process_sample.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace tickcast::bench {

namespace {

// Reads utime+stime (clock ticks) and the parent pid of one process; false if it is gone.
bool read_stat(pid_t pid, pid_t& parent, double& cpu_seconds) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  const std::size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  long long ppid = 0, skip = 0, utime = 0, stime = 0;
  fields >> state >> ppid;
  for (int i = 0; i < 9; ++i) fields >> skip;  // pgrp .. cmajflt
  fields >> utime >> stime;
  parent = static_cast<pid_t>(ppid);
  cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return true;
}

std::int64_t status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  }
  return 0;
}

}  // namespace

ProcessSample sample_tree(pid_t root) {
  std::map<pid_t, pid_t> parents;
  std::map<pid_t, double> cpu;
  if (DIR* dir = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(dir)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
      if (pid <= 0) continue;
      pid_t parent = 0;
      double seconds = 0;
      if (read_stat(pid, parent, seconds)) {
        parents[pid] = parent;
        cpu[pid] = seconds;
      }
    }
    ::closedir(dir);
  }
  ProcessSample sample;
  for (const auto& [pid, parent] : parents) {
    bool in_tree = false;
    for (pid_t p = pid, hops = 0; p > 1 && hops < 64; ++hops) {
      if (p == root) {
        in_tree = true;
        break;
      }
      auto it = parents.find(p);
      if (it == parents.end()) break;
      p = it->second;
    }
    if (!in_tree) continue;
    sample.cpu_seconds += cpu[pid];
    sample.rss_kib += status_kib(pid, "VmRSS");
    sample.peak_rss_kib += status_kib(pid, "VmHWM");
    ++sample.processes;
  }
  return sample;
}

}  // namespace tickcast::bench
