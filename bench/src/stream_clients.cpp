#include "stream_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tickcast::bench {

StreamClients::StreamClients(Endpoint endpoint, std::size_t n) : endpoint_(std::move(endpoint)) {
  recorder_ = std::make_unique<Recorder>(n);
  const std::size_t loops = std::max<std::size_t>(1, endpoint_.client_loops);
  for (std::size_t i = 0; i < loops; ++i) loops_.push_back(std::make_unique<EventLoop>());
  conns_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto conn = std::make_unique<Conn>();
    conn->owner = this;
    conn->index = i;
    conn->loop = loops_[i % loops].get();
    conns_.push_back(std::move(conn));
  }
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    loops_[i]->poll_every(std::chrono::microseconds(endpoint_.client_poll_us));
    loops_[i]->start(std::chrono::milliseconds(100), {}, [this, i] {
      if (started_) on_round_end(i);
    });
  }
}

StreamClients::~StreamClients() {
  stop();
  for (auto& conn : conns_) {
    if (conn->fd >= 0) ::close(conn->fd);
  }
}

double StreamClients::mean_connect_ms() const {
  const std::size_t n = connect_count_.load();
  return n ? static_cast<double>(connect_us_total_.load()) / 1000.0 / static_cast<double>(n) : 0;
}

std::optional<std::uint64_t> StreamClients::reader_sleeps() const {
  std::uint64_t sum = 0;
  for (const auto& loop : loops_) sum += loop->voluntary_switches();
  return sum;
}

std::string StreamClients::first_error() const {
  std::lock_guard lock(error_mutex_);
  return first_error_;
}

void StreamClients::start(std::size_t n, std::size_t in_flight) {
  {
    std::lock_guard lock(pacing_mutex_);
    target_ = std::min(n, conns_.size());
    in_flight_limit_ = std::max<std::size_t>(1, in_flight);
  }
  started_ = true;
  launch();
}

// Each client is opened on its own loop's thread: a posted task, whichever thread paces it.
void StreamClients::launch() {
  std::lock_guard lock(pacing_mutex_);
  while (next_ < target_ && in_flight_ < in_flight_limit_) {
    Conn& conn = *conns_[next_++];
    ++in_flight_;
    conn.loop->post([this, &conn] { open(conn); });
  }
}

void StreamClients::open(Conn& conn) {
  conn.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn.fd < 0) return fail(conn, std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(endpoint_.port));
  ::inet_pton(AF_INET, endpoint_.host.c_str(), &addr.sin_addr);
  const int rc = ::connect(conn.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS)
    return fail(conn, std::string("connect: ") + std::strerror(errno));
  conn.connecting = true;
  conn.in.clear();
  conn.out.clear();
  conn.body.clear();
  conn.data.clear();
  conn.sse = support::SseParser{};
  conn.upgraded = false;
  conn.http = HttpResponseReader{};
  conn.ssl.reset();
  conn.handshaking = false;
  conn.connect_started_us = now_us();
  conn.watching = EPOLLIN | EPOLLOUT;
  conn.loop->add(conn.fd, conn.watching, &conn);
}

void StreamClients::close_fd(Conn& conn) {
  if (conn.fd < 0) return;
  conn.loop->remove(conn.fd);
  conn.ssl.reset();
  ::close(conn.fd);
  conn.fd = -1;
}

void StreamClients::fail(Conn& conn, const std::string& why) {
  close_fd(conn);
  if (conn.failed) return;
  conn.failed = true;
  failed_.fetch_add(1);
  {
    std::lock_guard lock(error_mutex_);
    if (first_error_.empty()) first_error_ = "client " + std::to_string(conn.index) + ": " + why;
  }
  if (!conn.ready) {
    {
      std::lock_guard lock(pacing_mutex_);
      --in_flight_;
    }
    launch();
  }
}

void StreamClients::deliver(Conn& conn, std::string_view json, std::int64_t received_us) {
  recorder_->on_message(conn.index, json, received_us);
  paced_ready(conn);
}

void StreamClients::mark_ready(Conn& conn) {
  recorder_->mark_ready(conn.index);
  paced_ready(conn);
}

