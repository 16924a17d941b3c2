#include "tickcast/core/error.h"

namespace tickcast {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::already_running:
      return "already_running";
    case ErrorCode::already_stopped:
      return "already_stopped";
    case ErrorCode::bad_request:
      return "bad_request";
    case ErrorCode::unknown_command:
      return "unknown_command";
    case ErrorCode::bad_room:
      return "bad_room";
    case ErrorCode::too_large:
      return "too_large";
    case ErrorCode::rate_limited:
      return "rate_limited";
    case ErrorCode::unauthorized:
      return "unauthorized";
    case ErrorCode::overloaded:
      return "overloaded";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::method_not_allowed:
      return "method_not_allowed";
  }
  return "bad_request";
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::already_running:
    case ErrorCode::already_stopped:
      return 409;
    case ErrorCode::bad_request:
    case ErrorCode::unknown_command:
      return 400;
    case ErrorCode::bad_room:
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::too_large:
      return 413;
    case ErrorCode::rate_limited:
      return 429;
    case ErrorCode::unauthorized:
      return 403;
    case ErrorCode::overloaded:
      return 503;
    case ErrorCode::method_not_allowed:
      return 405;
  }
  return 400;
}

ErrorCode to_error_code(FailureCode code) {
  switch (code) {
    case FailureCode::bad_request:
      return ErrorCode::bad_request;
    case FailureCode::bad_room:
      return ErrorCode::bad_room;
    case FailureCode::not_found:
      return ErrorCode::not_found;
    case FailureCode::method_not_allowed:
      return ErrorCode::method_not_allowed;
    case FailureCode::too_large:
      return ErrorCode::too_large;
    case FailureCode::rate_limited:
      return ErrorCode::rate_limited;
    case FailureCode::unauthorized:
      return ErrorCode::unauthorized;
    case FailureCode::overloaded:
    case FailureCode::slow:
      return ErrorCode::overloaded;
  }
  return ErrorCode::bad_request;
}

std::optional<FailureCode> to_failure_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_request:
      return FailureCode::bad_request;
    case ErrorCode::bad_room:
      return FailureCode::bad_room;
    case ErrorCode::not_found:
      return FailureCode::not_found;
    case ErrorCode::method_not_allowed:
      return FailureCode::method_not_allowed;
    case ErrorCode::too_large:
      return FailureCode::too_large;
    case ErrorCode::rate_limited:
      return FailureCode::rate_limited;
    case ErrorCode::unauthorized:
      return FailureCode::unauthorized;
    case ErrorCode::overloaded:
      return FailureCode::overloaded;
    default:
      return std::nullopt;
  }
}

}  // namespace tickcast
