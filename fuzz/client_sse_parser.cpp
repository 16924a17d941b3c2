// tickcast-client's event-stream reader (support::SseParser, as the client feeds it: a
// buffer of what arrived, its partial last line kept). Fuzzed bytes: the same events however
// the stream is cut into reads. Then a round trip: events framed as the SSE transport frames
// them come back with their data and id, and that id, sent back as Last-Event-ID, is read
// by the server as the same seq.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "last_event_id.h"
#include "sse/sse_parser.h"

namespace {

using tickcast::support::SseBlock;
using tickcast::support::SseParser;

struct Seen {
  std::string id, type, data;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> parse(std::string_view stream, std::size_t max_piece, unsigned seed) {
  SseParser parser;
  std::string unread;
  std::vector<Seen> out;
  unsigned state = seed | 1;
  for (std::size_t at = 0; at < stream.size();) {
    state = state * 1103515245u + 12345u;
    const std::size_t take = std::min(1 + (state >> 16) % max_piece, stream.size() - at);
    unread.append(stream.substr(at, take));
    parser.feed(unread, [&](const SseBlock& e) {
      if (!e.data.empty()) out.push_back({e.id, e.event, e.data});
    });
    at += take;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input = tickcast::fuzz::bytes(data + 1, size - 1);
  FUZZ_CHECK(parse(input, input.size() + 1, 0) == parse(input, 1 + data[0] % 11, data[0]));

  // Round trip: one event per input line, its payload a JSON string as the server encodes
  // it, its id a seq taken from the line's length and the first byte.
  std::vector<Seen> sent;
  std::string stream = "retry: 1000\n\n";
  std::size_t begin = 0;
  while (begin < input.size()) {
    std::size_t end = input.find('\n', begin);
    if (end == std::string_view::npos) end = input.size();
    const std::uint64_t seq = (std::uint64_t{data[0]} << 56) + (end - begin) * 977 + sent.size();
    Seen event{std::to_string(seq), "timer",
               nlohmann::json(std::string(input.substr(begin, end - begin)))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
    stream += "id: " + event.id + "\nevent: timer\ndata: " + event.data + "\n\n";
    if (sent.size() % 4 == 1) stream += ": heartbeat\n\n";
    sent.push_back(std::move(event));
    begin = end + 1;
  }
  const std::vector<Seen> got = parse(stream, 1 + data[0] % 23, data[0] + 7u);
  FUZZ_CHECK(got == sent);
  for (const Seen& event : got) {
    const auto seq = tickcast::sse::resume_position(event.id, {});
    FUZZ_CHECK(seq && std::to_string(*seq) == event.id);
  }
  return 0;
}
