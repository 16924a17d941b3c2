#include "http_request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "http_response.h"
#include "tls_client.h"

namespace tickcast::bench {

namespace {

// Owns a socket descriptor.
struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

HttpResult http_request(const std::string& host, int port, std::string_view method,
                        std::string_view path, std::string_view body,
                        std::chrono::milliseconds timeout, bool tls) {
  HttpResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  Socket s;
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) {
    result.error = std::string("socket: ") + std::strerror(errno);
    return result;
  }
  const int one = 1;
  ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    result.error = "not an IPv4 address: " + host;
    return result;
  }
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    result.error = std::string("connect: ") + std::strerror(errno);
    return result;
  }
  SslPtr ssl;
  if (tls) {
    ssl.reset(SSL_new(client_tls_context()));
    SSL_set_fd(ssl.get(), s.fd);
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_connect(ssl.get()) != 1) {
      result.error = "TLS handshake failed";
      return result;
    }
  }
  std::string request = std::string(method) + " " + std::string(path) +
                        " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request += body;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n =
        ssl ? SSL_write(ssl.get(), request.data() + sent, static_cast<int>(request.size() - sent))
            : ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      result.error = std::string("write: ") + std::strerror(errno);
      return result;
    }
    sent += static_cast<std::size_t>(n);
  }
  HttpResponseReader reader;
  std::string in;
  std::array<char, 16384> buffer;
  for (;;) {
    pollfd p{s.fd, POLLIN, 0};
    if (!(ssl && SSL_pending(ssl.get()) > 0) && ::poll(&p, 1, left_ms()) <= 0) {
      result.error = "timed out";
      return result;
    }
    const ssize_t n = ssl ? SSL_read(ssl.get(), buffer.data(), static_cast<int>(buffer.size()))
                          : ::read(s.fd, buffer.data(), buffer.size());
    if (n > 0) in.append(buffer.data(), static_cast<std::size_t>(n));
    const auto r = reader.feed(in, result.body);
    result.status = reader.status();
    if (r == HttpResponseReader::Result::complete) return result;
    if (r == HttpResponseReader::Result::error) {
      result.error = reader.error();
      return result;
    }
    if (n == 0) return result;  // body until close ends here
    if (n < 0) {
      result.error = std::string("read: ") + std::strerror(errno);
      return result;
    }
  }
}

}  // namespace tickcast::bench
