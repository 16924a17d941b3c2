#include "routing.h"

namespace tickcast::http::internal {

std::vector<std::string> split_path(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string> segments;
  for (;;) {
    const std::size_t end = path.find('/');
    segments.emplace_back(path.substr(0, end));
    if (end == std::string_view::npos) return segments;
    path.remove_prefix(end + 1);
  }
}

bool match_route(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params) {
  if (pattern.size() != path.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      params[p.substr(1, p.size() - 2)] = path[i];
    } else if (p != path[i]) {
      return false;
    }
  }
  return true;
}

bool match_route_folded(const std::vector<std::string>& pattern,
                        const std::vector<std::string>& path,
                        std::map<std::string, std::string>& params) {
  if (pattern.size() != path.size() + 1) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() <= 2 || p.front() != '{' || p.back() != '}') continue;
    std::vector<std::string> unfolded = path;
    unfolded.insert(unfolded.begin() + static_cast<std::ptrdiff_t>(i), std::string());
    params.clear();
    if (match_route(pattern, unfolded, params)) return true;
  }
  return false;
}

}  // namespace tickcast::http::internal
