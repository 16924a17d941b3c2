// Room tokens on every transport of tickcast-server, with real clients (curl, the repo's
// ws client): missing, malformed, expired, wrong signature, wrong algorithm (`none`,
// HS256 signed with the public key), wrong room (prefix rules), wrong permission,
// oversized; expiry of open ws and sse clients; tokens never in the server's output.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/curl.h"
#include "support/server_process.h"
#include "tickcast/auth/token.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using auth::Permission;
using nlohmann::json;
using testing::curl;
using testing::quote;
using testing::ServerProcess;

constexpr const char* kSecret = "a-test-secret-of-more-than-32-bytes-0123456789";

std::string base64url(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += table[(n >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    for (int s : {18, 12, 6}) out += table[(n >> s) & 63];
  }
  return out;
}

auth::Claims claims(std::string room, std::vector<Permission> perms,
                    std::chrono::seconds ttl = 1h) {
  return auth::Claims{std::move(room), std::move(perms),
                      std::chrono::time_point_cast<std::chrono::seconds>(auth::Clock::now() + ttl),
                      "tester"};
}

class Auth : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_file(secret_file, std::string(kSecret) + "\n"); }

  ServerProcess start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--transport", "ws,sse,longpoll", "--tick-ms",
                                  "100",         "--auth-secret",   secret_file};
    args.insert(args.end(), extra.begin(), extra.end());
    return ServerProcess(args);
  }
  std::string token(const std::string& room, std::vector<Permission> perms,
                    std::chrono::seconds ttl = 1h) const {
    return auth::mint(claims(room, std::move(perms), ttl), "HS256", kSecret);
  }

  // What each HTTP transport answers a request for `room` with `token` ("" = none):
  // {status of REST GET, REST POST, SSE, long-poll}, each with code "unauthorized" when
  // refused.
  std::vector<int> http_statuses(const ServerProcess& server, const std::string& room,
                                 const std::string& token) {
    const std::string auth =
        token.empty() ? "" : "-H " + quote("Authorization: Bearer " + token) + " ";
    const std::string base = server.base_url();
    const std::string requests[] = {auth + quote(base + "/api/rooms/" + room),
                                    auth + "-X POST -d " + quote(R"({"type":"reset"})") + " " +
                                        quote(base + "/api/rooms/" + room + "/commands"),
                                    auth + "-N --max-time 2 " + quote(base + "/sse/rooms/" + room),
                                    auth + quote(base + "/poll/rooms/" + room)};
    std::vector<int> statuses;
    for (const std::string& request : requests) {
      auto result = curl(request);
      statuses.push_back(result.status);
      if (result.status == 401 || result.status == 403) {
        auto body = json::parse(result.body, nullptr, false);
        EXPECT_TRUE(body.is_object() && body["code"] == "unauthorized") << result.body;
      }
    }
    return statuses;
  }
  // The HTTP status of a refused WebSocket upgrade, or 101 when it opened.
  int ws_status(const ServerProcess& server, const std::string& room, const std::string& token) {
    client::WsConnectOptions options;
    if (!token.empty()) options.headers.emplace_back("Authorization", "Bearer " + token);
    auto ws = pool.connect(server.ws_url(room), options);
    if (ws.wait_open(5s)) return 101;
    return ws.http_status();
  }

  testing::TempDir dir;
  std::string secret_file = dir.path("secret.txt");
  client::WsClientPool pool;
};

TEST_F(Auth, WithoutTheFlagEverythingIsOpenAndHealthzSaysSo) {
  ServerProcess server({"--transport", "ws,sse,longpoll", "--tick-ms", "100"});
  auto health = curl(quote(server.base_url() + "/healthz"));
  EXPECT_EQ(json::parse(health.body)["auth"], "off");
  EXPECT_EQ(http_statuses(server, "open", ""), (std::vector<int>{200, 200, 200, 200}));
  EXPECT_EQ(ws_status(server, "open", ""), 101);
}

