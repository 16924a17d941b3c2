// Where a resuming SSE client stands: its Last-Event-ID header, else `?last_event_id=`.
// Input: the header value, a newline, then the query parameter's value.
#include "last_event_id.h"

#include <map>
#include <string>

#include "fuzz_check.h"

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tickcast::sse;
  const std::string_view input = tickcast::fuzz::bytes(data, size);
  const std::size_t newline = input.find('\n');
  const std::string_view header = input.substr(0, newline);
  std::map<std::string, std::string> query;
  if (newline != std::string_view::npos) {
    query.emplace("last_event_id", std::string(input.substr(newline + 1)));
  }

  const auto id = parse_last_event_id(header);
  if (id) {
    FUZZ_CHECK(all_digits(header));
    FUZZ_CHECK(parse_last_event_id(std::to_string(*id)) == id);
  }

  // The header wins when present; the query parameter is the fallback; garbage is a fresh
  // join (nullopt), never some other position.
  const auto position = resume_position(header, query);
  if (!header.empty()) {
    FUZZ_CHECK(position == id);
  } else if (newline != std::string_view::npos) {
    FUZZ_CHECK(position == parse_last_event_id(input.substr(newline + 1)));
  } else {
    FUZZ_CHECK(!position);
  }
  // Every id the stream ever sent comes back as itself.
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(size, 8); ++i) seq = (seq << 8) | data[i];
  FUZZ_CHECK(resume_position(std::to_string(seq), {}) == seq);
  return 0;
}
