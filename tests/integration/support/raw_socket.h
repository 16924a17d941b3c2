#pragma once
// A raw loopback TCP connection for tests that need to see exactly what the server does
// with a socket: what it sends, and whether it closes it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tickcast::testing {

/// RawSocket is a loopback connection, closed on destruction. `receive_buffer` > 0 shrinks
/// SO_RCVBUF before connecting, so that a reader that never reads stalls its sender soon.
/// Threads: one test thread.
class RawSocket {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RawSocket(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  /// close ends the connection with a FIN; reset ends it with a reset (RST).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void reset() {
    const linger abort{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    close();
  }
  bool send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  /// closed_by_peer: true when the peer closed (EOF or reset) before `deadline`, reading
  /// and discarding whatever it had sent. A connection the server keeps open keeps us
  /// reading until the deadline, so this fails for one the server never closes.
  bool closed_by_peer(Clock::time_point deadline) {
    char buffer[65536];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return true;
    }
  }
  /// response returns one whole response (headers, then Content-Length bytes), lowercased,
  /// if it arrived before `deadline`; what follows it is kept for the next call.
  std::optional<std::string> response(Clock::time_point deadline) {
    char buffer[4096];
    for (;;) {
      const auto end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto length = pending_.find("content-length: ");
        const auto body =
            length == std::string::npos ? 0 : std::stoul(pending_.substr(length + 16));
        if (pending_.size() >= end + 4 + body) {
          std::string whole = pending_.substr(0, end + 4 + body);
          pending_.erase(0, whole.size());
          return whole;
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return std::nullopt;
      for (char c : std::string_view(buffer, static_cast<std::size_t>(n))) {
        pending_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
  }
  /// read_response: true when one whole response arrived before `deadline`.
  bool read_response(Clock::time_point deadline) { return response(deadline).has_value(); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;  // read, lowercased, not yet returned
};

}  // namespace tickcast::testing
