#pragma once
// Small helpers shared by the transport and the REST routes (not installed).

#include <httplib.h>

#include <string>
#include <string_view>

#include "tickcast/transport/failure.h"

namespace tickcast::httplib::detail {

/// set_error fills `response` with a failure's status and the app's body for it
/// (HttplibOptions::failure_body, as tickcast::http does); overloaded carries Retry-After.
inline void set_error(::httplib::Response& response, const FailureEncoder& encoder,
                      FailureCode code, std::string reason) {
  response.status = http_status(code);
  response.set_content(encode_with(encoder, Failure{code, std::move(reason)}), "application/json");
  if (code == FailureCode::overloaded) response.set_header("Retry-After", "5");
}

/// host_missing answers 400 to an HTTP/1.1 request without a Host header (RFC 9112 3.2)
/// and tells the route to stop there.
inline bool host_missing(const ::httplib::Request& request, ::httplib::Response& response,
                         const FailureEncoder& encoder) {
  if (request.version != "HTTP/1.1" || request.has_header("Host")) return false;
  set_error(response, encoder, FailureCode::bad_request, "an HTTP/1.1 request needs a Host header");
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
