#pragma once
// The parts of reading an HTTP request that work on bytes alone (no libwebsockets), so the
// server and the fuzzers run the same code: one query argument, a Content-Length value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tickcast::http::internal {

/// split_query_arg splits one `name=value` argument of a query string (libwebsockets
/// hands them out one at a time, percent-decoded) at its first `=`; a name without `=`
/// gets an empty value.
std::pair<std::string, std::string> split_query_arg(std::string_view arg);

/// parse_content_length reads a Content-Length value (RFC 9110 8.6: 1*DIGIT); nullopt for
/// anything else, including signs, spaces, NULs and values past 2^64-1.
std::optional<std::uint64_t> parse_content_length(std::string_view text);

}  // namespace tickcast::http::internal
