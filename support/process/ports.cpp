#include "process/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace tickcast::support {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  return addr;
}

// The kernel's ephemeral range (net.ipv4.ip_local_port_range): port-0 binds and the local
// ends of outgoing connections come from it.
std::pair<int, int> ephemeral_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  in >> low >> high;
  return {low, high};
}

bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("free_port: socket: ") + std::strerror(errno));
  const sockaddr_in addr = loopback(port);
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// A port the kernel hands out for port 0 lies in the ephemeral range, where any outgoing
// connection of the machine (a parallel test's client) may take it before the child binds
// it ("address already in use", seen in CI). So free ports come from below that range, at
// random, and are checked by a bind.
int free_port() {
  thread_local std::mt19937 random{std::random_device{}()};
  const int high = ephemeral_range().first - 1;
  const int low = std::max(1024, high - 12000);
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; high > low && attempt < 200; ++attempt) {
    const int port = pick(random);
    if (can_bind(port)) return port;
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace tickcast::support
