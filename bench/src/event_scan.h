#pragma once
// Reads the few fields the bench needs out of an event's JSON without a full parse: the
// client loop handles up to a hundred thousand events a second, and parsing each with a
// DOM would add its own latency to what is measured.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tickcast::bench {

/// EventFields are the fields of one event that the bench uses.
struct EventFields {
  std::uint64_t seq = 0;
  std::int64_t server_time_us = 0;
  bool tick = false;      ///< reason is "tick"
  bool snapshot = false;  ///< reason is "snapshot"
  std::optional<bool> running;
};

/// scan_event reads an event object; nullopt for anything without seq and server_time_us
/// (error replies, command answers).
std::optional<EventFields> scan_event(std::string_view json);

/// PollBody is a long-poll response: its events (each an object's text) and `next`.
struct PollBody {
  std::vector<std::string_view> events;
  std::optional<std::uint64_t> next;
};

/// scan_poll_body splits `{"events":[...],"next":N}` into event objects; nullopt when the
/// body is not of that shape. The views point into `body`.
std::optional<PollBody> scan_poll_body(std::string_view body);

}  // namespace tickcast::bench
