// embed-ticker: this machine's load and memory, every --interval-ms, to every client of one
// room, on the transports of --transport. No timer, no Hub: the app is its own Sink.
//   embed-ticker --transport ws,sse,longpoll,mqtt --port 8080 --room machine
//   curl -N http://127.0.0.1:8080/sse/rooms/machine
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tickcast/longpoll/longpoll_transport.h"
#include "tickcast/mqtt/mqtt_transport.h"
#include "tickcast/sse/sse_transport.h"
#include "tickcast/ws/ws_transport.h"

using namespace tickcast;
volatile std::sig_atomic_t stopping = 0;

// Joins get the latest reading (or nothing, when they have it); other rooms are refused.
struct Ticker final : Sink {
  std::mutex mutex;
  std::string room;
  std::vector<std::unique_ptr<Transport>> transports;
  Message latest{.seq = 0, .payload = nullptr, .droppable = true};  // newer readings supersede it

  void publish(const nlohmann::ordered_json& reading) {
    std::lock_guard lock(mutex);  // with the join replies: nobody gets a reading twice
    nlohmann::ordered_json event{{"event", "load"}, {"room", room}, {"seq", ++latest.seq}};
    event.insert(reading.begin(), reading.end());
    latest.payload = make_payload(event.dump());
    for (auto& t : transports) t->publish(room, latest);
  }
  void on_subscribe(std::string asked, std::optional<std::uint64_t> has, ClientRef c) override {
    if (asked != room) {
      const Failure no{FailureCode::bad_room, "no such room; try " + room};
      return c->join(JoinReply::refused(no, make_payload(encode_failure(no, {}))));
    }
    std::lock_guard lock(mutex);
    if (has && *has == latest.seq) return c->join(JoinReply::backlog({}, latest.seq));
    c->join(JoinReply::snapshot({latest.seq, latest.payload, false, MessageKind::snapshot}));
  }
  void on_message(std::string, std::string, ClientRef c) override {
    c->send({{.payload = make_payload(R"({"error":"this room is read-only"})"),
              .kind = MessageKind::error}});
  }
};

nlohmann::ordered_json reading() {
  double load[3] = {};
  std::ifstream("/proc/loadavg") >> load[0] >> load[1] >> load[2];
  nlohmann::ordered_json out{{"load1", load[0]}, {"load5", load[1]}, {"load15", load[2]}};
  std::map<std::string, long> mem;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key >> mem[key] && meminfo.ignore(64, '\n');) {
  }
  out["mem_total_kb"] = mem["MemTotal:"];
  out["mem_available_kb"] = mem["MemAvailable:"];
  out["server_time_us"] = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  return out;
}

int main(int argc, char** argv) {
  CLI::App app("embed-ticker");
  std::vector<std::string> names{"ws"};
  http::ServerOptions http;  // the one port of ws, sse and longpoll
  mqtt::MqttOptions mqtt;    // without broker_url: starts its own mosquitto
  Ticker ticker;
  ticker.room = "machine";
  int interval_ms = 1000;
  app.add_option("--transport", names)->delimiter(',');
  app.add_option("--host", http.host)->each([&](const std::string& h) { mqtt.host = h; });
  app.add_option("--port", http.port);
  app.add_option("--mqtt-port", mqtt.port);
  app.add_option("--room", ticker.room);
  app.add_option("--interval-ms", interval_ms);
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, [](int) { stopping = 1; });
  std::signal(SIGTERM, [](int) { stopping = 1; });
  std::signal(SIGPIPE, SIG_IGN);

  http::Server server(http);
  ticker.publish(reading());
  try {
    server.start();
    for (const auto& name : names) {
      if (name == "ws") ticker.transports.push_back(std::make_unique<ws::WsTransport>(server));
      if (name == "sse") ticker.transports.push_back(std::make_unique<sse::SseTransport>(server));
      if (name == "longpoll")
        ticker.transports.push_back(std::make_unique<longpoll::LongPollTransport>(server));
      if (name == "mqtt") ticker.transports.push_back(std::make_unique<mqtt::MqttTransport>(mqtt));
    }
    for (auto& t : ticker.transports) t->start(ticker);
  } catch (const std::exception& e) {
    return std::cerr << "embed-ticker: " << e.what() << '\n', 1;
  }
  std::cout << "embed-ticker: room " << ticker.room << " on " << server.base_url() << std::endl;
  while (!stopping) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    ticker.publish(reading());
  }
  for (auto& t : ticker.transports) t->stop();
  ticker.transports.clear();  // before the server they run on
}
