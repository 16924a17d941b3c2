#include "tcp_floor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigprocmask(), sigset_t
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "frame.h"
#include "tickcast/core/clock.h"
#include "tickcast/core/protocol.h"

namespace tickcast::bench {

namespace {

constexpr std::string_view kRoom = "bench";
constexpr std::int64_t kPhaseMs = 24LL * 3600 * 1000;

// One client: what it sent that is not a whole frame yet, and what the kernel did not take.
struct Peer {
  std::string in, out;
};

class Floor {
 public:
  Floor(int listen_fd, int tick_ms) : listen_(listen_fd), tick_ms_(tick_ms) {}

  int run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    signal_ = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    watch(listen_, EPOLLIN);
    watch(timer_, EPOLLIN);
    watch(signal_, EPOLLIN);
    std::array<epoll_event, 512> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == signal_) return 0;
        if (fd == listen_) {
          accept_all();
        } else if (fd == timer_) {
          std::uint64_t expirations = 0;
          [[maybe_unused]] auto r = ::read(timer_, &expirations, sizeof expirations);
          if (running_) broadcast(Reason::tick);
        } else {
          on_peer(fd, events[i].events);
        }
      }
    }
  }

 private:
  void watch(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  TimerState state() const {
    TimerState s;
    s.running = running_;
    s.duration = Millis(kPhaseMs);
    s.remaining = Millis(std::max<std::int64_t>(0, kPhaseMs - elapsed_ticks_ * tick_ms_));
    return s;
  }

  std::string frame(Reason reason, std::uint64_t seq) const {
    return encode_frame(
        encode_event(kRoom, seq, TimerEvent{reason, state()}, clock_.wall_time_us()));
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      peers_[fd];
      watch(fd, EPOLLIN);
      send(fd, frame(Reason::snapshot, seq_));
    }
  }

  // One write() per client; what the kernel does not take waits for EPOLLOUT.
  void send(int fd, const std::string& bytes) {
    Peer& peer = peers_[fd];
    if (!peer.out.empty()) {
      peer.out += bytes;
      return;
    }
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return drop(fd);
    const std::size_t sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    if (sent < bytes.size()) {
      peer.out.assign(bytes, sent);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.fd = fd;
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
    }
  }

  void broadcast(Reason reason) {
    if (reason == Reason::tick) ++elapsed_ticks_;
    const std::string bytes = frame(reason, ++seq_);
    std::vector<int> fds;
    fds.reserve(peers_.size());
    for (const auto& [fd, peer] : peers_) fds.push_back(fd);
    for (int fd : fds) send(fd, bytes);
  }

  void arm() {
    itimerspec spec{};
    spec.it_interval.tv_sec = tick_ms_ / 1000;
    spec.it_interval.tv_nsec = (tick_ms_ % 1000) * 1000000L;
    spec.it_value = spec.it_interval;
    ::timerfd_settime(timer_, 0, &spec, nullptr);
  }

  void on_peer(int fd, std::uint32_t events) {
    auto it = peers_.find(fd);
    if (it == peers_.end()) return;
    if (events & EPOLLOUT) {
      Peer& peer = it->second;
      const ssize_t n = ::send(fd, peer.out.data(), peer.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return drop(fd);
      if (n > 0) peer.out.erase(0, static_cast<std::size_t>(n));
      if (peer.out.empty()) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
      }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    std::array<char, 4096> buffer;
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return drop(fd);
    std::vector<std::string> commands;
    std::string& in = it->second.in;
    in.append(buffer.data(), static_cast<std::size_t>(n));
    std::size_t used = 0;
    while (auto f = next_frame(std::string_view(in).substr(used))) {
      if (f->too_large) return drop(fd);
      commands.emplace_back(f->payload);
      used += 4 + f->payload.size();
    }
    in.erase(0, used);
    for (const auto& json : commands) command(json);  // may drop peers: `it` is not used after
  }

  void command(const std::string& json) {
    const DecodedCommand decoded = decode_command(json);
    if (!decoded.command) return;
    if (decoded.command->type == CommandType::start && !running_) {
      running_ = true;
      arm();
      broadcast(Reason::start);
    } else if (decoded.command->type == CommandType::stop && running_) {
      running_ = false;
      itimerspec off{};
      ::timerfd_settime(timer_, 0, &off, nullptr);
      broadcast(Reason::stop);
    }
  }

  void drop(int fd) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    peers_.erase(fd);
  }

  int listen_;
  int tick_ms_;
  int epoll_ = -1, timer_ = -1, signal_ = -1;
  std::map<int, Peer> peers_;
  std::uint64_t seq_ = 0;
  std::int64_t elapsed_ticks_ = 0;
  bool running_ = false;
  SystemClock clock_;
};

}  // namespace

int run_tcp_floor(const char* host, int port, int tick_ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host, &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0) {
    std::fprintf(stderr, "tcp-floor: cannot listen on %s:%d: %s\n", host, port,
                 std::strerror(errno));
    return 1;
  }
  std::printf("tcp-floor listening %d\n", port);
  std::fflush(stdout);
  return Floor(fd, tick_ms).run();
}

}  // namespace tickcast::bench
