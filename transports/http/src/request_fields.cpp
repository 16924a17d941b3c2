#include "request_fields.h"

#include <charconv>

namespace tickcast::http::internal {

std::pair<std::string, std::string> split_query_arg(std::string_view arg) {
  const auto eq = arg.find('=');
  if (eq == std::string_view::npos) return {std::string(arg), std::string()};
  return {std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
}

std::optional<std::uint64_t> parse_content_length(std::string_view text) {
  // Digits and nothing else: a length that another parser on the way could read
  // differently ("-1", " 7", "7\0") is how requests get smuggled.
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace tickcast::http::internal
