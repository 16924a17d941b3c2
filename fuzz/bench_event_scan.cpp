// The bench's field scanner (scan_event) and long-poll body splitter (scan_poll_body),
// which read events without a JSON parser. On fuzzed bytes they must stay inside the input;
// on events encoded by the core's own encoder they must read exactly what was encoded.
#include <string>
#include <vector>

#include "event_scan.h"
#include "fuzz_check.h"
#include "tickcast/core/protocol.h"

namespace {

using namespace tickcast;

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

template <typename T>
T take(const std::uint8_t*& data, std::size_t& size) {
  T value{};
  for (std::size_t i = 0; i < sizeof(T) && size > 0; ++i, ++data, --size) {
    value = static_cast<T>((static_cast<std::uint64_t>(value) << 8) | *data);
  }
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = tickcast::fuzz::bytes(data, size);
  (void)bench::scan_event(input);
  if (const auto poll = bench::scan_poll_body(input)) {
    for (std::string_view event : poll->events) {
      FUZZ_CHECK(!event.empty() && inside(event, input));
    }
  }

  // Round trip through the core's encoder: events with fields taken from the input.
  const auto seq = take<std::uint64_t>(data, size);
  const auto time = take<std::int64_t>(data, size);
  const auto bits = take<std::uint8_t>(data, size);
  const auto remaining = take<std::uint32_t>(data, size);
  TimerEvent event{static_cast<Reason>(bits % 8), TimerState{}};
  event.state.phase = static_cast<Phase>((bits >> 3) % 3);
  event.state.running = bits & 0x80;
  event.state.remaining = Millis(remaining);
  event.state.duration = Millis(remaining) + Millis(bits);
  const std::string room(
      std::string_view(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 64)));
  const std::string json = encode_event(valid_room_name(room) ? room : "r", seq, event, time);

  const auto fields = bench::scan_event(json);
  FUZZ_CHECK(fields);
  FUZZ_CHECK(fields->seq == seq && fields->server_time_us == time);
  FUZZ_CHECK(fields->tick == (event.reason == Reason::tick));
  FUZZ_CHECK(fields->snapshot == (event.reason == Reason::snapshot));
  FUZZ_CHECK(fields->running == event.state.running);

  // A poll body as the long-poll transport splices it: the events' own bytes, comma-joined.
  const std::string error = encode_error(Error{ErrorCode::bad_request, std::string(input)});
  const std::string body =
      "{\"events\":[" + json + "," + error + "," + json + "],\"next\":" + std::to_string(seq) + "}";
  const auto poll = bench::scan_poll_body(body);
  FUZZ_CHECK(poll && poll->events.size() == 3);
  FUZZ_CHECK(poll->events[0] == json && poll->events[1] == error && poll->events[2] == json);
  FUZZ_CHECK(poll->next == seq);
  return 0;
}
