#include "last_event_id.h"

#include <charconv>

namespace tickcast::sse {

std::optional<std::uint64_t> parse_last_event_id(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string_view resume_id(std::string_view header,
                           const std::map<std::string, std::string>& query) {
  if (!header.empty()) return header;
  if (auto it = query.find("last_event_id"); it != query.end()) return it->second;
  return {};
}

std::optional<std::uint64_t> resume_position(std::string_view header,
                                             const std::map<std::string, std::string>& query) {
  const std::string_view id = resume_id(header, query);
  if (id.empty()) return std::nullopt;
  return parse_last_event_id(id);
}

}  // namespace tickcast::sse
