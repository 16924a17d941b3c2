#include "child_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

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

ChildProcess::ChildProcess(std::vector<std::string> argv) {
  char name[] = "/tmp/tickcast-bench-child-XXXXXX";
  const int log = ::mkstemp(name);
  if (log < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
  log_path_ = name;
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the bench
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::close(log);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(log);
}

ChildProcess::~ChildProcess() {
  stop();
  ::unlink(log_path_.c_str());
}

bool ChildProcess::running() {
  if (reaped_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

std::string ChildProcess::output(std::size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || !running()) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
  }
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace tickcast::bench
