// The contract's "Bad input" section, transport by transport, against tickcast-server with
// real clients (raw sockets, curl, libwebsockets, cpp-httplib): every bad input gets its
// answer in the protocol's own terms, and a well-behaved client of the same room, on every
// transport, sees no change: no extra event, an unbroken seq.
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <nlohmann/json.hpp>

#include "support/server_process.h"
#include "support/sse_reader.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using client::WsClientPool;
using client::WsConnection;
using client::WsConnectOptions;
using client::WsState;
using nlohmann::json;
using testing::ServerProcess;
using testing::SseReader;

// No ticks during a test: the only events of a room are the ones a test causes.
ServerProcess start_server() {
  return ServerProcess({"--transport", "ws,sse,longpoll", "--tick-ms", "60000"});
}

// HttpAnswer is a raw HTTP response, split.
struct HttpAnswer {
  int status = 0;
  std::string head;
  json body;
};

HttpAnswer parse_answer(const std::string& raw) {
  HttpAnswer answer;
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return answer;
  answer.status = std::stoi(raw.substr(9, 3));
  answer.head = raw.substr(0, end);
  answer.body = json::parse(raw.substr(end + 4), nullptr, false);
  return answer;
}

// Sends raw request bytes; the request should ask for `Connection: close` (or be one the
// server closes after), so that the answer ends with the connection.
HttpAnswer raw(const ServerProcess& server, const std::string& request) {
  return parse_answer(testing::raw_http(server.port(), request));
}

// Expects the contract's error event as an HTTP error body.
void expect_error_body(const json& body, const std::string& code, const std::string& context,
                       const std::string& request_id = {}) {
  ASSERT_TRUE(body.is_object()) << context;
  EXPECT_EQ(body["event"], "timer") << context;
  EXPECT_EQ(body["success"], false) << context;
  EXPECT_TRUE(body.contains("data") && body["data"].is_null()) << context;
  EXPECT_TRUE(body["error"].is_string()) << context;
  EXPECT_EQ(body["code"], code) << context;
  if (request_id.empty()) {
    EXPECT_FALSE(body.contains("request_id")) << context;
  } else {
    EXPECT_EQ(body["request_id"], request_id) << context;
  }
}

json post(const ServerProcess& server, const std::string& room, const std::string& body,
          int* status = nullptr) {
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post(("/api/rooms/" + room + "/commands").c_str(), body, "application/json");
  if (!res) return json();
  if (status) *status = res->status;
  return json::parse(res->body, nullptr, false);
}

// Watchers are well-behaved clients of one room on every transport: a WebSocket, an SSE
// stream and a long-poll parked at the room's seq (its snapshot's: the room's wall-clock
// base). Each has read the room's snapshot.
class Watchers {
 public:
  Watchers(const ServerProcess& server, std::string room)
      : server_(server), room_(std::move(room)), ws_(pool_.connect(server.ws_url(room_))) {
    EXPECT_TRUE(ws_.wait_open(5s));
    const auto snapshot = ws_.next_message(5s);
    EXPECT_TRUE(snapshot);
    if (snapshot) {
      base_ = json::parse(*snapshot)["seq"].get<std::uint64_t>();
    }
    sse_ = std::make_unique<SseReader>(server.port(), "/sse/rooms/" + room_);
    const auto first = sse_->next_event(5s);
    EXPECT_TRUE(first);
    if (first) {
      EXPECT_EQ(first->id, std::to_string(base_));
    }
    // The room exists now (seq base_), so `since=base_` waits for its next event, whenever
    // the poll reaches the server: every event after base_ would be in its answer.
    poll_ = std::async(std::launch::async, [port = server.port(), room = room_, base = base_] {
      httplib::Client http("127.0.0.1", port);
      http.set_read_timeout(70s);
      auto res = http.Get(
          ("/poll/rooms/" + room + "?since=" + std::to_string(base) + "&timeout_ms=60000").c_str());
      return res ? json::parse(res->body, nullptr, false) : json();
    });
  }

