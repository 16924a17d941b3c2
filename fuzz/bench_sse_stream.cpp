// The bench's SSE client path: the HTTP response reader, then the event-stream reader.
// Two checks: events do not depend on how the bytes are cut into reads (fuzzed bytes), and
// events framed as the server frames them come back unchanged (a round trip).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "http_response.h"
#include "sse/sse_parser.h"

namespace {

using tickcast::bench::HttpResponseReader;
using tickcast::support::SseBlock;
using tickcast::support::SseParser;

struct Outcome {
  std::vector<std::string> events;
  bool failed = false;
  bool operator==(const Outcome&) const = default;
};

// Reads `wire` cut into pieces of 1..max_piece bytes, as SseClients::on_bytes does.
Outcome read_stream(std::string_view wire, std::size_t max_piece, unsigned seed) {
  HttpResponseReader http;
  SseParser sse;
  Outcome out;
  std::string in, body;
  unsigned state = seed | 1;
  for (std::size_t at = 0; at < wire.size() && !out.failed;) {
    state = state * 1103515245u + 12345u;
    const std::size_t take = std::min(1 + (state >> 16) % max_piece, wire.size() - at);
    in.append(wire.substr(at, take));
    at += take;
    const auto r = http.feed(in, body);
    if (r != HttpResponseReader::Result::more) {
      out.failed = true;  // an error, or the stream ended: the client closes either way
      break;
    }
    sse.feed(body, [&](const SseBlock& event) {
      if (!event.data.empty()) out.events.push_back(event.data);
    });
    FUZZ_CHECK(body.find('\n') == std::string::npos);  // only a partial line stays
  }
  return out;
}

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    "transfer-encoding: chunked\r\n\r\n";

std::string chunk(std::string_view bytes) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  return size + std::string(bytes) + "\r\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input = tickcast::fuzz::bytes(data + 1, size - 1);

  // Fuzzed bytes: the same events however they arrive.
  const Outcome whole = read_stream(input, input.size() + 1, 0);
  const Outcome pieces = read_stream(input, 1 + data[0] % 13, data[0]);
  if (!whole.failed && !pieces.failed) FUZZ_CHECK(whole.events == pieces.events);

  // Round trip: the input split at newlines into payloads, each a JSON string as the server
  // would encode it, framed as the SSE transport frames events, sent in chunks.
  std::vector<std::string> payloads;
  std::string wire(kHead);
  std::size_t begin = 0;
  while (begin < input.size()) {
    std::size_t end = input.find('\n', begin);
    if (end == std::string_view::npos) end = input.size();
    payloads.push_back(nlohmann::json(std::string(input.substr(begin, end - begin)))
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    wire += chunk("id: " + std::to_string(payloads.size()) +
                  "\nevent: timer\ndata: " + payloads.back() + "\n\n");
    if (payloads.size() % 3 == 0) wire += chunk(": heartbeat\n\n");
    begin = end + 1;
  }
  const Outcome read = read_stream(wire, 1 + data[0] % 29, data[0] + 1u);
  FUZZ_CHECK(!read.failed);
  FUZZ_CHECK(read.events == payloads);
  return 0;
}
