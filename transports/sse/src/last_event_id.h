#pragma once
// Where a resuming SSE client stands, read from its request apart from the transport so
// the fuzzer runs the same code.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tickcast::sse {

/// parse_last_event_id reads an event id the stream sent (a decimal seq); nullopt for
/// anything else.
std::optional<std::uint64_t> parse_last_event_id(std::string_view text);

/// resume_id returns the id a resuming client sent: its Last-Event-ID header, else the
/// `last_event_id` query parameter; empty when it sent neither.
std::string_view resume_id(std::string_view header,
                           const std::map<std::string, std::string>& query);

/// resume_position returns the seq a client has seen: its Last-Event-ID header, else the
/// `last_event_id` query parameter (for clients that cannot set headers); nullopt (a fresh
/// join with a snapshot) when neither holds an id.
std::optional<std::uint64_t> resume_position(std::string_view header,
                                             const std::map<std::string, std::string>& query);

}  // namespace tickcast::sse