  // expect_unchanged sends a good `start` (REST) and checks that it is the first and only
  // event every watcher got since its snapshot: the snapshot's seq + 1, reason start.
  void expect_unchanged() {
    int status = 0;
    post(server_, room_, R"({"type":"start"})", &status);
    ASSERT_EQ(status, 200) << "the room refused a good start: it was changed";

    const auto ws_event = ws_.next_message(5s);
    ASSERT_TRUE(ws_event) << "ws watcher got nothing";
    const json ws_json = json::parse(*ws_event);
    EXPECT_EQ(ws_json["seq"], base_ + 1) << *ws_event;
    EXPECT_EQ(ws_json["reason"], "start") << *ws_event;
    EXPECT_EQ(ws_.messages_received(), 2u) << "ws watcher got an extra message";
    EXPECT_EQ(ws_.state(), WsState::open);

    const auto sse_event = sse_->next_event(5s);
    ASSERT_TRUE(sse_event) << "sse watcher got nothing";
    EXPECT_EQ(sse_event->id, std::to_string(base_ + 1)) << sse_event->data;
    EXPECT_EQ(json::parse(sse_event->data)["reason"], "start") << sse_event->data;

    ASSERT_EQ(poll_.wait_for(10s), std::future_status::ready) << "long-poll watcher not woken";
    const json answer = poll_.get();
    ASSERT_TRUE(answer.is_object()) << answer;
    ASSERT_EQ(answer["events"].size(), 1u) << answer.dump();
    EXPECT_EQ(answer["events"][0]["seq"], base_ + 1);
    EXPECT_EQ(answer["events"][0]["reason"], "start");
    EXPECT_EQ(answer["next"], base_ + 1);
  }

  // base is the seq of the room's snapshot when the watchers joined.
  std::uint64_t base() const { return base_; }

 private:
  const ServerProcess& server_;
  std::string room_;
  WsClientPool pool_;
  WsConnection ws_;
  std::unique_ptr<SseReader> sse_;
  std::future<json> poll_;
  std::uint64_t base_ = 0;
};

const std::string kUpgrade =
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

// RFC 9112 3.2: an HTTP/1.1 request without Host (or with an empty or repeated one) is a
// 400, whatever the route; a start sent that way changes nothing.
TEST(BadInput, HttpWithoutHostIsA400OnEveryRoute) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  const std::string start = R"({"type":"start","request_id":"nohost"})";
  const std::vector<std::string> requests = {
      "POST /api/rooms/calm/commands HTTP/1.1\r\nContent-Length: " + std::to_string(start.size()) +
          "\r\n\r\n" + start,
      "GET /api/rooms/calm HTTP/1.1\r\n\r\n",
      "GET /api/rooms HTTP/1.1\r\n\r\n",
      "GET /api/config HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET /sse/rooms/calm HTTP/1.1\r\n\r\n",
      "GET /poll/rooms/calm HTTP/1.1\r\n\r\n",
      "OPTIONS /api/rooms/calm/commands HTTP/1.1\r\n\r\n",
      "GET /rooms/calm HTTP/1.1\r\n" + kUpgrade + "\r\n",
      "GET /healthz HTTP/1.1\r\nHost:\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /rooms/calm HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + kUpgrade + "\r\n",
  };
  for (const std::string& request : requests) {
    const std::string line = request.substr(0, request.find('\r'));
    const HttpAnswer answer = raw(server, request);
    EXPECT_EQ(answer.status, 400) << line << "\n" << answer.head;
    EXPECT_NE(answer.head.find("application/json"), std::string::npos) << line;
    expect_error_body(answer.body, "bad_request", line);
  }
  // HTTP/1.0 may omit Host; with it, the same port answers as usual.
  EXPECT_EQ(raw(server, "GET /healthz HTTP/1.0\r\n\r\n").status, 200);
  EXPECT_EQ(raw(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status,
            200);
  watchers.expect_unchanged();
}

