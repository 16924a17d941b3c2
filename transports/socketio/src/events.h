#pragma once
// How Socket.IO events map onto tickcast rooms and commands: an event's name becomes the
// command's `type` (the app, through the Sink, decides which commands exist), `join`
// moves a socket, namespaces name rooms; and the recovery offset and private id.
// Nothing of the timer app: its errors come back through Sink::encode_failure.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tickcast/transport/failure.h"

namespace tickcast::socketio {

/// kTimerEvent is the name of the events that carry the contract's event objects.
inline constexpr std::string_view kTimerEvent = "timer";

/// EventRequest is what one EVENT asks for.
struct EventRequest {
  enum class Kind { command, join, error } kind = Kind::error;
  std::string command;           ///< command: the command JSON for the sink ({"type": name, ...})
  std::string room;              ///< join: the room to move to
  std::optional<Failure> error;  ///< error: why the event is refused
  /// request is the offending input of an error (the event's object argument), handed to
  /// Sink::encode_failure so that the app may echo what it needs of it (a request id).
  std::string request;
};

/// map_event reads an EVENT's arguments: ["join", "focus"] moves the socket; ["command",
/// {...}] is the command object as is; any other ["name"], ["name", "a note"] or
/// ["name", {...}] is the command {"type": "name", ...} (["start"], ["configure",
/// {"work_ms": 60000}]). Unknown names go to the sink, which refuses them in its terms.
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

/// kIdLength is the length of a socket id (Socket.IO's `sid`) and of a private id's secret.
inline constexpr std::size_t kIdLength = 20;

/// valid_private_id tells whether a client's `pid` is one we could have made.
bool valid_private_id(std::string_view pid);

/// private_id is the private id of socket `sid`: the sid and a secret (kIdLength url-safe
/// characters each). A recovered socket gets its id back from it (recovered_socket_id), as
/// Socket.IO's connection state recovery keeps `socket.id`, without a server-side table:
/// recovery works on any node and after a restart, from the room's history.
std::string private_id(std::string_view sid, std::string_view secret);

/// recovered_socket_id returns the socket id a private id was made for; nullopt when `pid`
/// is not one (an older or a foreign one: the socket then gets a new id).
std::optional<std::string> recovered_socket_id(std::string_view pid);

}  // namespace tickcast::socketio
