#include "duration.h"

#include <charconv>

namespace tickcast::server {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || value < 0) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  long long scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return std::nullopt;
  if (value > 24LL * 3'600'000 / scale) return std::nullopt;
  return std::chrono::milliseconds(value * scale);
}

}  // namespace tickcast::server
