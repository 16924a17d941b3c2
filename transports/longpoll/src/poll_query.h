#pragma once
// Reads a poll's query parameters (`since`, `timeout_ms`), apart from the transport so the
// fuzzer runs the same code.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tickcast/transport/failure.h"

namespace tickcast::longpoll {

/// PollQuery is what one poll asks for.
struct PollQuery {
  std::optional<std::uint64_t> since;  ///< answer after this seq; none: a snapshot at once
  std::chrono::milliseconds timeout{0};
  std::optional<Failure> error;  ///< a bad_request when a parameter is malformed
};

/// parse_unsigned reads a non-negative decimal integer of at most 19 digits, nothing else.
std::optional<std::uint64_t> parse_unsigned(std::string_view text);

/// read_poll_query reads `since` and `timeout_ms` (default `default_timeout`, at most
/// `max_timeout`) from a request's query.
PollQuery read_poll_query(const std::map<std::string, std::string>& query,
                          std::chrono::milliseconds default_timeout,
                          std::chrono::milliseconds max_timeout);

}  // namespace tickcast::longpoll
