#pragma once
// Turning events into terminal lines, and typed lines into commands.

#include <optional>
#include <string>
#include <string_view>

namespace tickcast::client {

/// format_event renders one server message as a readable line:
/// `focus #42  work  00:24:59  running  (tick)` for an event,
/// `error already_running: Timer already started` for an error reply.
/// Text that is not a JSON object comes back unchanged.
std::string format_event(std::string_view json_text);

/// ParsedCommand is a typed line turned into a command, or why it could not be.
struct ParsedCommand {
  std::optional<std::string> json;  ///< the command to send
  std::string type;                 ///< start, stop, ..., or "raw" for a JSON line
  std::string error;                ///< set when the line is not a command
};

/// parse_command turns `start`, `stop`, `reset`, `skip`, `configure work_ms=60000 ...`
/// or a raw JSON object into a command JSON with `request_id`.
ParsedCommand parse_command(std::string_view line, std::string_view request_id);

/// is_error_reply tells whether a server message is an error reply; fills code.
bool is_error_reply(std::string_view json_text, std::string* code = nullptr,
                    std::string* request_id = nullptr);

/// event_reason returns the `reason` of an event, empty when absent.
std::string event_reason(std::string_view json_text);

}  // namespace tickcast::client
