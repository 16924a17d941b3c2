// Finds a request's room token and checks it (tickcast::auth does the JWT part).
#include <string>

#include "tickcast/http/server.h"

namespace tickcast::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semicolon = header.find(';');
    std::string_view pair = trim(header.substr(0, semicolon));
    header =
        semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return {};
}

}  // namespace

std::string token_of(const Request& request) {
  const std::string authorization = request.header("authorization");
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() > kBearer.size()) {
    std::string scheme = authorization.substr(0, kBearer.size());
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == kBearer)
      return std::string(trim(std::string_view(authorization).substr(kBearer.size())));
  }
  if (auto it = request.query.find("token"); it != request.query.end() && !it->second.empty()) {
    return it->second;
  }
  return cookie_value(request.header("cookie"), "tickcast_token");
}

Access authorize(const ServerOptions& options, const Request& request, std::string_view room,
                 auth::Permission permission) {
  Access access;
  if (!options.auth) return access;
  const std::string token = token_of(request);
  auto result = options.auth->check(token, room, permission, auth::Clock::now());
  if (auto* grant = std::get_if<auth::Grant>(&result)) {
    access.grant = std::move(*grant);
  } else {
    const auto& refusal = std::get<auth::Refusal>(result);
    access.refusal = Failure{FailureCode::unauthorized, refusal.message, refusal.status};
  }
  return access;
}

}  // namespace tickcast::http
