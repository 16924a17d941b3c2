#include "scenario.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http_request.h"

namespace tickcast::bench {

namespace {

using Clock = std::chrono::steady_clock;

// The request a client of `transport` opens with: a WebSocket upgrade, an SSE GET, or a
// long-poll GET without `since` (answered at once with a snapshot).
std::string greeting(const Endpoint& endpoint, const std::string& transport) {
  const std::string host = "Host: " + endpoint.host + ":" + std::to_string(endpoint.port) + "\r\n";
  if (transport == "ws" || transport == "ws-lws") {
    return "GET /rooms/" + endpoint.room + " HTTP/1.1\r\n" + host +
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }
  if (transport == "sse")
    return "GET /sse/rooms/" + endpoint.room + " HTTP/1.1\r\n" + host + "\r\n";
  return "GET /poll/rooms/" + endpoint.room + " HTTP/1.1\r\n" + host + "\r\n";
}

// A blocking socket connected to the endpoint, or -1 with `error` set.
int connect_to(const Endpoint& endpoint, int receive_buffer, std::chrono::milliseconds timeout,
               std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(endpoint.port));
  ::inet_pton(AF_INET, endpoint.host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool scenario_supported(const std::string& transport) {
  return transport == "ws" || transport == "ws-lws" || transport == "sse" ||
         transport == "longpoll";
}

StalledReaders::StalledReaders(const Endpoint& endpoint, const std::string& transport,
                               std::size_t count) {
  const std::string request = greeting(endpoint, transport);
  for (std::size_t i = 0; i < count; ++i) {
    std::string error;
    // The kernel doubles it and keeps a floor of about 2 KiB: a few events' worth.
    const int fd = connect_to(endpoint, 1024, std::chrono::seconds(5), error);
    if (fd < 0) continue;
    if (!send_all(fd, request)) {
      ::close(fd);
      continue;
    }
    fds_.push_back(fd);
  }
}

StalledReaders::~StalledReaders() {
  for (int fd : fds_) ::close(fd);
}

std::size_t StalledReaders::closed_by_server(Clock::time_point deadline) {
  std::size_t closed = 0;
  char buffer[65536];
  for (int fd : fds_) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) {
        ++closed;
        break;
      }
    }
  }
  return closed;
}

Churn::Churn(const Endpoint& endpoint, std::string transport, double rate, std::size_t workers)
    : endpoint_(endpoint), transport_(std::move(transport)), rate_(rate), workers_(workers) {
  for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this, i] { work(i); });
}

Churn::~Churn() { stop(); }

void Churn::stop() {
  stopping_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

ChurnTotals Churn::totals() const {
  ChurnTotals t;
  t.connects = connects_;
  t.errors = errors_;
  std::lock_guard lock(mutex_);
  t.first_error = first_error_;
  return t;
}

void Churn::work(std::size_t worker) {
  // Each worker keeps its own schedule of rate/workers connects per second.
  const auto period =
      rate_ > 0 ? std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(workers_) / rate_))
                : Clock::duration::zero();
  auto next = Clock::now() + period * worker / std::max<std::size_t>(1, workers_);
  for (std::uint64_t n = 0; !stopping_; ++n) {
    if (period.count() > 0) {
      std::this_thread::sleep_until(next);  // pacing, not synchronisation
      next += period;
      if (stopping_) break;
    }
    std::string error;
    if (one_client(n % 2 == 1, error)) {
      ++connects_;
    } else {
      ++errors_;
      std::lock_guard lock(mutex_);
      if (first_error_.empty()) first_error_ = error;
    }
  }
}

// One client's life: connect, request, read until the first event arrives, leave.
bool Churn::one_client(bool reset, std::string& error) {
  const int fd = connect_to(endpoint_, 0, std::chrono::seconds(5), error);
  if (fd < 0) return false;
  bool ok = send_all(fd, greeting(endpoint_, transport_));
  if (!ok) error = "send failed";
  std::string in;
  char buffer[8192];
  while (ok && in.find("\"event\":\"timer\"") == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      error =
          n == 0 ? "closed before the first event" : std::string("recv: ") + std::strerror(errno);
      // What had arrived tells where it stalled: nothing (not accepted or not answered),
      // the headers only, or events without the one looked for.
      error += " after " + std::to_string(in.size()) + " bytes";
      if (!in.empty()) error += " (" + in.substr(0, std::min<std::size_t>(in.size(), 60)) + ")";
      ok = false;
      break;
    }
    in.append(buffer, static_cast<std::size_t>(n));
    // A refusal (503 overloaded, say) is an error at once, not a wait for an event.
    if (in.find("\r\n\r\n") != std::string::npos && in.rfind("HTTP/1.1 101", 0) != 0 &&
        in.rfind("HTTP/1.1 200", 0) != 0) {
      error = "refused: " + in.substr(0, in.find('\r'));
      ok = false;
    }
  }
  if (reset) {
    const linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  ::close(fd);
  return ok;
}

std::int64_t server_metric(const Endpoint& endpoint, const std::string& name,
                           const std::string& transport) {
  const HttpResult res = http_request(endpoint.host, endpoint.port, "GET", "/metrics");
  if (res.status != 200) return -1;
  const std::string line = name + "{transport=\"" + transport + "\"} ";
  const auto at = res.body.find(line);
  if (at == std::string::npos) return -1;
  return std::stoll(res.body.substr(at + line.size()));
}

}  // namespace tickcast::bench