TEST_F(Auth, MissingOrInvalidTokenIs401OnEveryTransport) {
  auto server = start();
  EXPECT_EQ(json::parse(curl(quote(server.base_url() + "/healthz")).body)["auth"], "HS256");
  const std::string good = token("room1", {Permission::subscribe, Permission::command});
  const std::string wrong_signature =
      auth::mint(claims("room1", {Permission::subscribe, Permission::command}), "HS256",
                 "another-secret-another-secret-another");
  const std::string expired = token("room1", {Permission::subscribe, Permission::command}, -10s);
  const std::string garbage = "not.a.token";
  for (const std::string& bad : {std::string(), wrong_signature, expired, garbage}) {
    EXPECT_EQ(http_statuses(server, "room1", bad), (std::vector<int>{401, 401, 401, 401})) << bad;
    EXPECT_EQ(ws_status(server, "room1", bad), 401) << bad;
  }
  EXPECT_EQ(http_statuses(server, "room1", good), (std::vector<int>{200, 200, 200, 200}));
  EXPECT_EQ(ws_status(server, "room1", good), 101);
}

TEST_F(Auth, TheThreeWaysToSendAToken) {
  auto server = start();
  const std::string t = token("ways", {Permission::subscribe});
  const std::string url = server.base_url() + "/api/rooms/ways";
  EXPECT_EQ(curl("-H " + quote("Authorization: Bearer " + t) + " " + quote(url)).status, 200);
  EXPECT_EQ(curl(quote(url + "?token=" + t)).status, 200);
  EXPECT_EQ(curl("--cookie " + quote("other=1; tickcast_token=" + t) + " " + quote(url)).status,
            200);
  client::WsConnectOptions cookie;
  cookie.headers.emplace_back("Cookie", "tickcast_token=" + t);
  EXPECT_TRUE(pool.connect(server.ws_url("ways"), cookie).wait_open(5s));
  EXPECT_TRUE(pool.connect(server.ws_url("ways") + "?token=" + t).wait_open(5s));
}

TEST_F(Auth, WrongRoomOrPermissionIs403AndPrefixesMatchByPrefix) {
  auto server = start();
  const std::vector<Permission> both{Permission::subscribe, Permission::command};
  // A token for room "a" is not a token for "a-b".
  EXPECT_EQ(http_statuses(server, "a-b", token("a", both)), (std::vector<int>{403, 403, 403, 403}));
  EXPECT_EQ(ws_status(server, "a-b", token("a", both)), 403);
  // "a*" is every room whose name starts with "a"; "a-*" does not cover "a".
  EXPECT_EQ(http_statuses(server, "a-b", token("a*", both)),
            (std::vector<int>{200, 200, 200, 200}));
  EXPECT_EQ(ws_status(server, "a-b", token("a*", both)), 101);
  EXPECT_EQ(http_statuses(server, "a", token("a-*", both)), (std::vector<int>{403, 403, 403, 403}));
  EXPECT_EQ(http_statuses(server, "zz", token("*", both)), (std::vector<int>{200, 200, 200, 200}));
  // subscribe without command: reads yes, REST commands no.
  EXPECT_EQ(http_statuses(server, "a", token("a", {Permission::subscribe})),
            (std::vector<int>{200, 403, 200, 200}));
  // command without subscribe: commands yes, joining no.
  EXPECT_EQ(http_statuses(server, "a", token("a", {Permission::command})),
            (std::vector<int>{403, 200, 403, 403}));
  EXPECT_EQ(ws_status(server, "a", token("a", {Permission::command})), 403);
  // The room list shows only the token's rooms.
  auto rooms = curl("-H " + quote("Authorization: Bearer " + token("a-*", both)) + " " +
                    quote(server.base_url() + "/api/rooms"));
  ASSERT_EQ(rooms.status, 200);
  const json listed = json::parse(rooms.body);
  ASSERT_FALSE(listed["rooms"].empty());
  for (const auto& room : listed["rooms"]) {
    EXPECT_EQ(room["room"].get<std::string>().rfind("a-", 0), 0u) << room;
  }
}

