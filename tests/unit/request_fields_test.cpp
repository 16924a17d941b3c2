// The byte-level parts of reading an HTTP request: query arguments and Content-Length.
#include "request_fields.h"

#include <gtest/gtest.h>

namespace tickcast::http::internal {
namespace {

TEST(ContentLength, DigitsOnly) {
  EXPECT_EQ(parse_content_length("0"), 0u);
  EXPECT_EQ(parse_content_length("4096"), 4096u);
  EXPECT_EQ(parse_content_length("18446744073709551615"), 18446744073709551615u);
}

// Found by the http_request_fields fuzzer (fuzz/corpus/http_request_fields/): strtoull
// read "7\0\0" as 7, "-1" as 2^64-1 and took signs and leading spaces.
TEST(ContentLength, RefusesWhatIsNotOneNumber) {
  EXPECT_FALSE(parse_content_length(std::string_view("7\0\0", 3)));
  EXPECT_FALSE(parse_content_length("-1"));
  EXPECT_FALSE(parse_content_length("+7"));
  EXPECT_FALSE(parse_content_length(" 7"));
  EXPECT_FALSE(parse_content_length("7 "));
  EXPECT_FALSE(parse_content_length("0x10"));
  EXPECT_FALSE(parse_content_length(""));
  EXPECT_FALSE(parse_content_length("18446744073709551616"));
}

using Arg = std::pair<std::string, std::string>;

TEST(QueryArg, SplitsAtTheFirstEquals) {
  EXPECT_EQ(split_query_arg("since=5"), Arg("since", "5"));
  EXPECT_EQ(split_query_arg("a=b=c"), Arg("a", "b=c"));
  EXPECT_EQ(split_query_arg("flag"), Arg("flag", ""));
  EXPECT_EQ(split_query_arg("=x"), Arg("", "x"));
}

}  // namespace
}  // namespace tickcast::http::internal
