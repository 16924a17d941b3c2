#pragma once
// Small helpers shared by the transport and the REST routes (not installed).

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tickcast/core/error.h"

namespace tickcast::httplib::detail {

/// error_body is the JSON every HTTP error carries (as tickcast::http::json_error):
/// {"success":false,"error":message,"code":code}.
inline std::string error_body(const Error& error) {
  nlohmann::ordered_json body = {
      {"success", false}, {"error", error.message}, {"code", to_string(error.code)}};
  return body.dump();
}

/// set_error fills `response` with an error's status and body.
inline void set_error(::httplib::Response& response, ErrorCode code, std::string message) {
  const Error error{code, std::move(message)};
  response.status = http_status(code);
  response.set_content(error_body(error), "application/json");
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
