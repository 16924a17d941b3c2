#pragma once
// Reads the events of a text/event-stream body for the bench's SSE clients: `data:` lines
// collect, an empty line ends an event, other lines (id, event, comments) are ignored.

#include <string>
#include <string_view>

namespace tickcast::bench {

/// SseEventReader turns body bytes into whole events' data, across reads.
/// Threads: one owner.
class SseEventReader {
 public:
  /// feed consumes the whole lines of `body` (a partial last line stays in it) and calls
  /// on_event(std::string_view data) for each event they end.
  template <typename OnEvent>
  void feed(std::string& body, OnEvent&& on_event) {
    std::size_t used = 0;
    for (;;) {
      const std::size_t end = body.find('\n', used);
      if (end == std::string::npos) break;
      std::string_view line(body.data() + used, end - used);
      used = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        if (!data_.empty()) on_event(std::string_view(data_));
        data_.clear();
      } else if (line.starts_with("data:")) {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (!data_.empty()) data_.push_back('\n');
        data_.append(line);
      }
    }
    body.erase(0, used);
  }

  /// pending is the data of the event being read (its lines so far).
  const std::string& pending() const { return data_; }

 private:
  std::string data_;
};

}  // namespace tickcast::bench
