// embed-chat: what any client sends reaches every client of its room, whatever transport
// it uses (ws: its socket; MQTT: the room's commands topic; SSE, long-poll: POST to
// /chat/rooms/{room}). With --cluster, nodes on one NATS JetStream share their rooms.
//   embed-chat --transport ws,sse,longpoll,mqtt --port 8080 [--cluster nats://127.0.0.1:4222]
//   curl -N http://127.0.0.1:8080/sse/rooms/lobby & curl -d hello :8080/chat/rooms/lobby
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tickcast/cluster/nats_backplane.h"
#include "tickcast/launch/flags.h"
#include "tickcast/launch/transports.h"
#include "tickcast/transport/history.h"
#include "tickcast/transport/room_key.h"
#include "tickcast/transport/stop_signals.h"

using namespace tickcast;
using json = nlohmann::ordered_json;

// Every message goes through the backplane, which numbers it in its room: in this process
// (LocalBackplane), or across nodes on NATS JetStream (--cluster). Each node keeps the last
// 100 of each room, for clients that resume.
struct Chat final : Sink {
  std::unique_ptr<Backplane> backplane;
  std::mutex mutex;  // the same lock orders join replies and broadcasts
  std::map<std::string, History> rooms;
  launch::Transports* transports = nullptr;

  void post(const std::string& room, std::string_view text, std::string_view from,
            const Backplane::Done& done) {
    if (text.empty() || !valid_room_name(room))
      return done(Failure{FailureCode::bad_request, "a message needs text and a valid room"});
    json body{{"from", from}, {"text", text}};
    backplane->publish(room, body.dump(-1, ' ', false, json::error_handler_t::replace), done);
  }
  // Every node gets every message here, numbered, in its room's order.
  void deliver(const std::string& room, std::uint64_t seq, const std::string& body) {
    json p = json::parse(body, nullptr, false);
    if (!p.is_object()) return;
    json m{{"type", "message"}, {"room", room}, {"seq", seq}};
    m["from"] = p["from"], m["text"] = p["text"];
    const Message message{seq, make_payload(m.dump())};
    std::lock_guard lock(mutex);
    auto [it, first] = rooms.try_emplace(room, 100);
    if (first) it->second.reset(seq - 1);  // nothing from before the first one it got
    it->second.append(message);
    transports->publish(room, message);
  }
  // The join reply: what a resuming client missed, while we have it; else a welcome.
  void on_subscribe(std::string room, std::optional<std::uint64_t> has, ClientRef c) override {
    std::lock_guard lock(mutex);
    auto it = rooms.find(room);
    const std::uint64_t seq = it == rooms.end() ? 0 : it->second.last_seq();
    if (auto missed = has && it != rooms.end() ? it->second.after(*has) : std::nullopt)
      return c->join(JoinReply::backlog(std::move(*missed), *has));
    json welcome{{"type", "welcome"}, {"room", room}, {"seq", seq}};
    c->join(JoinReply::snapshot({seq, make_payload(welcome.dump()), false, MessageKind::snapshot}));
  }
  void on_message(std::string room, std::string text, ClientRef c) override {  // ws, mqtt
    post(room, text, c->transport(), [c](Published p) {
      if (auto* f = std::get_if<Failure>(&p))  // {"error": reason, "code": ...}
        c->send({{.payload = make_payload(generic_failure_body(*f)), .kind = MessageKind::error}});
    });
  }
};

int main(int argc, char** argv) {
  StopSignals stop;  // first: before any thread starts
  CLI::App app("embed-chat");
  launch::Options options;
  std::vector<std::string> nats_servers;  // nats://HOST:PORT,...: share the rooms with other nodes
  launch::add_flags(app, options);
  app.add_option("--cluster", nats_servers)->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  Chat chat;
  launch::Transports transports(options);  // after the Sink: stopped before it goes
  chat.transports = &transports;
  http::Server& server = transports.server();
  // SSE and long-poll clients send here. Threads: the service thread; must not block.
  server.route("POST", "/chat/rooms/{room}", [&](const auto& r, const http::Responder& res) {
    chat.post(r.params.at("room"), r.body, "http", [&server, res](Published p) {
      if (auto* f = std::get_if<Failure>(&p))
        return res.respond(server.failure(f->code, f->reason));
      const json ok{{"success", true}, {"seq", std::get<std::uint64_t>(p)}};
      res.respond({.body = ok.dump(), .headers = {}});
    });
  });
  try {
    chat.backplane = cluster::make_backplane({.servers = nats_servers, .name = "chat"});
    transports.start(chat);
    chat.backplane->start(std::bind_front(&Chat::deliver, &chat));
  } catch (const std::exception& e) {
    return std::cerr << "embed-chat: " << e.what() << '\n', 1;
  }
  std::cout << "embed-chat: " << transports.describe() << std::endl;
  stop.wait();
  chat.backplane->stop();
}
