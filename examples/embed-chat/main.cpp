// embed-chat: what any client sends reaches every client of its room, whatever transport
// each uses: ws clients send on their socket, MQTT clients to the room's commands topic,
// SSE and long-poll clients POST to /chat/rooms/{room} (a route of the app).
//   embed-chat --transport ws,sse,longpoll,mqtt --port 8080
//   curl -N http://127.0.0.1:8080/sse/rooms/lobby & curl -d hello :8080/chat/rooms/lobby
#include <CLI/CLI.hpp>
#include <csignal>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tickcast/longpoll/longpoll_transport.h"
#include "tickcast/mqtt/mqtt_transport.h"
#include "tickcast/sse/sse_transport.h"
#include "tickcast/transport/room_key.h"
#include "tickcast/ws/ws_transport.h"

using namespace tickcast;
using json = nlohmann::ordered_json;
volatile std::sig_atomic_t stopping = 0;

// Each room keeps its sequence and last 100 messages, for clients that resume.
struct Chat final : Sink {
  struct Room {
    std::uint64_t seq = 0;
    std::deque<Message> recent;
  };
  std::mutex mutex;  // the same lock orders join replies and broadcasts
  std::map<std::string, Room> rooms;
  std::vector<std::unique_ptr<Transport>> transports;

  std::uint64_t post(const std::string& room, std::string_view text, std::string_view from) {
    std::lock_guard lock(mutex);
    Room& r = rooms[room];
    json m{{"type", "message"}, {"room", room}, {"seq", ++r.seq}, {"from", from}, {"text", text}};
    r.recent.push_back(
        {r.seq, make_payload(m.dump(-1, ' ', false, json::error_handler_t::replace))});
    if (r.recent.size() > 100) r.recent.pop_front();
    for (auto& t : transports) t->publish(room, r.recent.back());
    return r.seq;
  }
  // The join reply: what a resuming client missed, while we have it; else a welcome.
  void on_subscribe(std::string room, std::optional<std::uint64_t> has, ClientRef c) override {
    std::lock_guard lock(mutex);
    Room& r = rooms[room];
    const std::uint64_t oldest = r.recent.empty() ? r.seq : r.recent.front().seq - 1;
    if (has && *has <= r.seq && oldest <= *has) {
      return c->join(
          JoinReply::backlog({r.recent.end() - long(r.seq - *has), r.recent.end()}, *has));
    }
    json welcome{{"type", "welcome"}, {"room", room}, {"seq", r.seq}};
    c->join(
        JoinReply::snapshot({r.seq, make_payload(welcome.dump()), false, MessageKind::snapshot}));
  }
  void on_message(std::string room, std::string text, ClientRef c) override {  // ws, mqtt
    if (!text.empty()) return void(post(room, text, c->transport()));
    c->send(
        {{.payload = make_payload(R"({"error":"empty message"})"), .kind = MessageKind::error}});
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
        http::Response ok;
        ok.body =
            json{{"success", true}, {"seq", chat.post(req.params.at("room"), req.body, "http")}}
                .dump();
        res.respond(std::move(ok));
      });
  try {
    server.start();
    for (const auto& name : names) {
      if (name == "ws") chat.transports.push_back(std::make_unique<ws::WsTransport>(server));
      if (name == "sse") chat.transports.push_back(std::make_unique<sse::SseTransport>(server));
      if (name == "longpoll")
        chat.transports.push_back(std::make_unique<longpoll::LongPollTransport>(server));
      if (name == "mqtt") chat.transports.push_back(std::make_unique<mqtt::MqttTransport>(mqtt));
    }
    for (auto& t : chat.transports) t->start(chat);
  } catch (const std::exception& e) {
    return std::cerr << "embed-chat: " << e.what() << '\n', 1;
  }
  std::cout << "embed-chat: on " << server.base_url() << std::endl;
  while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& t : chat.transports) t->stop();
}
