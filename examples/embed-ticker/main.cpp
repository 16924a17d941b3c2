// embed-ticker: broadcasts this machine's load and memory once a second to every client of
// one room, on the transports given with --transport. No timer, no Hub: the app implements
// the Sink itself (joins get the latest reading; clients only listen).
//
//   embed-ticker --transport ws,sse,longpoll,mqtt --port 8080 --mqtt-port 1883 --room machine
//   curl -N http://127.0.0.1:8080/sse/rooms/machine
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
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
#include "tickcast/ws/ws_transport.h"

namespace {

volatile std::sig_atomic_t stopping = 0;

// Ticker answers joins with the latest reading; publish() hands each new one to every transport.
class Ticker final : public tickcast::Sink {
 public:
  Ticker(std::string room, std::vector<std::unique_ptr<tickcast::Transport>>& transports)
      : room_(std::move(room)), transports_(transports) {}

  // publish numbers a reading and broadcasts it. Under the mutex, so a join sees either the
  // reading before it (and then gets this one as an event) or this one (and not twice).
  void publish(const std::string& fields) {
    std::lock_guard lock(mutex_);
    ++seq_;
    latest_.seq = seq_;
    latest_.payload = tickcast::make_payload(R"({"event":"load","room":")" + room_ + R"(","seq":)" +
                                             std::to_string(seq_) + fields + "}");
    latest_.droppable = true;  // a newer reading supersedes it: slow clients may skip it
    for (auto& t : transports_) t->publish(room_, latest_);
  }

  // Threads: transport threads. The join reply: another room is refused; a client that
  // has the latest reading gets nothing more; others get it as a snapshot.
  void on_subscribe(std::string room, std::optional<std::uint64_t> resume_after,
                    tickcast::ClientRef client) override {
    if (room != room_) {
      const tickcast::Failure refusal{tickcast::FailureCode::bad_room,
                                      "no such room; try " + room_};
      return client->join(tickcast::JoinReply::refused(refusal, error(refusal.reason).payload));
    }
    std::lock_guard lock(mutex_);
    if (!latest_.payload || (resume_after && *resume_after == latest_.seq)) {
      return client->join(tickcast::JoinReply::backlog({}, latest_.seq));
    }
    tickcast::Message snapshot = latest_;
    snapshot.kind = tickcast::MessageKind::snapshot;
    client->join(tickcast::JoinReply::snapshot(snapshot));
  }
  void on_message(std::string, std::string, tickcast::ClientRef client) override {
    client->send({error("this room is read-only")});
  }

 private:
  static tickcast::Message error(const std::string& text) {
    return {0, tickcast::make_payload(R"({"event":"error","error":")" + text + "\"}"), false,
            tickcast::MessageKind::error};
  }
  std::mutex mutex_;
  std::string room_;
  std::vector<std::unique_ptr<tickcast::Transport>>& transports_;
  std::uint64_t seq_ = 0;
  tickcast::Message latest_;
};

// reading returns this machine's load and memory as JSON fields.
std::string reading() {
  double load1 = 0, load5 = 0, load15 = 0;
  std::ifstream("/proc/loadavg") >> load1 >> load5 >> load15;
  std::map<std::string, long> mem;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key >> mem[key] && meminfo.ignore(64, '\n');) {
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  std::ostringstream out;
  out << R"(,"load1":)" << load1 << R"(,"load5":)" << load5 << R"(,"load15":)" << load15
      << R"(,"mem_total_kb":)" << mem["MemTotal:"] << R"(,"mem_available_kb":)"
      << mem["MemAvailable:"] << R"(,"server_time_us":)" << us.count();
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flag{{"--transport", "ws"}, {"--host", "127.0.0.1"},
                                          {"--port", "8080"},    {"--mqtt-port", "1883"},
                                          {"--room", "machine"}, {"--interval-ms", "1000"}};
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
  Ticker ticker(flag["--room"], transports);
  ticker.publish(reading());
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
    for (auto& t : transports) t->start(ticker);
  } catch (const std::exception& e) {
    return std::cerr << "embed-ticker: " << e.what() << '\n', 1;
  }
  std::cout << "embed-ticker: room " << flag["--room"] << " on " << server.base_url() << " ("
            << flag["--transport"] << ")" << std::endl;

  const auto interval = std::chrono::milliseconds(std::stoi(flag["--interval-ms"]));
  while (!stopping) {
    std::this_thread::sleep_for(interval);
    ticker.publish(reading());
  }
  for (auto& t : transports) t->stop();
  server.stop();
}
