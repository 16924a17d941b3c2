#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tickcast::http::internal {

/// split_path splits "/a/b/" into {"a", "b"}; empty segments are dropped.
std::vector<std::string> split_path(std::string_view path);

/// match_route matches path segments against pattern segments, where `{name}` matches one
/// segment and records it in `params`.
bool match_route(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params);

}  // namespace tickcast::http::internal
