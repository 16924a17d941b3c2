#pragma once
// The client's reader of a text/event-stream: splits it into events (id, event, data),
// across reads. Apart from the SSE transport so the fuzzer runs the same code.

#include <cstddef>
#include <string>
#include <string_view>

namespace tickcast::client {

/// SseParser splits a text/event-stream into events (id, event, data).
/// Threads: one owner.
class SseParser {
 public:
  struct Event {
    std::string id;
    std::string type;
    std::string data;
  };

  /// feed appends bytes read from the stream and calls on_event(const Event&) for each
  /// event they complete (an empty line ends one; events without data are dropped).
  template <typename F>
  void feed(const char* bytes, std::size_t n, F&& on_event) {
    buffer_.append(bytes, n);
    std::size_t start = 0;
    for (;;) {
      const std::size_t nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buffer_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      start = nl + 1;
      if (line.empty()) {
        if (has_data_) on_event(current_);
        current_ = Event{};
        has_data_ = false;
        continue;
      }
      if (line.front() == ':') continue;  // comment / heartbeat
      const std::size_t colon = line.find(':');
      std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (field == "data") {
        if (has_data_) current_.data += '\n';
        current_.data.append(value);
        has_data_ = true;
      } else if (field == "id") {
        current_.id = std::string(value);
      } else if (field == "event") {
        current_.type = std::string(value);
      }
    }
    buffer_.erase(0, start);
  }

 private:
  std::string buffer_;
  Event current_;
  bool has_data_ = false;
};

}  // namespace tickcast::client
