#include "support/nats_process.h"

#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "support/server_process.h"

namespace tickcast::testing {

bool nats_server_available() { return !run_command("command -v nats-server").empty(); }

NatsServer::NatsServer(std::string name, std::string store_dir, int port, int cluster_port,
                       std::vector<int> route_ports, int monitor_port)
    : name_(name), port_(port) {
  std::vector<std::string> args = {"nats-server", "-js",       "-sd", store_dir,
                                   "-a",          "127.0.0.1", "-p",  std::to_string(port),
                                   "-n",          name};
  if (monitor_port) args.insert(args.end(), {"-m", std::to_string(monitor_port)});
  if (cluster_port) {
    std::string routes;
    for (int r : route_ports) {
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(r);
    }
    args.insert(args.end(),
                {"--cluster_name", "tc", "--cluster",
                 "nats://127.0.0.1:" + std::to_string(cluster_port), "--routes", routes});
  }
  // The log is kept in the test's folder, appended to across restarts of the same name.
  process_ = std::make_unique<support::ChildProcess>(
      support::ChildOptions{.argv = std::move(args),
                            .log_path = store_dir + "/nats-" + name + ".log",
                            .stop_grace = std::chrono::milliseconds(0)});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!port_accepts(port_)) {
    if (!process_->running()) throw std::runtime_error("nats-server exited: " + log());
    if (std::chrono::steady_clock::now() > deadline) {
      stop(SIGKILL);
      throw std::runtime_error("nats-server did not listen: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition
  }
}

void NatsServer::stop(int signal) {
  process_->signal(signal);
  if (!process_->wait(std::chrono::seconds(30))) process_->kill_hard();
}

std::string NatsServer::log() const { return process_->output(); }

}  // namespace tickcast::testing
