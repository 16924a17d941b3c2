#pragma once
// Transport-level failures as values (a code plus a reason), the one place that maps them to
// each protocol's terms (an HTTP status, a WebSocket close code), and the named close codes.
// What a failure looks like on the wire (its body, its error event) is the app's choice: a
// FailureEncoder (Sink::encode_failure, http::ServerOptions::failure_body).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tickcast {

/// FailureCode says why a transport refused a client, a request or a message.
enum class FailureCode {
  bad_request,         ///< malformed input (HTTP framing, a query, Last-Event-ID)
  bad_room,            ///< not a room key (valid_room_name)
  not_found,           ///< no such path or endpoint
  method_not_allowed,  ///< the path exists for other methods
  too_large,           ///< a message or body over the configured limit
  rate_limited,        ///< too many messages (or rooms) from one client or address
  unauthorized,        ///< the client may not (a foreign Origin, a missing token)
  overloaded,          ///< over a client or room limit, or shutting down: try again later
  slow,                ///< the client did not drain its queue: closed
};

/// Failure is a transport-level failure: what went wrong and a human-readable reason.
struct Failure {
  FailureCode code = FailureCode::bad_request;
  std::string reason;
  /// http_status, when not 0, is the HTTP status instead of the code's own (401 for a
  /// missing or invalid token, whose code is `unauthorized` like the 403 of a wrong room).
  int http_status = 0;
};

/// to_string returns the code's wire spelling, e.g. "too_large".
std::string_view to_string(FailureCode code);

/// http_status maps a code to its HTTP status (400, 404, 413, 429, 403, 503, ...).
int http_status(FailureCode code);

/// CloseCode names the WebSocket close codes tickcast sends (RFC 6455 7.4.1).
enum class CloseCode : std::uint16_t {
  normal = 1000,            ///< done
  going_away = 1001,        ///< the server is shutting down
  unsupported_data = 1003,  ///< a binary frame where only text is accepted
  policy_violation = 1008,  ///< a refused join, a client too slow
  message_too_big = 1009,   ///< a message over the configured limit
  try_again_later = 1013,   ///< overloaded
  token_expired = 4401,     ///< the client's room token expired (it may come back with a new one)
};

/// close_code returns the code that ends a WebSocket for `code`, or nullopt for failures
/// that are answered in-band (an error message) and leave the connection open.
std::optional<CloseCode> close_code(FailureCode code);

/// FailureEncoder renders a failure in the app's wire shape. `request` is the offending
/// input when there is one (a command), so that the app may echo what it needs of it (a
/// request id); empty otherwise. Threads: called from transport threads; must not block.
using FailureEncoder = std::function<std::string(const Failure&, std::string_view request)>;

/// generic_failure_body is the shape used when the app sets no encoder:
/// {"error":"<reason>","code":"<code>"}.
std::string generic_failure_body(const Failure& failure);

/// encode_with renders `failure` with `encoder`, or generic_failure_body when it is empty.
std::string encode_with(const FailureEncoder& encoder, const Failure& failure,
                        std::string_view request = {});

}  // namespace tickcast
