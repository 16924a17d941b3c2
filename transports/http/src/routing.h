#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tickcast::http::internal {

/// split_path splits a path after its leading '/' at every '/', keeping empty segments:
/// "/a/b" is {"a", "b"}, "/a//b/" is {"a", "", "b", ""}, "/" is {""}. Empty segments are
/// kept so that `/sse/rooms/` reaches its route with an empty (bad) room instead of
/// matching a shorter route or none.
std::vector<std::string> split_path(std::string_view path);

/// match_route matches path segments against pattern segments, where `{name}` matches any
/// one segment, empty included (the handler validates it), and records it in `params`.
bool match_route(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params);

/// match_route_folded matches a path that lacks one `{name}` segment of `pattern`, as
/// libwebsockets leaves `/api/rooms//commands` (it folds "//" into "/"): the missing
/// segment is recorded as "" in `params`, for the handler to refuse.
bool match_route_folded(const std::vector<std::string>& pattern,
                        const std::vector<std::string>& path,
                        std::map<std::string, std::string>& params);

}  // namespace tickcast::http::internal
