#include "format.h"

#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

namespace tickcast::client {

namespace {

std::optional<nlohmann::json> parse_object(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  // A floating-point number out of an integer's range is undefined behaviour to convert
  // (found by the client_format fuzzer: "seq":3.3e27).
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!it->is_number_integer()) return fallback;
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

bool is_error_reply(std::string_view json_text, std::string* code, std::string* request_id) {
  auto j = parse_object(json_text);
  if (!j) return false;
  if (get_or<bool>(*j, "success", true)) return false;
  if (code != nullptr) *code = get_or<std::string>(*j, "code", "error");
  if (request_id != nullptr) *request_id = get_or<std::string>(*j, "request_id", "");
  return true;
}

std::string event_reason(std::string_view json_text) {
  auto j = parse_object(json_text);
  return j ? get_or<std::string>(*j, "reason", "") : std::string{};
}

std::string format_event(std::string_view json_text) {
  auto j = parse_object(json_text);
  if (!j) return std::string(json_text);
  if (!get_or<bool>(*j, "success", true)) {
    std::string line = "error " + get_or<std::string>(*j, "code", "error") + ": " +
                       get_or<std::string>(*j, "error", get_or<std::string>(*j, "message", ""));
    return line;
  }
  std::ostringstream out;
  out << get_or<std::string>(*j, "room", "?");
  if (j->contains("seq")) out << " #" << get_or<std::uint64_t>(*j, "seq", 0);
  nlohmann::json state = j->value("state", nlohmann::json::object());
  if (!state.is_object()) state = nlohmann::json::object();
  out << "  " << get_or<std::string>(state, "phase", "?");
  out << "  " << get_or<std::string>(*j, "data", "--:--:--");
  out << "  " << (get_or<bool>(state, "running", false) ? "running" : "stopped");
  const auto reason = get_or<std::string>(*j, "reason", "");
  if (!reason.empty()) out << "  (" << reason << ")";
  return out.str();
}

ParsedCommand parse_command(std::string_view line, std::string_view request_id) {
  ParsedCommand out;
  const std::string text = trim(line);
  if (text.empty()) {
    out.error = "empty line";
    return out;
  }
  if (text.front() == '{') {
    if (!parse_object(text)) {
      out.error = "not a JSON object";
      return out;
    }
    out.type = "raw";
    out.json = text;  // sent as typed, so bad input can be tried on purpose
    return out;
  }
  std::istringstream words(text);
  std::string type;
  words >> type;
  nlohmann::ordered_json cmd;
  if (type == "start" || type == "stop" || type == "reset" || type == "skip") {
    cmd["type"] = type;
  } else if (type == "configure") {
    cmd["type"] = type;
    std::string pair;
    while (words >> pair) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        out.error = "configure takes key=value pairs, e.g. configure work_ms=60000";
        return out;
      }
      const std::string key = pair.substr(0, eq);
      const std::string value = pair.substr(eq + 1);
      auto number = nlohmann::json::parse(value, nullptr, false);
      if (number.is_discarded() || !number.is_number_integer()) {
        out.error = "configure value of " + key + " must be an integer";
        return out;
      }
      cmd[key] = number;
    }
  } else {
    out.error = "unknown command '" + type + "' (start, stop, reset, skip, configure k=v ...)";
    return out;
  }
  std::string extra;
  if (type != "configure" && (words >> extra)) {
    out.error = type + " takes no arguments";
    return out;
  }
  if (!request_id.empty()) cmd["request_id"] = request_id;
  out.type = type;
  // A typed key may be any bytes; an invalid UTF-8 one made dump() throw, ending the client.
  out.json = cmd.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

}  // namespace tickcast::client