void StreamClients::paced_ready(Conn& conn) {
  if (conn.ready) return;
  conn.ready = true;
  {
    std::lock_guard lock(pacing_mutex_);
    --in_flight_;
  }
  launch();
}

void StreamClients::queue_write(Conn& conn, std::string_view bytes) {
  conn.out.append(bytes);
  if (!conn.connecting) flush(conn);
}

void StreamClients::flush(Conn& conn) {
  while (!conn.out.empty()) {
    ssize_t n;
    if (conn.ssl) {
      n = SSL_write(conn.ssl.get(), conn.out.data(), static_cast<int>(conn.out.size()));
      if (n <= 0) {
        const int e = SSL_get_error(conn.ssl.get(), static_cast<int>(n));
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        return fail(conn, "TLS write failed");
      }
    } else {
      n = ::send(conn.fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return fail(conn, std::string("write: ") + std::strerror(errno));
      }
    }
    conn.out.erase(0, static_cast<std::size_t>(n));
  }
  watch(conn, conn.out.empty() ? EPOLLIN : (EPOLLIN | EPOLLOUT));
}

// Only a change is an epoll_ctl: a long-poll client writes a request per answer, and an
// epoll_ctl each time was a third of its syscalls.
void StreamClients::watch(Conn& conn, std::uint32_t events) {
  if (events == conn.watching) return;
  conn.watching = events;
  conn.loop->modify(conn.fd, events, &conn);
}

void StreamClients::on_ready(Conn& conn, std::uint32_t events) {
  if (conn.fd < 0) return;
  if (conn.connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) return fail(conn, std::string("connect: ") + std::strerror(error));
    conn.connecting = false;
    if (endpoint_.tls) {
      conn.ssl.reset(SSL_new(client_tls_context()));
      SSL_set_fd(conn.ssl.get(), conn.fd);
      SSL_set_connect_state(conn.ssl.get());
      conn.handshaking = true;
      return handshake(conn);
    }
    return connected(conn);
  }
  if (conn.handshaking) return handshake(conn);
  if (events & EPOLLOUT) {
    flush(conn);
    if (conn.fd < 0) return;
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  std::array<char, 65536> buffer;
  // TLS: SSL_read until OpenSSL has nothing buffered (epoll only sees the socket).
  do {
    const ssize_t n = read_some(conn, buffer.data(), buffer.size());
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    const std::int64_t received_us = now_us();
    if (n <= 0) {
      const std::string why =
          n == 0 ? "closed by the server" : std::string("read: ") + std::strerror(errno);
      if (conn.ready && reopen_on_close() && n == 0) {
        close_fd(conn);
        open(conn);
        return;
      }
      return fail(conn, why);
    }
    conn.in.append(buffer.data(), static_cast<std::size_t>(n));
    std::string error;
    if (!on_bytes(conn, received_us, error)) return fail(conn, error);
  } while (conn.fd >= 0 && conn.ssl && SSL_pending(conn.ssl.get()) > 0);
}

void StreamClients::connected(Conn& conn) {
  connect_us_total_ += now_us() - conn.connect_started_us;
  ++connect_count_;
  conn.out = greeting(conn) + conn.out;
  flush(conn);
}

void StreamClients::handshake(Conn& conn) {
  const int rc = SSL_do_handshake(conn.ssl.get());
  if (rc == 1) {
    conn.handshaking = false;
    return connected(conn);
  }
  const int e = SSL_get_error(conn.ssl.get(), rc);
  if (e == SSL_ERROR_WANT_READ) return watch(conn, EPOLLIN);
  if (e == SSL_ERROR_WANT_WRITE) return watch(conn, EPOLLIN | EPOLLOUT);
  fail(conn, "TLS handshake failed");
}

// read() on the socket, or SSL_read with its errors mapped to errno (EAGAIN: try later).
ssize_t StreamClients::read_some(Conn& conn, char* buffer, std::size_t size) {
  if (!conn.ssl) return ::read(conn.fd, buffer, size);
  const int n = SSL_read(conn.ssl.get(), buffer, static_cast<int>(size));
  if (n > 0) return n;
  const int e = SSL_get_error(conn.ssl.get(), n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  errno = ECONNRESET;
  return -1;
}

}  // namespace tickcast::bench