TEST_F(Auth, AlgNoneAndAlgorithmConfusionAreRefused) {
  // alg none, unsigned: refused by an HS256 server.
  auto server = start();
  const std::string payload =
      json{{"room", "x"}, {"perm", {"subscribe", "command"}}, {"exp", std::time(nullptr) + 3600}}
          .dump();
  const std::string none =
      base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(payload) + ".";
  EXPECT_EQ(http_statuses(server, "x", none), (std::vector<int>{401, 401, 401, 401}));
  EXPECT_EQ(ws_status(server, "x", none), 401);

  // An ES256 server: a token "signed" HS256 with the server's public key as the secret.
  testing::run_command("openssl ecparam -name prime256v1 -genkey -noout -out " +
                       quote(dir.path("ec.pem")) + " && openssl ec -in " +
                       quote(dir.path("ec.pem")) + " -pubout -out " + quote(dir.path("ec.pub")) +
                       " 2>/dev/null");
  ServerProcess es({"--transport", "ws,sse,longpoll", "--auth-public-key", dir.path("ec.pub")});
  EXPECT_EQ(json::parse(curl(quote(es.base_url() + "/healthz")).body)["auth"], "ES256");
  std::ifstream pub_in(dir.path("ec.pub"));
  const std::string pub((std::istreambuf_iterator<char>(pub_in)), {});
  ASSERT_FALSE(pub.empty());
  const std::string confused =
      auth::mint(claims("x", {Permission::subscribe, Permission::command}), "HS256", pub);
  EXPECT_EQ(http_statuses(es, "x", confused), (std::vector<int>{401, 401, 401, 401}));
  EXPECT_EQ(ws_status(es, "x", confused), 401);
  EXPECT_EQ(http_statuses(es, "x", none), (std::vector<int>{401, 401, 401, 401}));
  // The real ES256 token, minted by the tickcast-token CLI from the private key.
  const std::string real =
      testing::run_command(std::string(TICKCAST_TOKEN_PATH) + " --private-key " +
                           quote(dir.path("ec.pem")) + " --room x --perm subscribe,command");
  ASSERT_FALSE(real.empty());
  const std::string trimmed = real.substr(0, real.find('\n'));
  EXPECT_EQ(http_statuses(es, "x", trimmed), (std::vector<int>{200, 200, 200, 200}));
  EXPECT_EQ(ws_status(es, "x", trimmed), 101);
}

TEST_F(Auth, Rs256PublicKey) {
  testing::run_command("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                       quote(dir.path("rsa.pem")) + " 2>/dev/null && openssl pkey -in " +
                       quote(dir.path("rsa.pem")) + " -pubout -out " + quote(dir.path("rsa.pub")));
  ServerProcess server(
      {"--transport", "ws,sse,longpoll", "--auth-public-key", dir.path("rsa.pub")});
  std::ifstream in(dir.path("rsa.pem"));
  const std::string pem((std::istreambuf_iterator<char>(in)), {});
  const std::string t = auth::mint(claims("r", {Permission::subscribe}), "RS256", pem);
  EXPECT_EQ(http_statuses(server, "r", t), (std::vector<int>{200, 403, 200, 200}));
  // With a long `sub`: longer than the 512 bytes a query argument once had room for.
  auto long_claims = claims("r", {Permission::subscribe});
  long_claims.subject = std::string(400, 's');
  const std::string long_token = auth::mint(long_claims, "RS256", pem);
  ASSERT_GT(long_token.size(), 800u);
  // As ?token= too (EventSource and browsers' WebSocket can send it no other way).
  EXPECT_EQ(curl("-N --max-time 2 " + quote(server.base_url() + "/sse/rooms/r?token=" + long_token))
                .status,
            200);
  EXPECT_EQ(curl(quote(server.base_url() + "/poll/rooms/r?token=" + long_token)).status, 200);
  EXPECT_TRUE(pool.connect(server.ws_url("r") + "?token=" + long_token).wait_open(5s));
  const std::string hs = token("r", {Permission::subscribe});  // HS256: not accepted here
  EXPECT_EQ(http_statuses(server, "r", hs), (std::vector<int>{401, 401, 401, 401}));
}

TEST_F(Auth, OversizedTokensAreRefusedAndTheServerStaysUp) {
  auto server = start();
  // Longer than auth::kMaxTokenBytes, within the request header limit: a 401.
  const std::string long_token(3000, 'a');
  EXPECT_EQ(http_statuses(server, "big", long_token), (std::vector<int>{401, 401, 401, 401}));
  // Far beyond any header limit: refused, never a 200, and the server is fine after.
  const std::string huge(20000, 'a');
  auto result = curl("-H " + quote("Authorization: Bearer " + huge) + " " +
                     quote(server.base_url() + "/api/rooms/big"));
  EXPECT_NE(result.status, 200);
  EXPECT_EQ(ws_status(server, "big", huge) == 101, false);
  EXPECT_EQ(curl(quote(server.base_url() + "/healthz")).status, 200);
}

