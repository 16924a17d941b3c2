#pragma once
// What the durable-room and cluster tests ask a running tickcast-server: a command over
// REST, a room's snapshot, a long-poll, a metric; reading SSE events into an EventLog; and
// waiting for a condition with a deadline.

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/event_log.h"
#include "support/server_process.h"
#include "support/sse_reader.h"

namespace tickcast::testing {

/// HttpAnswer is a response's status (0 without one) and its body as JSON (discarded if not).
struct HttpAnswer {
  int status = 0;
  nlohmann::json body;
};

/// post_command POSTs `command` to /api/rooms/{room}/commands.
HttpAnswer post_command(const ServerProcess& server, const std::string& room,
                        const std::string& command);
/// get_json GETs `path`: its body as JSON, whatever the status (null without an answer).
nlohmann::json get_json(const ServerProcess& server, const std::string& path);
/// get_json_at: the same, on any loopback port (a nats-server's monitoring port).
nlohmann::json get_json_at(int port, const std::string& path);
/// room_snapshot is GET /api/rooms/{room}; null unless 200.
nlohmann::json room_snapshot(const ServerProcess& server, const std::string& room);
/// poll_room is GET /poll/rooms/{query} (room plus query string); null unless 200.
nlohmann::json poll_room(const ServerProcess& server, const std::string& query);
/// metric is one counter of /metrics; 0 when absent.
std::uint64_t metric(const ServerProcess& server, const std::string& name);

/// read_sse appends SSE events (as JSON) to `seen`, and all but snapshots to `log`, until
/// `want` is true or no event came within `timeout`. Each event's id must be its seq.
void read_sse(SseReader& reader, EventLog& log, std::vector<nlohmann::json>& seen,
              const std::function<bool()>& want,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));
/// read_sse until `seen` holds `count` events.
void read_sse(SseReader& reader, EventLog& log, std::vector<nlohmann::json>& seen,
              std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// wait_for polls `condition` every 20 ms until it holds (true) or `timeout` passed (false).
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

/// cluster_node_args: an SSE and long-poll node of `cluster` at 100 ms ticks.
std::vector<std::string> cluster_node_args(const std::string& cluster);

}  // namespace tickcast::testing
