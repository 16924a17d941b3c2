// embed-chat: what any client sends reaches every client of its room, whatever transport
// each uses: ws clients send on their socket, MQTT clients to the room's commands topic,
// SSE and long-poll clients POST to /chat/rooms/{room} (a route of the app). With --cluster,
// nodes that share a NATS JetStream cluster share their rooms.
//   embed-chat --transport ws,sse,longpoll,mqtt --port 8080 [--cluster nats://127.0.0.1:4222]
//   curl -N http://127.0.0.1:8080/sse/rooms/lobby & curl -d hello :8080/chat/rooms/lobby
#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tickcast/cluster/nats_backplane.h"
#include "tickcast/launch/flags.h"
#include "tickcast/launch/stop_signals.h"
#include "tickcast/launch/transports.h"
#include "tickcast/transport/room_key.h"

using namespace tickcast;
using json = nlohmann::ordered_json;

// Every message goes through the backplane, which numbers it in its room: in this process
// (LocalBackplane), or across nodes on NATS JetStream (--cluster). Each node keeps the last
// 100 of each room, for clients that resume.
struct Chat final : Sink {
  struct Room {  // NATS numbers increase per room but skip: no History (contiguous) here
    std::uint64_t seq = 0, dropped = 0;  // the last number, the newest one no longer kept
    std::deque<Message> recent;
  };
  std::unique_ptr<Backplane> backplane;
  std::mutex mutex;  // the same lock orders join replies and broadcasts
  std::map<std::string, Room> rooms;
  launch::Transports* transports = nullptr;

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
    transports->publish(room, r.recent.back());
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
  launch::StopSignals stop;  // first: before any thread starts
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
    chat.backplane = cluster::make_backplane({.servers = nats_servers, .name = "chat"});
    transports.start(chat);
    chat.backplane->start([&](const std::string& room, std::uint64_t seq, const std::string& body) {
      chat.deliver(room, seq, body);
    });
  } catch (const std::exception& e) {
    return std::cerr << "embed-chat: " << e.what() << '\n', 1;
  }
  std::cout << "embed-chat: " << transports.describe() << std::endl;
  stop.wait();
  chat.backplane->stop();
}
