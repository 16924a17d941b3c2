#pragma once
// The Pomodoro app's errors: the contract's error codes (the transport layer's failures plus
// the app's own), and where they meet the transport layer's FailureCode.

#include <optional>
#include <string>
#include <string_view>

#include "tickcast/transport/failure.h"

namespace tickcast {

/// ErrorCode is the machine-readable `code` of an error reply (see the contract).
enum class ErrorCode {
  already_running,
  already_stopped,
  bad_request,
  unknown_command,
  bad_room,
  too_large,
  rate_limited,
  unauthorized,
  overloaded,
  not_found,
  method_not_allowed,
};

/// Error is a code plus a human-readable message.
struct Error {
  ErrorCode code;
  std::string message;
  /// http_status, when not 0, is the HTTP status instead of the code's own (401 for a
  /// missing or invalid token, whose code is `unauthorized` like the 403 of a wrong room).
  int http_status = 0;
};

/// to_string returns the contract's spelling of a code, e.g. "already_running".
std::string_view to_string(ErrorCode code);

/// http_status maps a code to its HTTP status (409 for state conflicts, 400, 404, ...).
int http_status(ErrorCode code);

// WebSocket close codes are the transport layer's: close_code(FailureCode), CloseCode.

/// to_error_code returns the contract's code for a transport-level failure (slow: overloaded).
ErrorCode to_error_code(FailureCode code);

/// to_failure_code returns the transport-level code of an app error, or nullopt for the
/// app's own codes (already_running, ...).
std::optional<FailureCode> to_failure_code(ErrorCode code);

}  // namespace tickcast
