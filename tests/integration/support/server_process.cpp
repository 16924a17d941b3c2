#include "server_process.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "temp_dir.h"

namespace tickcast::testing {

std::string server_binary() {
  const char* path = std::getenv("TICKCAST_SERVER");
  return path && *path ? path : TICKCAST_SERVER_PATH;
}

ServerProcess::ServerProcess(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  port_ = free_port();
  std::vector<std::string> argv{server_binary(), "--host", "127.0.0.1", "--port",
                                std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  if (std::find(args.begin(), args.end(), "--data-dir") == args.end()) {
    data_dir_ = std::make_unique<TempDir>("tickcast-data");
    argv.insert(argv.end(), {"--data-dir", data_dir_->path()});
  }
  process_ =
      std::make_unique<support::ChildProcess>(support::ChildOptions{.argv = std::move(argv)});
  tls_ = std::find(args.begin(), args.end(), "--tls-cert") != args.end();

  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(std::chrono::milliseconds(200));
  client.set_read_timeout(std::chrono::seconds(2));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      throw std::runtime_error("tickcast-server exited at start:\n" + output());
    }
    if (tls_) {
      // This httplib is built without TLS: curl asks instead (-k: any certificate).
      if (run_command("curl -sk -o /dev/null -w '%{http_code}' --max-time 2 " + base_url() +
                      "/healthz") == "200") {
        return;
      }
    } else if (auto res = client.Get("/healthz"); res && res->status == 200) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a sync
  }
  terminate(std::chrono::seconds(2));
  throw std::runtime_error("tickcast-server did not become healthy:\n" + output());
}

ServerProcess::~ServerProcess() = default;

std::string ServerProcess::output() const { return process_->output(); }

bool ServerProcess::wait_for_output(const std::string& text,
                                    std::chrono::milliseconds timeout) const {
  return process_->wait_for_output(text, timeout);
}

std::optional<int> ServerProcess::terminate(std::chrono::milliseconds timeout) {
  return process_->terminate(timeout);
}

void ServerProcess::kill_hard() { process_->kill_hard(); }

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

std::string raw_http(int port, const std::string& request, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

}  // namespace tickcast::testing
