// URL routing and room names: split_path and match_route against the routes that take a
// room, and valid_room_name, the one gate before a room exists.
#include <algorithm>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "routing.h"
#include "tickcast/core/protocol.h"

namespace {

using namespace tickcast;
using namespace tickcast::http::internal;

// The contract's rule written as the contract writes it, to check the hand-written one.
bool contract_room_name(std::string_view name) {
  static const std::regex pattern("[A-Za-z0-9_-]{1,64}");
  if (name.size() > 64) return false;  // also spares the regex a deep recursion
  return std::regex_match(name.begin(), name.end(), pattern);
}

const std::vector<std::string> kRoomRoutes[] = {
    split_path("/api/rooms/{room}/commands"),
    split_path("/api/rooms/{room}"),
    split_path("/sse/rooms/{room}"),
    split_path("/poll/rooms/{room}"),
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view path = tickcast::fuzz::bytes(data, size);
  const bool valid = valid_room_name(path);
  FUZZ_CHECK(valid == contract_room_name(path));

  // Splitting loses nothing but slashes.
  const std::vector<std::string> segments = split_path(path);
  std::string joined, without_slashes;
  for (const std::string& segment : segments) {
    FUZZ_CHECK(segment.find('/') == std::string::npos);
    joined += segment;
  }
  for (const char c : path) {
    if (c != '/') without_slashes += c;
  }
  FUZZ_CHECK(joined == without_slashes);

  for (const auto& route : kRoomRoutes) {
    std::map<std::string, std::string> params;
    if (!match_route(route, segments, params)) continue;
    // The room is exactly one segment of the path, at the route's {room}.
    FUZZ_CHECK(params.size() == 1 && params.count("room"));
    const auto at = std::find(route.begin(), route.end(), "{room}") - route.begin();
    FUZZ_CHECK(params["room"] == segments[static_cast<std::size_t>(at)]);
  }

  // Round trip: a valid room put in each route's URL comes back as the same room.
  if (valid) {
    for (const auto& route : kRoomRoutes) {
      std::string url;
      for (const std::string& segment : route)
        url += "/" + (segment == "{room}" ? std::string(path) : segment);
      std::map<std::string, std::string> params;
      FUZZ_CHECK(match_route(route, split_path(url), params));
      FUZZ_CHECK(params["room"] == path);
    }
  }
  return 0;
}
