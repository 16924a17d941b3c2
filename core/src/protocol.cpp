#include "tickcast/core/protocol.h"

#include <nlohmann/json.hpp>

namespace tickcast {

using ordered_json = nlohmann::ordered_json;

namespace {

constexpr std::size_t kMaxRequestIdBytes = 128;

Error bad(std::string message) { return Error{ErrorCode::bad_request, std::move(message)}; }

std::optional<CommandType> command_type(std::string_view name) {
  if (name == "start") return CommandType::start;
  if (name == "stop") return CommandType::stop;
  if (name == "reset") return CommandType::reset;
  if (name == "skip") return CommandType::skip;
  if (name == "configure") return CommandType::configure;
  return std::nullopt;
}

// Reads an optional integer field; an error when present with any other JSON type.
std::optional<Error> read_integer(const nlohmann::json& object, const char* key,
                                  std::optional<long long>& out) {
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number_integer()) return bad(std::string(key) + " must be an integer");
  out = it->get<long long>();
  return std::nullopt;
}

std::optional<Error> read_configure(const nlohmann::json& object, ConfigureRequest& out) {
  std::optional<long long> work, short_break, long_break, cycles;
  for (auto [key, slot] : {std::pair{"work_ms", &work}, std::pair{"short_break_ms", &short_break},
                           std::pair{"long_break_ms", &long_break}, std::pair{"cycles", &cycles}}) {
    if (auto error = read_integer(object, key, *slot)) return error;
  }
  if (!work && !short_break && !long_break && !cycles) {
    return bad("configure needs work_ms, short_break_ms, long_break_ms or cycles");
  }
  auto phase = [](const std::optional<long long>& v, std::optional<Millis>& slot,
                  const char* key) -> std::optional<Error> {
    if (!v) return std::nullopt;
    if (*v < kMinPhase.count() || *v > kMaxPhase.count()) {
      return bad(std::string(key) + " must be between 100 and 86400000");
    }
    slot = Millis(*v);
    return std::nullopt;
  };
  if (auto e = phase(work, out.work, "work_ms")) return e;
  if (auto e = phase(short_break, out.short_break, "short_break_ms")) return e;
  if (auto e = phase(long_break, out.long_break, "long_break_ms")) return e;
  if (cycles) {
    if (*cycles < 1 || *cycles > kMaxCycles) return bad("cycles must be between 1 and 100");
    out.cycles = static_cast<int>(*cycles);
  }
  return std::nullopt;
}

}  // namespace

DecodedCommand decode_command(std::string_view text) {
  DecodedCommand result;
  if (text.size() > kMaxCommandBytes) {
    result.error =
        Error{ErrorCode::too_large, "command over " + std::to_string(kMaxCommandBytes) + " bytes"};
    return result;
  }
  nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    result.error = bad("command is not valid JSON");
    return result;
  }
  if (!object.is_object()) {
    result.error = bad("command must be a JSON object");
    return result;
  }
  if (const auto id = object.find("request_id"); id != object.end() && !id->is_null()) {
    if (id->is_string() && id->get_ref<const std::string&>().size() <= kMaxRequestIdBytes) {
      result.request_id = id->get<std::string>();
    } else if (id->is_number_integer()) {
      result.request_id = id->dump();
    } else {
      result.error = bad("request_id must be a string of at most 128 bytes");
      return result;
    }
  }
  const auto type = object.find("type");
  if (type == object.end() || !type->is_string()) {
    result.error = bad("command needs a string \"type\"");
    return result;
  }
  const auto parsed = command_type(type->get_ref<const std::string&>());
  if (!parsed) {
    result.error = Error{ErrorCode::unknown_command,
                         "unknown command type; use start, stop, reset, skip or configure"};
    return result;
  }
  Command command;
  command.type = *parsed;
  command.request_id = result.request_id;
  if (command.type == CommandType::configure) {
    if (auto error = read_configure(object, command.configure)) {
      result.error = std::move(error);
      return result;
    }
  }
  result.command = std::move(command);
  return result;
}

namespace {
ordered_json state_json(const TimerState& state) {
  return ordered_json{{"phase", to_string(state.phase)},
                      {"running", state.running},
                      {"remaining_ms", state.remaining.count()},
                      {"duration_ms", state.duration.count()},
                      {"completed_work", state.completed_work}};
}
}  // namespace

std::string encode_event(std::string_view room, std::uint64_t seq, const TimerEvent& event,
                         std::int64_t server_time_us) {
  ordered_json j{{"event", "timer"},
                 {"success", true},
                 {"data", format_hms(event.state.remaining)},
                 {"error", nullptr},
                 {"room", room},
                 {"seq", seq},
                 {"reason", to_string(event.reason)},
                 {"state", state_json(event.state)},
                 {"server_time_us", server_time_us}};
  return j.dump();
}

std::string encode_error(const Error& error, std::string_view request_id) {
  ordered_json j{{"event", "timer"},
                 {"success", false},
                 {"data", nullptr},
                 {"error", error.message},
                 {"code", to_string(error.code)}};
  if (!request_id.empty()) j["request_id"] = request_id;
  // Replacement instead of throwing: error text may echo a client's broken UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_failure(const Failure& failure, std::string_view request) {
  const std::string request_id =
      request.empty() ? std::string() : decode_command(request).request_id;
  return encode_error(Error{to_error_code(failure.code), failure.reason}, request_id);
}

std::string encode_state(const TimerState& state) { return state_json(state).dump(); }

}  // namespace tickcast
