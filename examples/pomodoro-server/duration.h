#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace tickcast::server {

/// parse_duration reads "90s", "25m", "1h", "1500ms" or a bare number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace tickcast::server
