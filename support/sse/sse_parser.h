#pragma once
// The one reader of a text/event-stream body for the tests and the bench: splits it into
// events (id, event, data, retry) and comments, across reads. Allocation-light for the
// bench's hot path: the fields are strings reused from event to event.

#include <string>
#include <string_view>

namespace tickcast::support {

/// SseBlock is one event: the fields of the lines an empty line ended. `data` joins its
/// data lines with '\n'.
struct SseBlock {
  std::string id, event, data, retry;
};

/// SseParser turns body bytes into events and comments. Lines end with LF or CRLF; a
/// field without ':' has an empty value; one space after ':' is not part of the value;
/// unknown fields are ignored. Threads: one owner.
class SseParser {
 public:
  /// feed consumes the whole lines of `body` (a partial last line stays in it). For each
  /// event they end it calls on_event(const SseBlock&): for a block with any field (a
  /// `retry:`-only block too; one made only of comments is not an event). For each comment
  /// line (":text") it calls on_comment(std::string_view text), text after the ':'.
  template <typename OnEvent, typename OnComment>
  void feed(std::string& body, OnEvent&& on_event, OnComment&& on_comment) {
    std::size_t used = 0;
    for (;;) {
      const std::size_t end = body.find('\n', used);
      if (end == std::string::npos) break;
      std::string_view line(body.data() + used, end - used);
      used = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        if (has_fields_) on_event(static_cast<const SseBlock&>(block_));
        clear();
      } else if (line.front() == ':') {
        on_comment(line.substr(1));
      } else {
        field(line);
      }
    }
    body.erase(0, used);
  }

  /// feed without a comment handler: comments are skipped.
  template <typename OnEvent>
  void feed(std::string& body, OnEvent&& on_event) {
    feed(body, on_event, [](std::string_view) {});
  }

  /// pending is the event being read (its lines so far).
  const SseBlock& pending() const { return block_; }

 private:
  void field(std::string_view line) {
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "data") {
      if (has_data_) block_.data.push_back('\n');
      block_.data.append(value);
      has_data_ = true;
    } else if (name == "id") {
      block_.id.assign(value);
    } else if (name == "event") {
      block_.event.assign(value);
    } else if (name == "retry") {
      block_.retry.assign(value);
    } else {
      return;
    }
    has_fields_ = true;
  }

  void clear() {
    block_.id.clear();  // clear() keeps the capacity: no allocation per event
    block_.event.clear();
    block_.data.clear();
    block_.retry.clear();
    has_fields_ = has_data_ = false;
  }

  SseBlock block_;
  bool has_fields_ = false;
  bool has_data_ = false;
};

}  // namespace tickcast::support
