#include "event_scan.h"

#include <charconv>

namespace tickcast::bench {

namespace {

// Finds `"key":` and returns what follows it. The same quoted text as a value (a room
// named "seq") is followed by `,` or `}`, not `:`, and is skipped.
std::optional<std::string_view> after_key(std::string_view json, std::string_view quoted_key) {
  for (std::size_t at = json.find(quoted_key); at != std::string_view::npos;
       at = json.find(quoted_key, at + 1)) {
    std::string_view rest = json.substr(at + quoted_key.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty() || rest.front() != ':') continue;
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
  }
  return std::nullopt;
}

template <typename Int>
std::optional<Int> int_after(std::string_view json, std::string_view quoted_key) {
  auto rest = after_key(json, quoted_key);
  if (!rest) return std::nullopt;
  Int value{};
  auto [end, error] = std::from_chars(rest->data(), rest->data() + rest->size(), value);
  if (error != std::errc{}) return std::nullopt;
  return value;
}

// Returns the length of the JSON value (object, array, string or scalar) at the start of
// `text`, or npos when it does not end within it.
std::size_t value_length(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (--depth == 0) return i + 1;
        if (depth < 0) return i;
        break;
      case ',':
        if (depth == 0) return i;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<EventFields> scan_event(std::string_view json) {
  EventFields fields;
  auto seq = int_after<std::uint64_t>(json, "\"seq\"");
  auto time = int_after<std::int64_t>(json, "\"server_time_us\"");
  if (!seq || !time) return std::nullopt;
  fields.seq = *seq;
  fields.server_time_us = *time;
  if (auto reason = after_key(json, "\"reason\"")) {
    fields.tick = reason->starts_with("\"tick\"");
    fields.snapshot = reason->starts_with("\"snapshot\"");
  }
  if (auto running = after_key(json, "\"running\"")) {
    if (running->starts_with("true")) fields.running = true;
    if (running->starts_with("false")) fields.running = false;
  }
  return fields;
}

std::optional<PollBody> scan_poll_body(std::string_view body) {
  auto rest = after_key(body, "\"events\"");
  if (!rest || rest->empty() || rest->front() != '[') return std::nullopt;
  PollBody out;
  std::string_view items = rest->substr(1);
  for (;;) {
    while (!items.empty() &&
           (items.front() == ' ' || items.front() == ',' || items.front() == '\n')) {
      items.remove_prefix(1);
    }
    if (items.empty()) return std::nullopt;
    if (items.front() == ']') break;
    const std::size_t length = value_length(items);
    if (length == std::string_view::npos || length == 0) return std::nullopt;
    out.events.push_back(items.substr(0, length));
    items.remove_prefix(length);
  }
  out.next = int_after<std::uint64_t>(items, "\"next\"");
  return out;
}

}  // namespace tickcast::bench
