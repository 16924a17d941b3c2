#pragma once
// The JSON wire protocol of the Pomodoro app: commands in, events and errors out.
// Encoding happens once per event; every transport shares the bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tickcast/core/error.h"
#include "tickcast/core/timer.h"
#include "tickcast/transport/failure.h"
#include "tickcast/transport/room_key.h"

namespace tickcast {

/// kMaxCommandBytes is the largest command accepted on any transport.
inline constexpr std::size_t kMaxCommandBytes = 4096;

// valid_room_name and kBadRoomMessage: tickcast/transport/room_key.h (rooms are the
// transport layer's keys).

/// CommandType is the `type` of a command.
enum class CommandType { start, stop, reset, skip, configure };

/// Command is a decoded, validated command.
struct Command {
  CommandType type = CommandType::start;
  ConfigureRequest configure;  ///< set fields of a `configure`
  std::string request_id;      ///< echoed in replies; empty when absent
};

/// DecodedCommand is either a command or an error; request_id is filled in both cases
/// when the input carried a usable one.
struct DecodedCommand {
  std::optional<Command> command;
  std::optional<Error> error;
  std::string request_id;
};

/// decode_command parses and validates one command. Never throws.
DecodedCommand decode_command(std::string_view json);

/// encode_event renders a room event in the contract's shape.
std::string encode_event(std::string_view room, std::uint64_t seq, const TimerEvent& event,
                         std::int64_t server_time_us);

/// encode_error renders an error reply (`success:false`), with request_id when not empty.
std::string encode_error(const Error& error, std::string_view request_id = {});

/// encode_failure renders a transport-level failure as the contract's error event, with the
/// request_id of `request` (a command) when it has one: the app's FailureEncoder.
std::string encode_failure(const Failure& failure, std::string_view request = {});

/// encode_state renders a TimerState as the contract's `state` object.
std::string encode_state(const TimerState& state);

}  // namespace tickcast
