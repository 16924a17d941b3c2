// The REST API, /healthz, /metrics and the static page on the public port, with
// cpp-httplib's client and raw sockets.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "support/server_process.h"

namespace tickcast {
namespace {

using nlohmann::json;
using testing::ServerProcess;

struct RestApi : ::testing::Test {
  static void SetUpTestSuite() {
    server = std::make_unique<ServerProcess>(std::vector<std::string>{});
  }
  static void TearDownTestSuite() { server.reset(); }
  httplib::Client http() { return httplib::Client("127.0.0.1", server->port()); }
  static std::unique_ptr<ServerProcess> server;
};
std::unique_ptr<ServerProcess> RestApi::server;

TEST_F(RestApi, CommandsAnswer200And409) {
  auto c = http();
  auto res = c.Post("/api/rooms/rest1/commands", R"({"type":"start","request_id":"a"})",
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto body = json::parse(res->body);
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["state"]["running"], true);
  EXPECT_EQ(body["request_id"], "a");
  res = c.Post("/api/rooms/rest1/commands", R"({"type":"start"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409);
  EXPECT_EQ(json::parse(res->body)["code"], "already_running");
  res = c.Post("/api/rooms/rest1/commands", R"({"type":"stop"})", "application/json");
  EXPECT_EQ(res->status, 200);
  res = c.Post("/api/rooms/rest1/commands", R"({"type":"stop"})", "application/json");
  EXPECT_EQ(res->status, 409);
  EXPECT_EQ(json::parse(res->body)["code"], "already_stopped");
}

TEST_F(RestApi, BadInputGetsA4xxWithAJsonBody) {
  auto c = http();
  struct Case {
    std::string path, body;
    int status;
    std::string code;
  };
  for (const Case& k : std::vector<Case>{
           {"/api/rooms/rest2/commands", "{oops", 400, "bad_request"},
           {"/api/rooms/rest2/commands", R"({"type":"dance"})", 400, "unknown_command"},
           {"/api/rooms/rest2/commands", R"({"type":"configure","cycles":0})", 400, "bad_request"},
           {"/api/rooms/rest2/commands", "", 400, "bad_request"},
           {"/api/rooms/" + std::string(65, 'x') + "/commands", R"({"type":"start"})", 404,
            "bad_room"},
           {"/api/rooms/a.b/commands", R"({"type":"start"})", 404, "bad_room"},
           {"/api/rooms/rest2/commands", std::string(5000, ' '), 413, "too_large"},
           {"/api/nothing", "{}", 404, "not_found"}}) {
    auto res = c.Post(k.path.c_str(), k.body, "application/json");
    ASSERT_TRUE(res) << k.path;
    EXPECT_EQ(res->status, k.status) << k.path << " " << k.body.substr(0, 40);
    const auto body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_EQ(body["code"], k.code) << k.path;
    EXPECT_EQ(body["success"], false);
  }
  auto res = c.Delete("/api/rooms/rest2/commands");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  // None of it created or changed the room.
  res = c.Get("/api/rooms");
  ASSERT_TRUE(res);
  const json listed = json::parse(res->body);  // a named value: the loop walks into it
  ASSERT_TRUE(listed["rooms"].is_array()) << res->body;
  for (const auto& room : listed["rooms"]) EXPECT_NE(room["room"], "rest2");
}

TEST_F(RestApi, ReadsRoomsConfigHealthAndMetrics) {
  auto c = http();
  c.Post("/api/rooms/rest3/commands", R"({"type":"configure","work_ms":60000})",
         "application/json");
  auto res = c.Get("/api/rooms/rest3");
  ASSERT_TRUE(res);
  auto snapshot = json::parse(res->body);
  EXPECT_EQ(snapshot["reason"], "snapshot");
  EXPECT_EQ(snapshot["data"], "00:01:00");
  res = c.Get("/api/rooms");
  bool listed = false;
  const json rooms = json::parse(res->body);
  for (const auto& room : rooms["rooms"]) listed = listed || room["room"] == "rest3";
  EXPECT_TRUE(listed);
  res = c.Get("/api/config");
  auto config = json::parse(res->body);
  EXPECT_EQ(config["transports"], json::array({"ws"}));
  EXPECT_EQ(config["urls"]["ws"],
            "ws://127.0.0.1:" + std::to_string(server->port()) + "/rooms/{room}");
  res = c.Get("/healthz");
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["transports"]["ws"]["accepting"], true);
  res = c.Get("/metrics");
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(res->body.find("# TYPE tickcast_clients gauge"), std::string::npos);
  EXPECT_NE(res->body.find("tickcast_commands_total{result=\"ok\"}"), std::string::npos);
}

TEST_F(RestApi, ServesThePageAndNothingOutsideIt) {
  auto c = http();
  auto res = c.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(res->body.find("<html"), std::string::npos);
  const std::string escape = testing::raw_http(
      server->port(), "GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(escape.find("root:"), std::string::npos);
  EXPECT_NE(escape.find(" 404 "), std::string::npos) << escape;
}

TEST_F(RestApi, CrossOriginRulesAndPreflight) {
  auto c = http();
  httplib::Headers foreign{{"Origin", "http://evil.example"}};
  auto res = c.Post("/api/rooms/rest4/commands", foreign, R"({"type":"start"})", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403) << "a foreign page cannot change a room";
  res = c.Options("/api/rooms/rest4/commands", foreign);
  EXPECT_EQ(res->status, 403);
  res = c.Get("/api/rooms/rest4", foreign);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(res->has_header("Access-Control-Allow-Origin"));
}

TEST_F(RestApi, MalformedHttpGetsA400JsonBody) {
  for (const std::string request :
       {"GARBAGE\r\n\r\n", "\x16\x03\x01\x00\xa5\x01\x00",
        "GET /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"}) {
    const std::string answer = testing::raw_http(server->port(), request);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
    EXPECT_NE(answer.find("application/json"), std::string::npos) << answer;
    EXPECT_NE(answer.find(R"("code":"bad_request")"), std::string::npos) << answer;
  }
  EXPECT_EQ(http().Get("/healthz")->status, 200);
}

}  // namespace
}  // namespace tickcast
