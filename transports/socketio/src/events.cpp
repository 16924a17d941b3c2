#include "events.h"

#include <charconv>

#include "tickcast/transport/room_key.h"

namespace tickcast::socketio {

namespace {

EventRequest refuse(FailureCode code, std::string reason, std::string request = {}) {
  EventRequest out;
  out.kind = EventRequest::Kind::error;
  out.error = Failure{code, std::move(reason)};
  out.request = std::move(request);
  return out;
}

std::string dump(const nlohmann::json& value) {
  // Replacement instead of throwing: a client's broken UTF-8 is not our error.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool url_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

EventRequest map_event(const nlohmann::json& args) {
  if (!args.is_array() || args.empty() || !args.front().is_string()) {
    return refuse(FailureCode::bad_request, "an event needs a name");
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
      return refuse(FailureCode::bad_request, "join takes a room name: emit(\"join\", \"focus\")");
    }
    if (!valid_room_name(room)) return refuse(FailureCode::bad_room, std::string(kBadRoomMessage));
    EventRequest out;
    out.kind = EventRequest::Kind::join;
    out.room = std::move(room);
    return out;
  }

  nlohmann::json command;
  if (arg && arg->is_object()) {
    command = *arg;
  } else if (name == "command") {
    return refuse(FailureCode::bad_request, "command takes a command object");
  } else if (arg && !arg->is_string() && !arg->is_null()) {
    // A string is the demo's "please start the timer": a note, not a parameter.
    return refuse(FailureCode::bad_request,
                  "the argument of " + name + " is a note (a string) or a command object");
  } else {
    command = nlohmann::json::object();
  }
  const std::string request = dump(command);
  if (name != "command") {
    const auto type = command.find("type");
    if (type != command.end() && !(type->is_string() && type->get<std::string>() == name)) {
      return refuse(FailureCode::bad_request, "the command's type differs from the event name",
                    request);
    }
    command["type"] = name;
  }
  EventRequest out;
  out.kind = EventRequest::Kind::command;
  out.command = dump(command);
  out.request = request;
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
    if (!url_safe(c)) return false;
  }
  return true;
}

std::string private_id(std::string_view sid, std::string_view secret) {
  std::string out(sid);
  out += secret;
  return out;
}

std::optional<std::string> recovered_socket_id(std::string_view pid) {
  if (pid.size() != 2 * kIdLength || !valid_private_id(pid)) return std::nullopt;
  return std::string(pid.substr(0, kIdLength));
}

}  // namespace tickcast::socketio
