#include "request_fields.h"

#include <cerrno>
#include <cstdlib>

namespace tickcast::http::internal {

std::pair<std::string, std::string> split_query_arg(std::string_view arg) {
  const auto eq = arg.find('=');
  if (eq == std::string_view::npos) return {std::string(arg), std::string()};
  return {std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
}

std::optional<std::uint64_t> parse_content_length(std::string_view text) {
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(copy.c_str(), &end, 10);
  if (errno || end == copy.c_str() || *end) return std::nullopt;
  return n;
}

}  // namespace tickcast::http::internal
