#include "support/nats_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/server_process.h"

namespace tickcast::testing {

bool nats_server_available() { return !run_command("command -v nats-server").empty(); }

NatsServer::NatsServer(std::string name, std::string store_dir, int port, int cluster_port,
                       std::vector<int> route_ports, int monitor_port)
    : name_(name), port_(port), log_path_(store_dir + "/nats-" + name + ".log") {
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
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    std::FILE* out = std::freopen(log_path_.c_str(), "a", stdout);
    std::FILE* err = std::freopen(log_path_.c_str(), "a", stderr);
    (void)out;
    (void)err;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!port_accepts(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("nats-server exited: " + log());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop(SIGKILL);
      throw std::runtime_error("nats-server did not listen: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition
  }
}

NatsServer::~NatsServer() {
  if (pid_ > 0) stop(SIGKILL);
}

void NatsServer::stop(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string NatsServer::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace tickcast::testing
