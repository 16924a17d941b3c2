// TLS and HTTP/2 on tickcast-server's one port, with real clients: curl (h2 and
// http/1.1), the repo's ws client over wss://, and openssl s_client.
#include <gtest/gtest.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill()

#include <nlohmann/json.hpp>
#include <thread>

#include "support/curl.h"
#include "support/server_process.h"
#include "tickcast/client/ws_client.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::curl;
using testing::quote;
using testing::ServerProcess;

class Tls : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_certificate(cert, key); }

  ServerProcess start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--tls-cert", cert, "--tls-key", key, "--tick-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ServerProcess(args);
  }
  // curl trusting our certificate (a test CA), not -k.
  std::string trusted() const { return "--cacert " + quote(cert) + " "; }
  std::string url(const ServerProcess& server, const std::string& path) const {
    return quote("https://localhost:" + std::to_string(server.port()) + path);
  }
  // The subject of the certificate the server presents to a new handshake now.
  std::string served_subject(const ServerProcess& server) const {
    return testing::run_command(
        "echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
        " -servername localhost 2>/dev/null | openssl x509 -noout "
        "-subject 2>/dev/null");
  }

  testing::TempDir dir;
  std::string cert = dir.path("cert.pem");
  std::string key = dir.path("key.pem");
};

TEST_F(Tls, PageRestSseAndLongPollOverHttp2) {
  auto server = start({"--transport", "ws,sse,longpoll"});
  auto page = curl(trusted() + "--http2 " + url(server, "/"));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.http_version, "2") << "ALPN h2";
  EXPECT_NE(page.body.find("<html"), std::string::npos);

  auto start_cmd =
      curl(trusted() + "-X POST -H 'content-type: application/json' -d " +
           quote(R"({"type":"start"})") + " " + url(server, "/api/rooms/tls/commands"));
  EXPECT_EQ(start_cmd.status, 200) << start_cmd.body;
  EXPECT_EQ(start_cmd.http_version, "2");

  // An SSE stream over h2: curl reads it for a while, then stops; the ticks were there.
  auto sse = curl(trusted() + "-N --max-time 2 " + url(server, "/sse/rooms/tls"));
  EXPECT_EQ(sse.status, 200);
  EXPECT_EQ(sse.http_version, "2");
  EXPECT_NE(sse.body.find("\"reason\":\"snapshot\""), std::string::npos) << sse.body;
  EXPECT_NE(sse.body.find("\"reason\":\"tick\""), std::string::npos) << sse.body;

  auto poll = curl(trusted() + url(server, "/poll/rooms/tls?since=1&timeout_ms=5000"));
  EXPECT_EQ(poll.status, 200);
  EXPECT_EQ(poll.http_version, "2");
  auto body = json::parse(poll.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << poll.body;
  EXPECT_FALSE(body["events"].empty());

  // A poll that waits (no event for 2.5 s in a stopped room) is answered at its timeout.
  // Positions are wall-clock based (main's room store): since=0 is another history and
  // gets a snapshot at once, so the poll waits from the room's own position.
  auto first = curl(trusted() + url(server, "/poll/rooms/quiet?since=0"));
  const auto position = json::parse(first.body, nullptr, false);
  ASSERT_TRUE(position.is_object() && position["next"].is_number_unsigned()) << first.body;
  auto waited = curl(trusted() + "--max-time 10 " +
                     url(server, "/poll/rooms/quiet?since=" +
                                     std::to_string(position["next"].get<std::uint64_t>()) +
                                     "&timeout_ms=2500"));
  EXPECT_EQ(waited.status, 200);
  EXPECT_EQ(waited.http_version, "2");
  EXPECT_EQ(json::parse(waited.body, nullptr, false)["events"], json::array()) << waited.body;

  // A client without h2 gets http/1.1 on the same port.
  auto h1 = curl(trusted() + "--http1.1 " + url(server, "/healthz"));
  EXPECT_EQ(h1.status, 200);
  EXPECT_EQ(h1.http_version, "1.1");
  EXPECT_EQ(json::parse(h1.body)["tls"], true);
}

