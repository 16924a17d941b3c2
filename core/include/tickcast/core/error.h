#pragma once
// One error type shared by every transport, and the one place that maps it to each
// protocol's own terms.

#include <optional>
#include <string>
#include <string_view>

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

/// websocket_close_code returns the close code for codes that end a WebSocket
/// connection (1008 policy, 1009 too large, 1013 overloaded), or nullopt for codes that
/// are answered with an error event and leave the connection open.
std::optional<int> websocket_close_code(ErrorCode code);

}  // namespace tickcast
