#pragma once
// What /proc says about a child process (tickcast-server, the tcp floor) and its
// descendants (the embedded broker is the server's child).

#include <sys/types.h>

#include <cstdint>

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

}  // namespace tickcast::bench