// An empty room in any room URL reaches that room's route and is a bad room, never a 405
// or a listing from a shorter route.
TEST(BadInput, AnEmptyRoomIsABadRoomOnEveryRoute) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  const std::string start = R"({"type":"start","request_id":"empty"})";
  struct Case {
    std::string request, request_id;
  };
  const std::vector<Case> cases = {
      {"POST /api/rooms//commands HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
           std::to_string(start.size()) + "\r\n\r\n" + start,
       "empty"},
      {"GET /api/rooms/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ""},
      {"GET /sse/rooms/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ""},
      {"GET /poll/rooms/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ""},
      {"GET /poll/rooms/?since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ""},
      {"GET /rooms/ HTTP/1.1\r\nHost: x\r\n" + kUpgrade + "\r\n", ""},
  };
  for (const Case& k : cases) {
    const std::string line = k.request.substr(0, k.request.find('\r'));
    const HttpAnswer answer = raw(server, k.request);
    EXPECT_EQ(answer.status, 404) << line << "\n" << answer.head;
    expect_error_body(answer.body, "bad_room", line, k.request_id);
  }
  // curl, as a user would type it.
  const std::string out =
      testing::run_command("curl -s -w ' %{http_code}' -X POST -d '{\"type\":\"start\"}' " +
                           server.base_url() + "/api/rooms//commands");
  EXPECT_NE(out.find("\"code\":\"bad_room\""), std::string::npos) << out;
  EXPECT_NE(out.find(" 404"), std::string::npos) << out;
  // A real WebSocket client is refused at the handshake.
  WsClientPool pool;
  auto refused = pool.connect(server.ws_url(""));
  ASSERT_TRUE(refused.wait_closed(5s));
  EXPECT_EQ(refused.http_status(), 404);
  watchers.expect_unchanged();
}

// REST: bad JSON, unknown commands, bad fields, wrong content, oversized bodies and state
// conflicts answer with the contract's error event, request_id included when it was sent.
TEST(BadInput, RestErrorsAreTheContractsErrorEvent) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  struct Case {
    std::string body;
    int status;
    std::string code, request_id;
  };
  const std::vector<Case> cases = {
      {"{oops", 400, "bad_request", ""},
      {"", 400, "bad_request", ""},
      {"[1,2]", 400, "bad_request", ""},
      {R"("start")", 400, "bad_request", ""},
      {"type=start", 400, "bad_request", ""},
      {"{\"type\":\"st\xff\"}", 400, "bad_request", ""},
      {R"({"type":"dance","request_id":"r1"})", 400, "unknown_command", "r1"},
      {R"({"request_id":"r2"})", 400, "bad_request", "r2"},
      {R"({"type":"configure","cycles":0,"request_id":"r3"})", 400, "bad_request", "r3"},
      {R"({"type":"configure","work_ms":"soon","request_id":7})", 400, "bad_request", "7"},
      {R"({"type":"configure","request_id":"r4"})", 400, "bad_request", "r4"},
      {R"({"type":"start","request_id":{"a":1}})", 400, "bad_request", ""},
      {R"({"type":"stop","request_id":"r5"})", 409, "already_stopped", "r5"},
      {R"({"type":"start","pad":")" + std::string(5000, 'x') + "\"}", 413, "too_large", ""},
  };
  for (const Case& k : cases) {
    int status = 0;
    const json body = post(server, "calm", k.body, &status);
    const std::string context = k.body.substr(0, 60);
    EXPECT_EQ(status, k.status) << context;
    expect_error_body(body, k.code, context, k.request_id);
  }
  // A bad room keeps the request_id of the command it came with.
  int status = 0;
  json body = post(server, "no.such", R"({"type":"start","request_id":"r6"})", &status);
  EXPECT_EQ(status, 404);
  expect_error_body(body, "bad_room", "bad room", "r6");
  // A body announced larger than 4 KiB is refused before it is read; a chunked one plainly.
  HttpAnswer answer = raw(server,
                          "POST /api/rooms/calm/commands HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 100000000\r\n\r\n{");
  EXPECT_EQ(answer.status, 413) << answer.head;
  expect_error_body(answer.body, "too_large", "content-length");
  answer = raw(server,
               "POST /api/rooms/calm/commands HTTP/1.1\r\nHost: x\r\n"
               "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"type\":\"start\"}\r\n0\r\n\r\n");
  EXPECT_EQ(answer.status, 400) << answer.head;
  expect_error_body(answer.body, "bad_request", "chunked");
  // Method and path errors carry the same shape.
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Delete("/api/rooms/calm/commands");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  expect_error_body(json::parse(res->body, nullptr, false), "method_not_allowed", "DELETE");
  res = http.Get("/api/nothing/here");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  expect_error_body(json::parse(res->body, nullptr, false), "not_found", "GET /api/nothing");
  watchers.expect_unchanged();
}

// WebSocket: bad frames close the sender (1003, 1009) or answer it with an error event;
// bad handshakes are refused with an HTTP status and the JSON error body.
TEST(BadInput, WebSocketBadFramesAndHandshakes) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  WsClientPool pool;

  auto sender = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(sender.wait_open(5s));
  ASSERT_TRUE(sender.next_message(5s));  // snapshot
  for (const auto& [input, code] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "bad_request"},
           {"", "bad_request"},
           {R"({"type":"explode","request_id":"w1"})", "unknown_command"},
           {R"({"type":"configure","work_ms":-1})", "bad_request"},
           {R"({"type":"stop"})", "already_stopped"}}) {
    ASSERT_TRUE(sender.send_text(input));
    const auto reply = sender.next_message(5s);
    ASSERT_TRUE(reply) << input;
    const json error = json::parse(*reply);
    EXPECT_EQ(error["code"], code) << input;
    EXPECT_EQ(error["success"], false) << input;
  }
  EXPECT_EQ(sender.state(), WsState::open) << "an error event keeps the connection";

  auto binary = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(binary.wait_open(5s));
  binary.send_binary(R"({"type":"start"})");
  ASSERT_TRUE(binary.wait_closed(5s));
  EXPECT_EQ(binary.close_code(), 1003);

  auto large = pool.connect(server.ws_url("calm"));
  ASSERT_TRUE(large.wait_open(5s));
  large.send_text(R"({"type":"start","pad":")" + std::string(5000, 'x') + "\"}");
  ASSERT_TRUE(large.wait_closed(5s));
  EXPECT_EQ(large.close_code(), 1009);

  for (const std::string& room : {std::string("bad.room"), std::string(65, 'a'), std::string()}) {
    std::string request = "GET /rooms/" + room;
    request += " HTTP/1.1\r\nHost: x\r\n";
    request += kUpgrade;
    request += "\r\n";
    const HttpAnswer answer = raw(server, request);
    EXPECT_EQ(answer.status, 404) << room << "\n" << answer.head;
    expect_error_body(answer.body, "bad_room", "ws room '" + room + "'");
  }
  const HttpAnswer no_host = raw(server, "GET /rooms/calm HTTP/1.1\r\n" + kUpgrade + "\r\n");
  EXPECT_EQ(no_host.status, 400) << no_host.head;
  expect_error_body(no_host.body, "bad_request", "ws without Host");
  watchers.expect_unchanged();
}

