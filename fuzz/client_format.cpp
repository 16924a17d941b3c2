// tickcast-client's readers of server messages (format_event, is_error_reply, event_reason)
// on any bytes, and its command line parser against the server's decoder: what the client
// builds from a typed line, the server reads as the same command type.
#include <string>

#include "format.h"
#include "fuzz_check.h"
#include "tickcast/core/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tickcast;
  const std::string_view input = tickcast::fuzz::bytes(data, size);

  // Server messages: never throw, and an error reply is never shown as an event.
  const std::string line = client::format_event(input);
  std::string code, request_id;
  if (client::is_error_reply(input, &code, &request_id)) {
    FUZZ_CHECK(line.starts_with("error "));
    FUZZ_CHECK(client::event_reason(input).size() <= input.size());
  }

  // Typed lines: a command the client builds is one the server decodes as that type.
  const client::ParsedCommand parsed = client::parse_command(input, "c1");
  FUZZ_CHECK(parsed.json.has_value() == parsed.error.empty());
  if (!parsed.json || parsed.type == "raw") return 0;
  const DecodedCommand decoded = decode_command(*parsed.json);
  FUZZ_CHECK(decoded.request_id == "c1");
  if (parsed.type != "configure") {
    FUZZ_CHECK(decoded.command && !decoded.error);
  } else if (decoded.error) {
    // Only the values may be refused (range, a missing or unknown field), never the JSON.
    FUZZ_CHECK(decoded.error->code == ErrorCode::bad_request);
    FUZZ_CHECK(decoded.error->message.find("JSON") == std::string::npos);
  }
  return 0;
}
