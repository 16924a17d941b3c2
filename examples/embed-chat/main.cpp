// embed-chat: what any client sends reaches every client of its room, whatever transport
// each uses: ws clients send on their socket, MQTT clients to the room's commands topic,
// SSE and long-poll clients POST to /chat/rooms/{room} (a route of the app). With --cluster,
// nodes that share a NATS JetStream cluster share their rooms.
//   embed-chat --transport ws,sse,longpoll,mqtt --port 8080 [--cluster nats://127.0.0.1:4222]
//   curl -N http://127.0.0.1:8080/sse/rooms/lobby & curl -d hello :8080/chat/rooms/lobby
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tickcast/cluster/nats_backplane.h"
#include "tickcast/longpoll/longpoll_transport.h"
#include "tickcast/mqtt/mqtt_transport.h"
#include "tickcast/sse/sse_transport.h"
#include "tickcast/transport/room_key.h"
#include "tickcast/ws/ws_transport.h"

using namespace tickcast;
using json = nlohmann::ordered_json;
volatile std::sig_atomic_t stopping = 0;

// Every message goes through the backplane, which numbers it in its room: in this process
// (LocalBackplane), or across nodes on NATS JetStream (--cluster). Each node keeps the last
// 100 of each room, for clients that resume.
struct Chat final : Sink {
  struct Room {
    std::uint64_t seq = 0, dropped = 0;  // the last number, the newest one no longer kept
    std::deque<Message> recent;
  };
  std::unique_ptr<Backplane> backplane;
  std::mutex mutex;  // the same lock orders join replies and broadcasts
  std::map<std::string, Room> rooms;
  std::vector<std::unique_ptr<Transport>> transports;

  void post(const std::string& room, std::string_view text, std::string_view from,
            Backplane::Done done) {
    json body{{"from", from}, {"text", text}};
    backplane->publish(room, body.dump(-1, ' ', false, json::error_handler_t::replace),
                       std::move(done));
  }
  // Every node gets every message here, numbered, in its room's order.
  void deliver(const std::string& room, std::uint64_t seq, const std::string& body) {
    json in = json::parse(body, nullptr, false);
    if (!in.is_object()) return;
    json m{{"type", "message"},
           {"room", room},
           {"seq", seq},
           {"from", in["from"]},
           {"text", in["text"]}};
    std::lock_guard lock(mutex);
    Room& r = rooms[room];
    r.seq = seq;
    r.recent.push_back({seq, make_payload(m.dump())});
    if (r.recent.size() > 100) r.dropped = r.recent.front().seq, r.recent.pop_front();
    for (auto& t : transports) t->publish(room, r.recent.back());
  }
  // The join reply: what a resuming client missed, while we have it; else a welcome.
  void on_subscribe(std::string room, std::optional<std::uint64_t> has, ClientRef c) override {
    std::lock_guard lock(mutex);
    Room& r = rooms[room];
    if (has && *has <= r.seq && r.dropped <= *has) {
      auto missed = std::find_if(r.recent.begin(), r.recent.end(),
                                 [&](const Message& m) { return m.seq > *has; });
      return c->join(JoinReply::backlog({missed, r.recent.end()}, *has));
    }
    json welcome{{"type", "welcome"}, {"room", room}, {"seq", r.seq}};
    c->join(
        JoinReply::snapshot({r.seq, make_payload(welcome.dump()), false, MessageKind::snapshot}));
  }
  void on_message(std::string room, std::string text, ClientRef c) override {  // ws, mqtt
    auto reply_failure = [c](Published p) {
      if (auto* f = std::get_if<Failure>(&p)) {
        json error{{"error", f->reason}};
        c->send({{.payload = make_payload(error.dump()), .kind = MessageKind::error}});
      }
    };
    if (text.empty()) return reply_failure(Failure{FailureCode::bad_request, "empty message"});
    post(room, text, c->transport(), reply_failure);
  }
};

int main(int argc, char** argv) {
  CLI::App app("embed-chat");
  std::vector<std::string> names{"ws"};
  http::ServerOptions http;
  mqtt::MqttOptions mqtt;  // without broker_url: starts its own mosquitto
  app.add_option("--transport", names)->delimiter(',');
  app.add_option("--host", http.host)->each([&](const std::string& h) { mqtt.host = h; });
  app.add_option("--port", http.port);
  app.add_option("--mqtt-port", mqtt.port);
  std::vector<std::string> nats_servers;  // nats://HOST:PORT,...: share the rooms with other nodes
  app.add_option("--cluster", nats_servers)->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, [](int) { stopping = 1; });
  std::signal(SIGTERM, [](int) { stopping = 1; });
  std::signal(SIGPIPE, SIG_IGN);

  http::Server server(http);
  Chat chat;
  // SSE and long-poll clients send here. Threads: the service thread; must not block.
  server.route(
      "POST", "/chat/rooms/{room}", [&](const http::Request& req, const http::Responder& res) {
        if (!valid_room_name(req.params.at("room")) || req.body.empty()) {
          return res.respond(server.failure(FailureCode::bad_request, "POST text to a valid room"));
        }
        chat.post(req.params.at("room"), req.body, "http", [&server, res](Published p) {
          if (auto* f = std::get_if<Failure>(&p))
            return res.respond(server.failure(f->code, f->reason));
          http::Response ok;
          ok.body = json{{"success", true}, {"seq", std::get<std::uint64_t>(p)}}.dump();
          res.respond(std::move(ok));
        });
      });
  try {
    if (nats_servers.empty()) {
      chat.backplane = std::make_unique<LocalBackplane>();
    } else {
      chat.backplane = std::make_unique<cluster::NatsBackplane>(
          cluster::NatsBackplaneOptions{.servers = nats_servers, .name = "chat"});
    }
    server.start();
    for (const auto& name : names) {
      if (name == "ws") chat.transports.push_back(std::make_unique<ws::WsTransport>(server));
      if (name == "sse") chat.transports.push_back(std::make_unique<sse::SseTransport>(server));
      if (name == "longpoll")
        chat.transports.push_back(std::make_unique<longpoll::LongPollTransport>(server));
      if (name == "mqtt") chat.transports.push_back(std::make_unique<mqtt::MqttTransport>(mqtt));
    }
    for (auto& t : chat.transports) t->start(chat);
    chat.backplane->start([&](const std::string& room, std::uint64_t seq, const std::string& body) {
      chat.deliver(room, seq, body);
    });
  } catch (const std::exception& e) {
    return std::cerr << "embed-chat: " << e.what() << '\n', 1;
  }
  std::cout << "embed-chat: on " << server.base_url() << std::endl;
  while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  chat.backplane->stop();
  for (auto& t : chat.transports) t->stop();
}