TEST_F(Auth, SubscribeOnlyWebSocketGetsAnErrorForACommandAndStays) {
  auto server = start();
  client::WsConnectOptions options;
  options.headers.emplace_back("Authorization", "Bearer " + token("ro", {Permission::subscribe}));
  auto ws = pool.connect(server.ws_url("ro"), options);
  ASSERT_TRUE(ws.wait_open(5s)) << ws.http_status();
  ASSERT_TRUE(ws.next_message(5s));  // snapshot
  ws.send_text(R"({"type":"start","request_id":"r9"})");
  auto reply = ws.next_message(5s);
  ASSERT_TRUE(reply);
  auto error = json::parse(*reply);
  EXPECT_EQ(error["success"], false);
  EXPECT_EQ(error["code"], "unauthorized");
  EXPECT_EQ(error["request_id"], "r9");
  // The socket stays, and sees the room's events (started here over REST).
  const std::string commander = token("ro", {Permission::command});
  ASSERT_EQ(
      curl("-X POST -H " + quote("Authorization: Bearer " + commander) + " -d " +
           quote(R"({"type":"start"})") + " " + quote(server.base_url() + "/api/rooms/ro/commands"))
          .status,
      200);
  auto next = ws.next_message(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(json::parse(*next)["reason"], "start");
  EXPECT_EQ(ws.state(), client::WsState::open);
}

TEST_F(Auth, ExpiredWsAndSseClientsAreClosedAndMayComeBack) {
  auto server = start();
  const std::string soon = token("exp", {Permission::subscribe}, 2s);
  client::WsConnectOptions options;
  options.headers.emplace_back("Authorization", "Bearer " + soon);
  auto ws = pool.connect(server.ws_url("exp"), options);
  ASSERT_TRUE(ws.wait_open(5s));
  // SSE with the same short token, read by curl until the server ends the stream.
  std::string sse_out;
  std::thread sse([&] {
    sse_out = testing::run_command("curl -sS -N --max-time 15 " +
                                   quote(server.base_url() + "/sse/rooms/exp?token=" + soon));
  });
  EXPECT_TRUE(ws.wait_closed(10s));
  EXPECT_EQ(ws.close_code(), 4401);
  EXPECT_EQ(ws.close_reason(), "token expired");
  sse.join();
  EXPECT_NE(sse_out.find("\"reason\":\"snapshot\""), std::string::npos) << sse_out;
  EXPECT_NE(sse_out.find(R"("error":"token expired","code":"unauthorized")"), std::string::npos)
      << sse_out;
  // The stream ended because the server ended it, not because curl gave up.
  EXPECT_EQ(sse_out.find("Operation timed out"), std::string::npos);
  // With the old token: refused; with a fresh one: back.
  EXPECT_EQ(ws_status(server, "exp", soon), 401);
  EXPECT_EQ(ws_status(server, "exp", token("exp", {Permission::subscribe})), 101);
}

// Socket.IO over Engine.IO long-polling, with curl: the CONNECT of namespace /room gets
// CONNECT ("40") or CONNECT_ERROR ("44", code unauthorized). The token comes in the
// CONNECT's auth payload {"token": T}, or with the handshake (?token=, Bearer, cookie).
TEST_F(Auth, SocketIoConnectNeedsATokenForItsRoom) {
  ServerProcess server(
      {"--transport", "socketio", "--tick-ms", "100", "--auth-secret", secret_file});
  const std::string base = server.base_url() + "/socket.io/?EIO=4&transport=polling";
  // One session: the handshake (with `handshake_query`), CONNECT with `auth`, the answer.
  auto connect = [&](const std::string& room, const std::string& handshake_query,
                     const json& auth) {
    const auto open = curl(quote(base + handshake_query));
    EXPECT_EQ(open.status, 200) << open.body;
    const auto sid = json::parse(open.body.substr(1), nullptr, false);
    if (!sid.is_object() || !sid.contains("sid")) return std::string("no session: ") + open.body;
    const std::string session = base + "&sid=" + sid["sid"].get<std::string>();
    std::string packet = "40/" + room + ",";
    if (!auth.is_null()) packet += auth.dump();
    const auto posted = curl("-X POST -H 'content-type: text/plain;charset=UTF-8' -d " +
                             quote(packet) + " " + quote(session));
    EXPECT_EQ(posted.status, 200) << posted.body;
    return curl("--max-time 10 " + quote(session)).body;
  };
  auto refused = [](const std::string& answer, const std::string& room) {
    const std::string head = "44/" + room + ",";
    if (answer.rfind(head, 0) != 0) return false;
    const auto body = json::parse(answer.substr(head.size()), nullptr, false);
    return body.is_object() && body["data"]["code"] == "unauthorized" &&
           body["message"].is_string();
  };
  auto connected = [](const std::string& answer, const std::string& room) {
    return answer.rfind("40/" + room + ",{\"sid\"", 0) == 0;
  };
  const std::string good = token("sio", {Permission::subscribe});
  const std::string other = token("elsewhere", {Permission::subscribe, Permission::command});
  const std::string expired = token("sio", {Permission::subscribe}, -10s);

  EXPECT_TRUE(refused(connect("sio", "", nullptr), "sio"));
  EXPECT_TRUE(refused(connect("sio", "", json{{"token", other}}), "sio"));
  EXPECT_TRUE(refused(connect("sio", "", json{{"token", expired}}), "sio"));
  EXPECT_TRUE(refused(connect("sio", "", json{{"token", "not.a.token"}}), "sio"));
  EXPECT_TRUE(refused(connect("sio", "&token=" + other, nullptr), "sio"));
  EXPECT_TRUE(connected(connect("sio", "", json{{"token", good}}), "sio"));
  EXPECT_TRUE(connected(connect("sio", "&token=" + good, nullptr), "sio"));
  // The auth payload wins over the handshake's token.
  EXPECT_TRUE(refused(connect("sio", "&token=" + good, json{{"token", other}}), "sio"));
}

// A connected Socket.IO socket whose token expires gets the `unauthorized` "token expired"
// error event and a DISCONNECT of its namespace (socket.io-client then stays disconnected
// until the app connects again, with a fresh token).
TEST_F(Auth, SocketIoSocketIsDisconnectedWhenItsTokenExpires) {
  ServerProcess server(
      {"--transport", "socketio", "--tick-ms", "100", "--auth-secret", secret_file});
  const std::string base = server.base_url() + "/socket.io/?EIO=4&transport=polling";
  const auto open = curl(quote(base));
  ASSERT_EQ(open.status, 200) << open.body;
  const auto handshake = json::parse(open.body.substr(1));
  const std::string session = base + "&sid=" + handshake["sid"].get<std::string>();
  const std::string soon = token("sio", {Permission::subscribe}, 2s);
  const auto posted = curl("-X POST -H 'content-type: text/plain;charset=UTF-8' -d " +
                           quote("40/sio," + json{{"token", soon}}.dump()) + " " + quote(session));
  ASSERT_EQ(posted.status, 200) << posted.body;
  // Long-polls until the DISCONNECT arrives (pings are answered on the way).
  const std::string rs = "\x1e";  // Engine.IO's packet separator
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (seen.find(rs + "41/sio,") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    const auto got = curl("--max-time 10 " + quote(session));
    ASSERT_EQ(got.status, 200) << got.body << " after " << seen;
    seen += rs + got.body;
    if (got.body.find(rs + "2") != std::string::npos || got.body == "2") {
      curl("-X POST -H 'content-type: text/plain;charset=UTF-8' -d 3 " + quote(session));
    }
  }
  const auto connected = seen.find(rs + R"(40/sio,{"sid")");
  const auto expired = seen.find(R"("error":"token expired","code":"unauthorized")");
  const auto disconnect = seen.find(rs + "41/sio,");
  ASSERT_NE(connected, std::string::npos) << seen;
  ASSERT_NE(expired, std::string::npos) << seen;
  ASSERT_NE(disconnect, std::string::npos) << seen;
  EXPECT_LT(connected, expired);
  EXPECT_LT(expired, disconnect);
}

TEST_F(Auth, TokensNeverAppearInTheServerOutput) {
  auto server = start();
  const std::string good = token("logs", {Permission::subscribe, Permission::command});
  const std::string bad = auth::mint(claims("logs", {Permission::subscribe}), "HS256",
                                     "wrong-secret-wrong-secret-wrong-secret");
  for (const auto& t : {good, bad}) {
    http_statuses(server, "logs", t);
    http_statuses(server, "other", t);
    ws_status(server, "logs", t);
  }
  curl(quote(server.base_url() + "/api/rooms/logs?token=" + bad));
  server.terminate();
  const std::string output = server.output();
  for (const auto& t : {good, bad}) {
    EXPECT_EQ(output.find(t), std::string::npos);
    EXPECT_EQ(output.find(t.substr(t.rfind('.') + 1)), std::string::npos) << "signature";
  }
  EXPECT_EQ(output.find(kSecret), std::string::npos);
}

}  // namespace
}  // namespace tickcast

