// A long-poll request's query: `since` and `timeout_ms`, as the transport reads them.
// Input: a query string (a=b&c=d), split as libwebsockets splits it.
#include <map>
#include <string>

#include "fuzz_check.h"
#include "poll_query.h"
#include "request_fields.h"

namespace {

using namespace tickcast;
using namespace std::chrono_literals;

constexpr auto kDefault = 25000ms;
constexpr auto kMax = 60000ms;

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string_view without_leading_zeros(std::string_view digits) {
  return digits.substr(std::min(digits.find_first_not_of('0'), digits.size() - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = tickcast::fuzz::bytes(data, size);
  std::map<std::string, std::string> query;
  std::size_t begin = 0;
  while (begin <= input.size()) {
    std::size_t end = input.find('&', begin);
    if (end == std::string_view::npos) end = input.size();
    query.emplace(http::internal::split_query_arg(input.substr(begin, end - begin)));
    begin = end + 1;
  }

  const longpoll::PollQuery poll = longpoll::read_poll_query(query, kDefault, kMax);
  const auto since = query.find("since");
  const auto timeout = query.find("timeout_ms");
  if (poll.error) {
    FUZZ_CHECK(poll.error->code == FailureCode::bad_request);
    return 0;
  }
  // Accepted: exactly what was asked, in bounds.
  FUZZ_CHECK(poll.since.has_value() == (since != query.end()));
  if (poll.since) {
    FUZZ_CHECK(all_digits(since->second));
    FUZZ_CHECK(std::to_string(*poll.since) == without_leading_zeros(since->second));
  }
  FUZZ_CHECK(poll.timeout >= 0ms && poll.timeout <= kMax);
  if (timeout == query.end()) {
    FUZZ_CHECK(poll.timeout == kDefault);
  } else {
    FUZZ_CHECK(all_digits(timeout->second));
    FUZZ_CHECK(std::to_string(poll.timeout.count()) == without_leading_zeros(timeout->second));
  }

  // Round trip of the number reader itself on the input's first bytes as a seq.
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(size, 8); ++i) seq = (seq << 8) | data[i];
  seq %= 10'000'000'000'000'000'000ULL;  // parse_unsigned takes at most 19 digits
  FUZZ_CHECK(longpoll::parse_unsigned(std::to_string(seq)) == seq);
  return 0;
}