TEST_F(Tls, SseStreamsOfOneClientShareOneHttp2Connection) {
  auto server = start({"--transport", "sse"});
  // Eight SSE streams at once from one curl: with h2 they are streams of one connection.
  std::string urls;
  for (int i = 0; i < 8; ++i) urls += url(server, "/sse/rooms/share" + std::to_string(i)) + " ";
  const std::string out = testing::run_command(
      "curl -sS -N --http2 --parallel --parallel-max 8 --max-time 3 " + trusted() +
      "-w '\\n@@connects %{num_connects} %{http_version}\\n' " + urls + " 2>/dev/null");
  int streams = 0, connects = 0;
  for (std::size_t at = out.find("@@connects "); at != std::string::npos;
       at = out.find("@@connects ", at + 1)) {
    ++streams;
    connects += std::atoi(out.c_str() + at + 11);
    EXPECT_EQ(out.substr(out.find(' ', at + 11) + 1, 1), "2");
  }
  EXPECT_EQ(streams, 8) << out;
  EXPECT_EQ(connects, 1) << "every stream after the first reuses the connection";
  // Every stream got its room's snapshot.
  for (int i = 0; i < 8; ++i) {
    EXPECT_NE(out.find("\"room\":\"share" + std::to_string(i) + "\""), std::string::npos) << i;
  }
}

TEST_F(Tls, WebSocketOverTls) {
  auto server = start({"--transport", "ws"});
  client::WsPoolOptions pool_options;
  pool_options.tls_ca_file = cert;  // verified against our certificate, as a test CA
  client::WsClientPool pool(pool_options);
  auto ws = pool.connect("wss://localhost:" + std::to_string(server.port()) + "/rooms/secure");
  ASSERT_TRUE(ws.wait_open(5s)) << ws.error();
  auto snapshot = ws.next_message(5s);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(json::parse(*snapshot)["reason"], "snapshot");
  ws.send_text(R"({"type":"start","request_id":"r1"})");
  bool started = false;
  for (int i = 0; i < 10 && !started; ++i) {
    auto m = ws.next_message(5s);
    ASSERT_TRUE(m);
    started = json::parse(*m)["reason"] == "start";
  }
  EXPECT_TRUE(started);

  // Without trusting the certificate, the client refuses the server.
  client::WsClientPool untrusting;
  auto refused =
      untrusting.connect("wss://localhost:" + std::to_string(server.port()) + "/rooms/secure");
  EXPECT_FALSE(refused.wait_open(5s));
  EXPECT_EQ(refused.state(), client::WsState::failed);
}

