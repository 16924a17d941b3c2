#include "tickcast/transport/failure.h"

namespace tickcast {

std::string_view to_string(FailureCode code) {
  switch (code) {
    case FailureCode::bad_request:
      return "bad_request";
    case FailureCode::bad_room:
      return "bad_room";
    case FailureCode::not_found:
      return "not_found";
    case FailureCode::method_not_allowed:
      return "method_not_allowed";
    case FailureCode::too_large:
      return "too_large";
    case FailureCode::rate_limited:
      return "rate_limited";
    case FailureCode::unauthorized:
      return "unauthorized";
    case FailureCode::overloaded:
      return "overloaded";
    case FailureCode::slow:
      return "slow";
  }
  return "bad_request";
}

int http_status(FailureCode code) {
  switch (code) {
    case FailureCode::bad_request:
      return 400;
    case FailureCode::bad_room:
    case FailureCode::not_found:
      return 404;
    case FailureCode::method_not_allowed:
      return 405;
    case FailureCode::too_large:
      return 413;
    case FailureCode::rate_limited:
      return 429;
    case FailureCode::unauthorized:
      return 403;
    case FailureCode::overloaded:
    case FailureCode::slow:
      return 503;
  }
  return 400;
}

std::optional<CloseCode> close_code(FailureCode code) {
  switch (code) {
    case FailureCode::too_large:
      return CloseCode::message_too_big;
    case FailureCode::unauthorized:
    case FailureCode::bad_room:
    case FailureCode::slow:
      return CloseCode::policy_violation;
    case FailureCode::overloaded:
      return CloseCode::try_again_later;
    default:
      return std::nullopt;
  }
}

namespace {

// JSON string escaping for the generic body (the reason is ours, but may quote input).
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

std::string generic_failure_body(const Failure& failure) {
  std::string out = "{\"error\":";
  append_json_string(out, failure.reason);
  out += ",\"code\":";
  append_json_string(out, to_string(failure.code));
  out += '}';
  return out;
}

std::string encode_with(const FailureEncoder& encoder, const Failure& failure,
                        std::string_view request) {
  return encoder ? encoder(failure, request) : generic_failure_body(failure);
}

}  // namespace tickcast
