// The bench's incremental HTTP/1.1 response reader (status, headers, content-length,
// chunked, until-close bodies, keep-alive). The first input byte seeds how the rest is cut
// into reads; the responses found must not depend on how the bytes arrive.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "http_response.h"

namespace {

using tickcast::bench::HttpResponseReader;

// What a reader made of a byte stream: each complete response, then how it stopped.
struct Outcome {
  std::vector<std::pair<int, std::string>> responses;  // status, body
  HttpResponseReader::Result last = HttpResponseReader::Result::more;
  std::string pending_body;  // body bytes of the response not complete yet
  bool operator==(const Outcome&) const = default;
};

Outcome read_in_pieces(std::string_view wire, unsigned seed) {
  HttpResponseReader reader;
  Outcome out;
  std::string in, body;
  std::size_t at = 0;
  unsigned state = seed | 1;
  while (at < wire.size() && out.last != HttpResponseReader::Result::error) {
    state = state * 1103515245u + 12345u;
    const std::size_t piece = seed == 0 ? wire.size() : 1 + (state >> 16) % 17;
    const std::size_t take = std::min(piece, wire.size() - at);
    in.append(wire.substr(at, take));
    at += take;
    for (;;) {
      const std::size_t before = in.size();
      out.last = reader.feed(in, body);
      FUZZ_CHECK(in.size() <= before);  // only consumes
      if (out.last != HttpResponseReader::Result::complete) break;
      FUZZ_CHECK(reader.status() >= 100 && reader.status() <= 999);  // status-code = 3DIGIT
      out.responses.emplace_back(reader.status(), body);
      body.clear();
    }
  }
  if (out.last == HttpResponseReader::Result::error) {
    FUZZ_CHECK(!reader.error().empty());
  } else {
    out.pending_body = body;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view wire = tickcast::fuzz::bytes(data + 1, size - 1);
  const Outcome whole = read_in_pieces(wire, 0);
  const Outcome pieces = read_in_pieces(wire, data[0] | 0x100u);
  FUZZ_CHECK(whole == pieces);
  std::size_t body_bytes = whole.pending_body.size();
  for (const auto& response : whole.responses) body_bytes += response.second.size();
  FUZZ_CHECK(body_bytes <= wire.size());
  return 0;
}