TEST_F(Tls, PlainHttpOnTheTlsPortIsRefusedClearly) {
  auto server = start({"--transport", "ws,sse"});
  auto plain = curl("http://127.0.0.1:" + std::to_string(server.port()) + "/healthz");
  EXPECT_EQ(plain.status, 400);
  auto body = json::parse(plain.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << plain.body;
  EXPECT_EQ(body["code"], "bad_request");
  EXPECT_NE(body["error"].get<std::string>().find("https://"), std::string::npos);

  client::WsClientPool pool;
  auto ws = pool.connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/rooms/x");
  EXPECT_TRUE(ws.wait_closed(5s));
  EXPECT_EQ(ws.state(), client::WsState::failed);
  EXPECT_EQ(ws.http_status(), 400);
  // And the server is still fine.
  EXPECT_EQ(curl(trusted() + url(server, "/healthz")).status, 200);
}

TEST_F(Tls, BadCertificateOrKeyIsAClearStartError) {
  auto start_error = [&](std::vector<std::string> args) -> std::string {
    try {
      ServerProcess server(std::move(args), 10s);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "started";
  };
  EXPECT_NE(start_error({"--tls-cert", dir.path("missing.pem"), "--tls-key", key})
                .find("cannot read --tls-cert"),
            std::string::npos);
  EXPECT_NE(start_error({"--tls-cert", key, "--tls-key", key}).find("holds no PEM certificate"),
            std::string::npos);
  testing::make_certificate(dir.path("other.pem"), dir.path("other.key"), "other");
  EXPECT_NE(start_error({"--tls-cert", cert, "--tls-key", dir.path("other.key")})
                .find("is not the key of the certificate"),
            std::string::npos);
  EXPECT_NE(start_error({"--tls-cert", cert}).find("give both"), std::string::npos);
}

TEST_F(Tls, SighupReloadsTheCertificateWithoutDroppingConnections) {
  auto server = start({"--transport", "ws"});
  EXPECT_NE(served_subject(server).find("CN = localhost"), std::string::npos);

  client::WsClientPool pool;
  client::WsConnectOptions options;
  options.tls_insecure = true;  // it will see two certificates
  auto ws = pool.connect(server.ws_url("reload"), options);
  ASSERT_TRUE(ws.wait_open(5s)) << ws.error();
  ASSERT_TRUE(ws.next_message(5s));
  ASSERT_EQ(curl(trusted() + "-X POST -d " + quote(R"({"type":"start"})") + " " +
                 url(server, "/api/rooms/reload/commands"))
                .status,
            200);

  // New files at the same paths, then SIGHUP.
  testing::make_certificate(cert, key, "reloaded");
  ::kill(server.pid(), SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server.output().find("TLS certificate reloaded") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << server.output();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(served_subject(server).find("CN = reloaded"), std::string::npos);

  // The connection made before the reload is still open and still ticking.
  const auto before = ws.messages_received();
  while (ws.messages_received() < before + 3) {
    ASSERT_EQ(ws.state(), client::WsState::open);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline + 10s);
    std::this_thread::sleep_for(20ms);
  }

  // A bad file on reload keeps the old certificate and says so.
  testing::write_file(key, "not a key\n");
  ::kill(server.pid(), SIGHUP);
  while (server.output().find("kept the old certificate") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline + 20s) << server.output();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(served_subject(server).find("CN = reloaded"), std::string::npos);
  EXPECT_EQ(ws.state(), client::WsState::open);
}

}  // namespace
}  // namespace tickcast

#ifdef TICKCAST_TEST_MQTT
namespace tickcast {
namespace {

TEST_F(Tls, EmbeddedMqttBrokerGetsATlsListenerWithTheSameCertificate) {
  const int mqtt_port = testing::free_port(), mqtts_port = testing::free_port();
  auto server = start({"--transport", "ws,mqtt", "--mqtt-port", std::to_string(mqtt_port),
                       "--mqtt-tls-port", std::to_string(mqtts_port)});
  EXPECT_TRUE(server.wait_for_output("mqtts://127.0.0.1:" + std::to_string(mqtts_port)))
      << server.output();
  ASSERT_EQ(curl(trusted() + "-X POST -d " + quote(R"({"type":"start"})") + " " +
                 url(server, "/api/rooms/mq/commands"))
                .status,
            200);
  // mosquitto_sub over TLS, checking the certificate against ours: the retained state.
  const std::string state = testing::run_command(
      "timeout 10 mosquitto_sub -h localhost -p " + std::to_string(mqtts_port) + " --cafile " +
      quote(cert) + " -t tickcast/rooms/mq/state -C 1 2>&1");
  EXPECT_NE(state.find("\"room\":\"mq\""), std::string::npos) << state;
  // The certificate is the https one.
  const std::string subject = testing::run_command(
      "echo | openssl s_client -connect 127.0.0.1:" + std::to_string(mqtts_port) +
      " 2>/dev/null | openssl x509 -noout -subject 2>/dev/null");
  EXPECT_NE(subject.find("CN = localhost"), std::string::npos) << subject;
}

}  // namespace
}  // namespace tickcast
#endif
