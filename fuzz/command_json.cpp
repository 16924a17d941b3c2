// decode_command: the command JSON every transport accepts (ws frames, REST bodies, MQTT
// payloads). Checks the decoder's promises, not only that it survives.
#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "tickcast/core/protocol.h"

namespace {

using namespace tickcast;

std::string_view type_name(CommandType type) {
  switch (type) {
    case CommandType::start:
      return "start";
    case CommandType::stop:
      return "stop";
    case CommandType::reset:
      return "reset";
    case CommandType::skip:
      return "skip";
    case CommandType::configure:
      return "configure";
  }
  return "";
}

bool in_phase_bounds(const std::optional<Millis>& value) {
  return !value || (*value >= kMinPhase && *value <= kMaxPhase);
}

// The command written back as JSON, the way a client would send it.
std::string reencode(const Command& command) {
  nlohmann::json j{{"type", type_name(command.type)}};
  if (!command.request_id.empty()) j["request_id"] = command.request_id;
  const ConfigureRequest& c = command.configure;
  if (c.work) j["work_ms"] = c.work->count();
  if (c.short_break) j["short_break_ms"] = c.short_break->count();
  if (c.long_break) j["long_break_ms"] = c.long_break->count();
  if (c.cycles) j["cycles"] = *c.cycles;
  return j.dump();
}

bool same(const ConfigureRequest& a, const ConfigureRequest& b) {
  return a.work == b.work && a.short_break == b.short_break && a.long_break == b.long_break &&
         a.cycles == b.cycles;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tickcast::fuzz::bytes(data, size);
  const DecodedCommand decoded = decode_command(text);

  FUZZ_CHECK(decoded.command.has_value() != decoded.error.has_value());
  // A string id is at most 128 bytes; an integer id is its decimal text.
  FUZZ_CHECK(decoded.request_id.size() <= 128);
  if (size > kMaxCommandBytes) {
    FUZZ_CHECK(decoded.error && decoded.error->code == ErrorCode::too_large);
  }

  if (decoded.command) {
    const Command& command = *decoded.command;
    FUZZ_CHECK(command.request_id == decoded.request_id);
    const ConfigureRequest& c = command.configure;
    const bool any = c.work || c.short_break || c.long_break || c.cycles;
    FUZZ_CHECK(any == (command.type == CommandType::configure));
    FUZZ_CHECK(in_phase_bounds(c.work) && in_phase_bounds(c.short_break) &&
               in_phase_bounds(c.long_break));
    FUZZ_CHECK(!c.cycles || (*c.cycles >= 1 && *c.cycles <= kMaxCycles));

    // Round trip: what was understood, sent again, is understood the same way.
    const DecodedCommand again = decode_command(reencode(command));
    FUZZ_CHECK(again.command && !again.error);
    FUZZ_CHECK(again.command->type == command.type);
    FUZZ_CHECK(again.request_id == decoded.request_id);
    FUZZ_CHECK(same(again.command->configure, c));
  } else {
    const ErrorCode code = decoded.error->code;
    FUZZ_CHECK(code == ErrorCode::bad_request || code == ErrorCode::unknown_command ||
               code == ErrorCode::too_large);
    FUZZ_CHECK(!decoded.error->message.empty());
    // The error reply echoes the client's request_id: it must stay valid JSON in the
    // contract's shape whatever that id holds.
    const std::string reply = encode_error(*decoded.error, decoded.request_id);
    const auto j = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(j.is_object());
    FUZZ_CHECK(j.value("event", "") == "timer");
    FUZZ_CHECK(j.at("success") == false);
    FUZZ_CHECK(j.at("data").is_null());
    FUZZ_CHECK(j.value("code", "") == to_string(decoded.error->code));
    FUZZ_CHECK(j.contains("request_id") == !decoded.request_id.empty());
    if (!decoded.request_id.empty()) FUZZ_CHECK(j.at("request_id") == decoded.request_id);
  }
  return 0;
}