#ifdef TICKCAST_TEST_MQTT
namespace tickcast {
namespace {

// The embedded broker with room tokens, with the mosquitto CLI clients: the MQTT
// password is the token.
TEST_F(Auth, MqttEmbeddedBrokerChecksTokensPerTopic) {
  const int mqtt_port = testing::free_port();
  ServerProcess server({"--transport", "ws,mqtt", "--mqtt-port", std::to_string(mqtt_port),
                        "--tick-ms", "100", "--auth-secret", secret_file});
  const std::string p = " -p " + std::to_string(mqtt_port) + " ";
  const std::string reader = token("m*", {Permission::subscribe});
  const std::string commander = token("m1", {Permission::subscribe, Permission::command});
  const std::string admin = token("*", {Permission::subscribe, Permission::command});
  auto sh = [](const std::string& command) { return testing::run_command(command + " 2>&1"); };
  auto running = [&](const std::string& room) {
    auto body = json::parse(curl("-H " + quote("Authorization: Bearer " + admin) + " " +
                                 quote(server.base_url() + "/api/rooms/" + room))
                                .body,
                            nullptr, false);
    return body.is_object() && body["state"]["running"] == true;
  };

  // No token, or a bad one: CONNACK "not authorised".
  EXPECT_NE(
      sh("timeout 5 mosquitto_sub" + p + "-t tickcast/rooms/m1/state -C 1").find("not authorised"),
      std::string::npos);
  EXPECT_NE(
      sh("timeout 5 mosquitto_sub" + p + "-u x -P not.a.token -t tickcast/rooms/m1/state -C 1")
          .find("not authorised"),
      std::string::npos);

  // A subscribe-only token cannot command: MQTT 5 PUBACK "Not authorized", nothing changes.
  EXPECT_NE(sh("timeout 5 mosquitto_pub -V mqttv5 -q 1" + p + "-u x -P " + quote(reader) +
               " -t tickcast/rooms/m1/commands -m " + quote(R"({"type":"start"})"))
                .find("Not authorized"),
            std::string::npos);
  // Nor forge events, even with "command".
  EXPECT_NE(sh("timeout 5 mosquitto_pub -V mqttv5 -q 1" + p + "-u x -P " + quote(commander) +
               " -t tickcast/rooms/m1/events -m " + quote(R"({"forged":true})"))
                .find("Not authorized"),
            std::string::npos);
  EXPECT_FALSE(running("m1"));

  // The command token starts the room.
  EXPECT_EQ(sh("timeout 5 mosquitto_pub -V mqttv5 -q 1" + p + "-u x -P " + quote(commander) +
               " -t tickcast/rooms/m1/commands -m " + quote(R"({"type":"start"})")),
            "");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!running("m1")) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the MQTT command did not start m1";
    std::this_thread::sleep_for(20ms);
  }

