#include "poll_query.h"

#include <charconv>

namespace tickcast::longpoll {

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

PollQuery read_poll_query(const std::map<std::string, std::string>& query,
                          std::chrono::milliseconds default_timeout,
                          std::chrono::milliseconds max_timeout) {
  PollQuery out;
  out.timeout = default_timeout;
  if (auto it = query.find("since"); it != query.end()) {
    out.since = parse_unsigned(it->second);
    if (!out.since) {
      out.error = Failure{FailureCode::bad_request, "since must be a non-negative integer"};
      return out;
    }
  }
  if (auto it = query.find("timeout_ms"); it != query.end()) {
    const auto value = parse_unsigned(it->second);
    if (!value || *value > static_cast<std::uint64_t>(max_timeout.count())) {
      out.error = Failure{FailureCode::bad_request, "timeout_ms must be an integer in 0.." +
                                                        std::to_string(max_timeout.count())};
      return out;
    }
    out.timeout = std::chrono::milliseconds(*value);
  }
  return out;
}

}  // namespace tickcast::longpoll
