#pragma once
// Rooms, to the transport layer, are subscription keys: a name in a URL path or a topic.

#include <string_view>

namespace tickcast {

/// valid_room_name tells whether `room` matches [A-Za-z0-9_-]{1,64}, the key syntax every
/// transport accepts (safe in a URL path segment and an MQTT topic level).
bool valid_room_name(std::string_view room);

/// kBadRoomMessage is the reason of every bad_room failure.
inline constexpr std::string_view kBadRoomMessage = "room names match [A-Za-z0-9_-]{1,64}";

}  // namespace tickcast
