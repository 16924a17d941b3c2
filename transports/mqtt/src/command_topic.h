#pragma once
// The MQTT command path's reading of a message: the room in its topic and where a reply
// may go. Apart from the transport so the fuzzer runs the same code.

#include <optional>
#include <string>
#include <string_view>

namespace tickcast::mqtt {

/// command_room returns the room of a topic `{rooms_prefix}{room}/commands` (not validated:
/// the hub answers a bad room), or nullopt for any other topic.
std::optional<std::string_view> command_room(std::string_view topic, std::string_view rooms_prefix);
/// events_room does the same for `{rooms_prefix}{room}/events`.
std::optional<std::string_view> events_room(std::string_view topic, std::string_view rooms_prefix);

/// reply_allowed refuses reply topics that would put an error in front of a whole room
/// (its events or state) or loop back into the commands we read.
bool reply_allowed(std::string_view topic, std::string_view rooms_prefix);

/// valid_reply_topic tells whether a reply may be published to `topic`: a topic name
/// libmosquitto publishes to (1 to 65535 bytes of UTF-8 without control characters or
/// wildcards) that reply_allowed lets through.
bool valid_reply_topic(std::string_view topic, std::string_view rooms_prefix);

/// ReplyTo is the `reply_to` field of a command's JSON.
struct ReplyTo {
  bool present = false;    ///< the payload is an object with a non-null `reply_to`
  bool valid = false;      ///< it names a valid reply topic (then in `topic`)
  std::string topic;       ///< the reply topic when valid
  std::string request_id;  ///< the command's string request_id (at most 128 bytes), for
                           ///< the error when not valid
};

/// read_reply_to reads `reply_to` from a command payload (at most MqttOptions::max_command_bytes).
ReplyTo read_reply_to(std::string_view payload, std::string_view rooms_prefix);

}  // namespace tickcast::mqtt
