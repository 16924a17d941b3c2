#pragma once
// Small helpers shared by the transport and the REST routes (not installed).

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tickcast/core/error.h"
#include "tickcast/core/protocol.h"

namespace tickcast::httplib::detail {

/// set_error fills `response` with an error's status and the body every HTTP error carries
/// (as tickcast::http::json_error): the contract's error event, with request_id when set.
inline void set_error(::httplib::Response& response, ErrorCode code, std::string message,
                      std::string_view request_id = {}) {
  response.status = http_status(code);
  response.set_content(encode_error(Error{code, std::move(message)}, request_id),
                       "application/json");
}

/// host_missing answers 400 to an HTTP/1.1 request without a Host header (RFC 9112 3.2)
/// and tells the route to stop there.
inline bool host_missing(const ::httplib::Request& request, ::httplib::Response& response) {
  if (request.version != "HTTP/1.1" || request.has_header("Host")) return false;
  set_error(response, ErrorCode::bad_request, "an HTTP/1.1 request needs a Host header");
  return true;
}

/// regex_escape quotes a literal path for cpp-httplib's std::regex route patterns.
inline std::string regex_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::string_view(R"(\^$.|?*+()[]{})").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace tickcast::httplib::detail
