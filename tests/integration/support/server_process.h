#pragma once
// Starts tickcast-server as a child process on a free loopback port, for integration
// tests, and stops it. Waits on conditions with deadlines, never fixed sleeps.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process/child_process.h"
#include "process/ports.h"

namespace tickcast::testing {

class TempDir;

using support::free_port;
using support::port_accepts;

/// ServerProcess is a running tickcast-server. Threads: one test thread.
class ServerProcess {
 public:
  /// ServerProcess starts the server with `args` (besides --host/--port, which it sets)
  /// and waits until /healthz answers 200 (over https, with curl, when `args` has
  /// --tls-cert); throws std::runtime_error with the server's output if it does not
  /// within `timeout`. Without `--data-dir` in `args` the server gets a fresh temporary
  /// data folder of its own, removed with the ServerProcess.
  explicit ServerProcess(std::vector<std::string> args,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15));
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  std::string base_url() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }
  std::string ws_url(const std::string& room) const {
    return (tls_ ? "wss://127.0.0.1:" : "ws://127.0.0.1:") + std::to_string(port_) + "/rooms/" +
           room;
  }
  /// tls tells whether the server was started with --tls-cert.
  bool tls() const { return tls_; }
  /// output returns what the server printed so far (stdout and stderr).
  std::string output() const;
  /// wait_for_output waits until the server has printed `text` (its lines after /healthz
  /// answers, such as the mqtt URL, may come later); false if not within `timeout`.
  bool wait_for_output(const std::string& text,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  /// terminate sends SIGTERM and waits up to `timeout`; returns the exit status
  /// (as from waitpid) or nullopt if it did not exit in time (then it is killed).
  std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// kill_hard sends SIGKILL and reaps the server, as a crash would end it.
  void kill_hard();

 private:
  int port_ = 0;
  bool tls_ = false;
  std::unique_ptr<TempDir> data_dir_;  // before process_: removed after the server stopped
  std::unique_ptr<support::ChildProcess> process_;
};

/// server_binary returns the tickcast-server path: env TICKCAST_SERVER, else the one built.
std::string server_binary();

/// run_command runs `command` with /bin/sh and returns what it printed on stdout.
std::string run_command(const std::string& command);

/// raw_http sends `request` bytes to 127.0.0.1:port and returns everything the server
/// answers until it closes or `timeout` passes.
std::string raw_http(int port, const std::string& request,
                     std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace tickcast::testing
