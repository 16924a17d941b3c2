#include "sse_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace tickcast::testing {

SseReader::SseReader(int port, std::string path,
                     std::vector<std::pair<std::string, std::string>> headers) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    throw std::runtime_error("SseReader: connect failed");
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nAccept: text/event-stream\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  thread_ = std::thread([this] { run(); });
}

SseReader::~SseReader() {
  abort();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void SseReader::abort() {
  std::lock_guard lock(mutex_);
  if (done_ && fd_ < 0) return;
  const linger reset{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::shutdown(fd_, SHUT_RDWR);
}

void SseReader::run() {
  std::string buffer;
  bool in_body = false;
  char chunk[8192];
  for (;;) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::lock_guard lock(mutex_);
    if (!in_body) {
      const auto end = buffer.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      status_ = std::stoi(head.substr(9, 3));
      std::size_t line = head.find("\r\n");
      while (line != std::string::npos) {
        const std::size_t next = head.find("\r\n", line + 2);
        const std::string h =
            head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
        const auto colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(), ::tolower);
          headers_[name] = h.substr(h.find_first_not_of(' ', colon + 1));
        }
        line = next;
      }
      in_body = true;
    }
    body_ += buffer;
    parse(buffer);
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

void SseReader::parse(std::string& buffer) {
  parser_.feed(
      buffer,
      [&](const support::SseBlock& block) {
        events_.push_back(SseEvent{block.id, block.event, block.data, block.retry, false});
      },
      [&](std::string_view text) {
        SseEvent comment;
        comment.comment = true;
        comment.data = text;
        events_.push_back(std::move(comment));
      });
}

int SseReader::wait_status(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return status_ != 0 || done_; });
  return status_;
}

std::string SseReader::header(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = headers_.find(name);
  return it == headers_.end() ? "" : it->second;
}

std::string SseReader::body() {
  std::lock_guard lock(mutex_);
  return body_;
}

std::optional<SseEvent> SseReader::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return !events_.empty() || done_; }))
    return std::nullopt;
  if (events_.empty()) return std::nullopt;
  SseEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::optional<SseEvent> SseReader::next_event(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto event = next(left);
    if (!event) return std::nullopt;
    if (!event->comment && !event->data.empty()) return event;
  }
}

}  // namespace tickcast::testing
