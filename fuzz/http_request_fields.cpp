// The byte-level parts of reading an HTTP request: one query argument (name=value) and a
// Content-Length value. Input: the Content-Length value, a newline, then a query string.
#include <string>

#include "fuzz_check.h"
#include "request_fields.h"

namespace {

using namespace tickcast::http::internal;

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = tickcast::fuzz::bytes(data, size);
  const std::size_t newline = input.find('\n');
  const std::string_view length = input.substr(0, newline);
  const std::string_view query =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  // Content-Length is 1*DIGIT (RFC 9110 8.6); anything else is a bad request, and an
  // accepted value reads back as the same number.
  if (const auto n = parse_content_length(length)) {
    FUZZ_CHECK(all_digits(length));
    const std::size_t first = std::min(length.find_first_not_of('0'), length.size() - 1);
    FUZZ_CHECK(std::to_string(*n) == length.substr(first));
  } else if (all_digits(length)) {
    FUZZ_CHECK(length.size() > 19);  // only a value past 2^64-1 is refused
  }

  // libwebsockets hands out the arguments between '&' one by one.
  std::size_t begin = 0;
  while (begin <= query.size()) {
    std::size_t end = query.find('&', begin);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view arg = query.substr(begin, end - begin);
    const auto [name, value] = split_query_arg(arg);
    FUZZ_CHECK(name.find('=') == std::string::npos);
    const bool had_eq = arg.find('=') != std::string_view::npos;
    FUZZ_CHECK((had_eq ? name + "=" + value : name) == arg);
    begin = end + 1;
  }
  return 0;
}
