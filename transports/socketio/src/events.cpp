#include "events.h"

#include <charconv>

#include "tickcast/core/protocol.h"

namespace tickcast::socketio {

namespace {

bool is_command_name(std::string_view name) {
  return name == "start" || name == "stop" || name == "reset" || name == "skip" ||
         name == "configure";
}

EventRequest refuse(ErrorCode code, std::string message, std::string request_id = {}) {
  EventRequest out;
  out.kind = EventRequest::Kind::error;
  out.error = Error{code, std::move(message)};
  out.request_id = std::move(request_id);
  return out;
}

std::string request_id_of(const nlohmann::json& object) {
  const auto id = object.find("request_id");
  if (id == object.end()) return {};
  if (id->is_string()) return id->get<std::string>().substr(0, 128);
  if (id->is_number_integer()) return id->dump();
  return {};
}

}  // namespace

EventRequest map_event(const nlohmann::json& args) {
  if (!args.is_array() || args.empty() || !args.front().is_string()) {
    return refuse(ErrorCode::bad_request, "an event needs a name");
  }
  const std::string& name = args.front().get_ref<const std::string&>();
  const nlohmann::json* arg = args.size() > 1 ? &args[1] : nullptr;

  if (name == "join") {
    std::string room;
    if (arg && arg->is_string()) {
      room = arg->get<std::string>();
    } else if (arg && arg->is_object() && arg->contains("room") && (*arg)["room"].is_string()) {
      room = (*arg)["room"].get<std::string>();
    } else {
      return refuse(ErrorCode::bad_request, "join takes a room name: emit(\"join\", \"focus\")");
    }
    if (!valid_room_name(room)) return refuse(ErrorCode::bad_room, std::string(kBadRoomMessage));
    EventRequest out;
    out.kind = EventRequest::Kind::join;
    out.room = std::move(room);
    return out;
  }

  const bool named_command = is_command_name(name);
  if (!named_command && name != "command") {
    return refuse(ErrorCode::unknown_command,
                  "unknown event; emit start, stop, reset, skip, configure, command or join");
  }
  nlohmann::json command;
  if (arg && arg->is_object()) {
    command = *arg;
  } else if (name == "command") {
    return refuse(ErrorCode::bad_request, "command takes the contract's command object");
  } else if (arg && !arg->is_string() && !arg->is_null()) {
    // A string is the demo's "please start the timer": a note, not a parameter.
    return refuse(ErrorCode::bad_request,
                  "the argument of " + name + " is a note (a string) or a command object");
  } else {
    command = nlohmann::json::object();
  }
  const std::string request_id = request_id_of(command);
  if (named_command) {
    const auto type = command.find("type");
    if (type != command.end() && !(type->is_string() && type->get<std::string>() == name)) {
      return refuse(ErrorCode::bad_request, "the command's type differs from the event name",
                    request_id);
    }
    command["type"] = name;
  }
  EventRequest out;
  out.kind = EventRequest::Kind::command;
  out.command = command.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.request_id = request_id;
  return out;
}

std::optional<std::string> room_of_namespace(std::string_view nsp, std::string_view default_room) {
  if (nsp == "/") return std::string(default_room);
  if (nsp.size() < 2 || nsp.front() != '/') return std::nullopt;
  std::string_view room = nsp.substr(1);
  if (!valid_room_name(room)) return std::nullopt;
  return std::string(room);
}

std::string format_offset(std::string_view room, std::uint64_t seq) {
  std::string out(room);
  out += ':';
  out += std::to_string(seq);
  return out;
}

std::optional<Offset> parse_offset(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Offset out;
  out.room = std::string(text.substr(0, colon));
  const std::string_view digits = text.substr(colon + 1);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out.seq);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      !valid_room_name(out.room)) {
    return std::nullopt;
  }
  return out;
}

bool valid_private_id(std::string_view pid) {
  if (pid.empty() || pid.size() > 64) return false;
  for (char c : pid) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tickcast::socketio
