#pragma once
// A child process (tickcast-server or the tcp floor) with its output in a log file, and
// what /proc says about it and its descendants (the embedded broker is the server's child).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tickcast::bench {

/// ProcessSample is CPU time and memory of a process tree at one moment.
struct ProcessSample {
  double cpu_seconds = 0;         ///< utime + stime of every process in the tree
  std::int64_t rss_kib = 0;       ///< sum of VmRSS
  std::int64_t peak_rss_kib = 0;  ///< sum of VmHWM (each process's own peak)
  int processes = 0;
};

/// sample_tree reads /proc for `pid` and every descendant.
ProcessSample sample_tree(pid_t pid);

/// ChildProcess runs a program with its stdout and stderr in a temporary log file.
/// Threads: one owner. The destructor stops the child (SIGTERM, then SIGKILL).
class ChildProcess {
 public:
  /// ChildProcess starts `argv[0]` with `argv`; throws std::runtime_error if it cannot.
  explicit ChildProcess(std::vector<std::string> argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// running tells whether the child has not exited yet.
  bool running();
  /// output returns what the child printed so far (the tail, at most `max_bytes`).
  std::string output(std::size_t max_bytes = 4000) const;
  /// stop sends SIGTERM, waits up to `grace`, then SIGKILLs. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

/// free_port returns a loopback TCP port that was free a moment ago.
int free_port();

}  // namespace tickcast::bench
