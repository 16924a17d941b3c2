#include "support/room_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

namespace tickcast::testing {

using namespace std::chrono_literals;
using nlohmann::json;

HttpAnswer post_command(const ServerProcess& server, const std::string& room,
                        const std::string& command) {
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);
  auto res = http.Post(("/api/rooms/" + room + "/commands").c_str(), command, "application/json");
  if (!res) return {};
  return {res->status, json::parse(res->body, nullptr, false)};
}

json get_json(const ServerProcess& server, const std::string& path) {
  return get_json_at(server.port(), path);
}

json get_json_at(int port, const std::string& path) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(10s);
  auto res = http.Get(path.c_str());
  return res ? json::parse(res->body, nullptr, false) : json();
}

namespace {
json get_ok(const ServerProcess& server, const std::string& path) {
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);
  auto res = http.Get(path.c_str());
  return res && res->status == 200 ? json::parse(res->body, nullptr, false) : json();
}
}  // namespace

json room_snapshot(const ServerProcess& server, const std::string& room) {
  return get_ok(server, "/api/rooms/" + room);
}

json poll_room(const ServerProcess& server, const std::string& query) {
  return get_ok(server, "/poll/rooms/" + query);
}

std::uint64_t metric(const ServerProcess& server, const std::string& name) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Get("/metrics");
  if (!res) return 0;
  const auto at = res->body.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stoull(res->body.substr(at + name.size() + 2));
}

void read_sse(SseReader& reader, EventLog& log, std::vector<json>& seen,
              const std::function<bool()>& want, std::chrono::milliseconds timeout) {
  while (!want()) {
    auto event = reader.next_event(timeout);
    if (!event) return;
    const json e = json::parse(event->data);
    EXPECT_EQ(event->id, std::to_string(e["seq"].get<std::uint64_t>()));
    if (e["reason"] != "snapshot") log.add(e);
    seen.push_back(e);
  }
}

void read_sse(SseReader& reader, EventLog& log, std::vector<json>& seen, std::size_t count,
              std::chrono::milliseconds timeout) {
  read_sse(
      reader, log, seen, [&] { return seen.size() >= count; }, timeout);
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::vector<std::string> cluster_node_args(const std::string& cluster) {
  return {"--transport", "sse,longpoll", "--tick-ms", "100", "--work", "1h", "--cluster", cluster};
}

}  // namespace tickcast::testing
