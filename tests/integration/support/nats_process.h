#pragma once
// Starts real nats-server processes with JetStream (file storage in a folder of the test's)
// on free loopback ports, alone or as a 3-server cluster, and stops them by pid.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "process/child_process.h"

namespace tickcast::testing {

/// NatsServer is one nats-server child. Threads: one test thread.
class NatsServer {
 public:
  /// NatsServer starts `nats-server -js` with its store in `store_dir`, client port
  /// `port`; with `cluster_port` and `routes` it joins a cluster. Waits until the client
  /// port accepts; throws std::runtime_error with its log if not within 15 s.
  NatsServer(std::string name, std::string store_dir, int port, int cluster_port = 0,
             std::vector<int> route_ports = {}, int monitor_port = 0);
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  /// name is the server_name (as /jsz names stream leaders).
  const std::string& name() const { return name_; }
  /// stop sends `signal` (SIGTERM or SIGKILL) and reaps the process (SIGKILLed if it
  /// has not exited 30 s later).
  void stop(int signal);
  std::string log() const;

 private:
  std::string name_;
  int port_ = 0;
  std::unique_ptr<support::ChildProcess> process_;
};

/// nats_server_available tells whether a nats-server binary is on PATH.
bool nats_server_available();

}  // namespace tickcast::testing
