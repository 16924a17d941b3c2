// embed-chat: what any client sends reaches every client of its room, whatever transport
// each one uses. WebSocket clients send on their socket, MQTT clients publish to the room's
// commands topic, SSE and long-poll clients POST to /chat/rooms/{room} (a route of the app).
//
//   embed-chat --transport ws,sse,longpoll,mqtt --port 8080 --mqtt-port 1883
//   curl -N http://127.0.0.1:8080/sse/rooms/lobby &
//   curl -d 'hello' http://127.0.0.1:8080/chat/rooms/lobby
#include <chrono>
#include <csignal>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tickcast/longpoll/longpoll_transport.h"
#include "tickcast/mqtt/mqtt_transport.h"
#include "tickcast/sse/sse_transport.h"
#include "tickcast/transport/room_key.h"
#include "tickcast/ws/ws_transport.h"

namespace {

using tickcast::Message, tickcast::MessageKind, tickcast::make_payload;
volatile std::sig_atomic_t stopping = 0;

// quoted renders text as a JSON string.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c >= 0x20) out += static_cast<char>(c);
    if (c < 0x20) out += "\\u00" + std::string{"01"[c >> 4], "0123456789abcdef"[c & 15]};
  }
  return out + '"';
}

// Chat keeps each room's sequence and last 100 messages (for clients that resume).
class Chat final : public tickcast::Sink {
 public:
  explicit Chat(std::vector<std::unique_ptr<tickcast::Transport>>& transports)
      : transports_(transports) {}

  // post broadcasts `text` from a client of `transport` to every client of `room`. Any thread.
  std::uint64_t post(const std::string& room, std::string_view text, std::string_view transport) {
    std::lock_guard lock(mutex_);
    Room& r = rooms_[room];
    const Message m{
        .seq = ++r.seq,
        .payload = make_payload(R"({"type":"message","room":")" + room + R"(","seq":)" +
                                std::to_string(r.seq) + R"(,"from":)" + quoted(transport) +
                                R"(,"text":)" + quoted(text) + "}")};
    r.recent.push_back(m);
    if (r.recent.size() > 100) r.recent.pop_front();
    for (auto& t : transports_) t->publish(room, m);
    return m.seq;
  }

  // The join reply: a resuming client gets what it missed, while we have it; a new one a
  // welcome snapshot. Either leaves it at a position; broadcasts after it follow.
  void on_subscribe(std::string room, std::optional<std::uint64_t> resume_after,
                    tickcast::ClientRef client) override {
    std::lock_guard lock(mutex_);
    Room& r = rooms_[room];
    if (resume_after && *resume_after <= r.seq &&
        (r.recent.empty() ? r.seq : r.recent.front().seq - 1) <= *resume_after) {
      return client->join(tickcast::JoinReply::backlog(
          {r.recent.end() - static_cast<long>(r.seq - *resume_after), r.recent.end()},
          *resume_after));
    }
    client->join(tickcast::JoinReply::snapshot(
        {.seq = r.seq,
         .payload = make_payload(R"({"type":"welcome","room":")" + room + R"(","seq":)" +
                                 std::to_string(r.seq) + "}"),
         .kind = MessageKind::snapshot}));
  }
  // What ws and MQTT clients send. Threads: the transport's (lws loop, mosquitto loop).
  void on_message(std::string room, std::string payload, tickcast::ClientRef client) override {
    if (!tickcast::valid_room_name(room) || payload.empty()) {
      return client->send({{.payload = make_payload(R"({"type":"error","error":"empty message"})"),
                            .kind = MessageKind::error}});
    }
    post(room, payload, client->transport());
  }

 private:
  struct Room {
    std::uint64_t seq = 0;
    std::deque<Message> recent;
  };
  std::mutex mutex_;
  std::map<std::string, Room> rooms_;
  std::vector<std::unique_ptr<tickcast::Transport>>& transports_;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flag{
      {"--transport", "ws"}, {"--host", "127.0.0.1"}, {"--port", "8080"}, {"--mqtt-port", "1883"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!flag.count(argv[i])) return std::cerr << "unknown flag " << argv[i] << '\n', 2;
    flag[argv[i]] = argv[i + 1];
  }
  std::signal(SIGINT, [](int) { stopping = 1; });
  std::signal(SIGTERM, [](int) { stopping = 1; });
  std::signal(SIGPIPE, SIG_IGN);

  tickcast::http::ServerOptions http_options;
  http_options.host = flag["--host"];
  http_options.port = std::stoi(flag["--port"]);
  tickcast::mqtt::MqttOptions mqtt_options;  // without broker_url: starts its own mosquitto
  mqtt_options.host = flag["--host"];
  mqtt_options.port = std::stoi(flag["--mqtt-port"]);
  tickcast::http::Server server(http_options);
  std::vector<std::unique_ptr<tickcast::Transport>> transports;
  Chat chat(transports);
  // SSE and long-poll clients send here. Threads: the http service thread; must not block.
  server.route("POST", "/chat/rooms/{room}", [&](const auto& request, auto responder) {
    const std::string& room = request.params.at("room");
    if (!tickcast::valid_room_name(room) || request.body.empty()) {
      return responder.respond(
          server.failure(tickcast::FailureCode::bad_request, "POST a message to a valid room"));
    }
    const auto seq = chat.post(room, request.body, "http");
    tickcast::http::Response response;
    response.body = R"({"success":true,"seq":)" + std::to_string(seq) + "}";
    responder.respond(std::move(response));
  });
  try {
    server.start();
    std::istringstream list(flag["--transport"]);
    for (std::string name; std::getline(list, name, ',');) {
      if (name == "ws") transports.push_back(std::make_unique<tickcast::ws::WsTransport>(server));
      if (name == "sse")
        transports.push_back(std::make_unique<tickcast::sse::SseTransport>(server));
      if (name == "longpoll")
        transports.push_back(std::make_unique<tickcast::longpoll::LongPollTransport>(server));
      if (name == "mqtt")
        transports.push_back(std::make_unique<tickcast::mqtt::MqttTransport>(mqtt_options));
    }
    for (auto& t : transports) t->start(chat);
  } catch (const std::exception& e) {
    return std::cerr << "embed-chat: " << e.what() << '\n', 1;
  }
  std::cout << "embed-chat: on " << server.base_url() << " (" << flag["--transport"] << ")"
            << std::endl;

  while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& t : transports) t->stop();
  server.stop();
}
