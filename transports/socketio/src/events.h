#pragma once
// How Socket.IO events map onto tickcast rooms and commands (the Pomodoro app's side of
// the transport): event names to the contract's command JSON, `join`, namespaces to
// rooms, and the recovery offset.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tickcast/core/error.h"

namespace tickcast::socketio {

/// kTimerEvent is the name of the events that carry the contract's event objects.
inline constexpr std::string_view kTimerEvent = "timer";

/// EventRequest is what one EVENT asks for.
struct EventRequest {
  enum class Kind { command, join, error } kind = Kind::error;
  std::string command;         ///< command: the contract's command JSON for the Hub
  std::string room;            ///< join: the room to move to
  std::optional<Error> error;  ///< error: why the event is refused
  std::string request_id;      ///< echoed in errors when the argument carried one
};

/// map_event reads an EVENT's arguments (["start"], ["start", "please start"],
/// ["configure", {"work_ms": 60000}], ["command", {"type": "skip"}], ["join", "focus"]).
EventRequest map_event(const nlohmann::json& args);

/// room_of_namespace maps "/" to `default_room` and "/{room}" to room; nullopt when the
/// namespace names no valid room.
std::optional<std::string> room_of_namespace(std::string_view nsp, std::string_view default_room);

/// Offset is a recovery position: the room a socket was in and the last seq it got.
struct Offset {
  std::string room;
  std::uint64_t seq = 0;
};

/// format_offset renders "room:seq", the last argument of every `timer` event.
std::string format_offset(std::string_view room, std::uint64_t seq);
/// parse_offset reads "room:seq"; nullopt when malformed.
std::optional<Offset> parse_offset(std::string_view text);

/// valid_private_id tells whether a client's `pid` is one we could have made.
bool valid_private_id(std::string_view pid);

}  // namespace tickcast::socketio