// SSE: a Last-Event-ID that is not a seq and a bad room are a 400/404 with the JSON body;
// a Last-Event-ID ahead of the room (another history) resumes with a snapshot.
TEST(BadInput, SseBadLastEventIdAndRooms) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  for (const std::string id : {"abc", "-1", "1.5", "1 2", "99999999999999999999999", "0x10"}) {
    SseReader reader(server.port(), "/sse/rooms/calm", {{"Last-Event-ID", id}});
    EXPECT_EQ(reader.wait_status(5s), 400) << id;
    const json body = json::parse(reader.body(), nullptr, false);
    expect_error_body(body, "bad_request", "Last-Event-ID " + id);
  }
  const HttpAnswer query =
      raw(server,
          "GET /sse/rooms/calm?last_event_id=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(query.status, 400) << query.head;
  for (const std::string path : {"/sse/rooms/bad.room", "/sse/rooms/", "/sse/rooms"}) {
    SseReader reader(server.port(), path);
    EXPECT_EQ(reader.wait_status(5s), 404) << path;
    expect_error_body(json::parse(reader.body(), nullptr, false), "bad_room", path);
  }
  SseReader ahead(server.port(), "/sse/rooms/calm",
                  {{"Last-Event-ID", std::to_string(watchers.base() + 1000)}});
  ASSERT_EQ(ahead.wait_status(5s), 200);
  const auto snapshot = ahead.next_event(5s);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(json::parse(snapshot->data)["reason"], "snapshot");
  watchers.expect_unchanged();
}

// Long-poll: bad since/timeout_ms values and bad rooms are a 400/404 with the JSON body; a
// `since` of another history (ahead of the room, or older) gets the room's snapshot.
TEST(BadInput, LongPollBadQueryAndRooms) {
  ServerProcess server = start_server();
  Watchers watchers(server, "calm");
  httplib::Client http("127.0.0.1", server.port());
  struct Case {
    std::string path;
    int status;
    std::string code;
  };
  for (const Case& k : std::vector<Case>{{"/poll/rooms/calm?since=", 400, "bad_request"},
                                         {"/poll/rooms/calm?since=-1", 400, "bad_request"},
                                         {"/poll/rooms/calm?since=x", 400, "bad_request"},
                                         {"/poll/rooms/calm?since=1e3", 400, "bad_request"},
                                         {"/poll/rooms/calm?timeout_ms=", 400, "bad_request"},
                                         {"/poll/rooms/calm?timeout_ms=-1", 400, "bad_request"},
                                         {"/poll/rooms/calm?timeout_ms=60001", 400, "bad_request"},
                                         {"/poll/rooms/calm?timeout_ms=1s", 400, "bad_request"},
                                         {"/poll/rooms/bad.room", 404, "bad_room"},
                                         {"/poll/rooms/", 404, "bad_room"},
                                         {"/poll/rooms", 404, "bad_room"}}) {
    auto res = http.Get(k.path.c_str());
    ASSERT_TRUE(res) << k.path;
    EXPECT_EQ(res->status, k.status) << k.path << ": " << res->body;
    expect_error_body(json::parse(res->body, nullptr, false), k.code, k.path);
  }
  for (const std::uint64_t since : {watchers.base() + 1000, std::uint64_t{99}}) {
    const std::string path = "/poll/rooms/calm?since=" + std::to_string(since);
    auto res = http.Get(path.c_str());
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path << ": " << res->body;
    const json answer = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(answer.is_object()) << res->body;
    ASSERT_EQ(answer["events"].size(), 1u) << res->body;
    EXPECT_EQ(answer["events"][0]["reason"], "snapshot") << res->body;
    EXPECT_EQ(answer["next"], watchers.base()) << res->body;
  }
  watchers.expect_unchanged();
}

}  // namespace
}  // namespace tickcast
