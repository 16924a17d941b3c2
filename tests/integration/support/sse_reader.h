#pragma once
// A minimal Server-Sent Events reader over a plain socket, for tests: it can disconnect
// abruptly, which a polite HTTP client library cannot.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sse/sse_parser.h"

namespace tickcast::testing {

/// SseEvent is one parsed event (support::SseParser's), or a comment line (heartbeat) with
/// `comment` set and its text in `data`.
struct SseEvent {
  std::string id, event, data, retry;
  bool comment = false;
};

/// SseReader opens GET `path` with `headers` and parses the stream on its own thread.
/// Threads: methods from the test thread.
class SseReader {
 public:
  SseReader(int port, std::string path,
            std::vector<std::pair<std::string, std::string>> headers = {});
  ~SseReader();
  SseReader(const SseReader&) = delete;
  SseReader& operator=(const SseReader&) = delete;

  /// status is the HTTP status line's code, once headers arrived (0 before).
  int wait_status(std::chrono::milliseconds timeout);
  /// header returns a response header (lower-case name), after wait_status.
  std::string header(const std::string& name);
  /// body returns the raw body read so far (for error responses).
  std::string body();
  /// next waits for the next event or comment.
  std::optional<SseEvent> next(std::chrono::milliseconds timeout);
  /// next_event skips comments and `retry:`-only blocks.
  std::optional<SseEvent> next_event(std::chrono::milliseconds timeout);
  /// abort closes the socket with a TCP reset, as a vanished client would.
  void abort();

 private:
  void run();
  void parse(std::string& buffer);

  int fd_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int status_ = 0;
  bool done_ = false;
  std::map<std::string, std::string> headers_;
  std::string body_;
  std::deque<SseEvent> events_;
  support::SseParser parser_;
};

}  // namespace tickcast::testing