  // Reading: the token's rooms only (the retained state of m1 comes; of zz, nothing).
  ASSERT_EQ(
      curl("-X POST -H " + quote("Authorization: Bearer " + admin) + " -d " +
           quote(R"({"type":"start"})") + " " + quote(server.base_url() + "/api/rooms/zz/commands"))
          .status,
      200);
  EXPECT_NE(sh("timeout 5 mosquitto_sub" + p + "-u x -P " + quote(reader) +
               " -t tickcast/rooms/m1/state -C 1")
                .find("\"room\":\"m1\""),
            std::string::npos);
  EXPECT_EQ(sh("timeout 5 mosquitto_sub" + p + "-u x -P " + quote(reader) +
               " -t tickcast/rooms/zz/state -C 1 -W 2")
                .find("\"room\":\"zz\""),
            std::string::npos);
  // The admin token sees zz, so the retained message is there to be refused.
  EXPECT_NE(sh("timeout 5 mosquitto_sub" + p + "-u x -P " + quote(admin) +
               " -t tickcast/rooms/zz/state -C 1")
                .find("\"room\":\"zz\""),
            std::string::npos);

  // Expiry: the broker disconnects the client, and its token no longer logs in.
  const std::string brief = token("m1", {Permission::subscribe}, 2s);
  const std::string out = sh("timeout 15 mosquitto_sub" + p + "-u x -P " + quote(brief) +
                             " -t tickcast/rooms/m1/events");
  EXPECT_NE(out.find("\"room\":\"m1\""), std::string::npos) << "it read events until then";
  EXPECT_NE(out.find("not authorised"), std::string::npos) << out;

  server.terminate();
  for (const auto& t : {reader, commander, admin, brief}) {
    EXPECT_EQ(server.output().find(t), std::string::npos) << "a token in the server's output";
  }
}

}  // namespace
}  // namespace tickcast
#endif
