// embed-ticker: this machine's load and memory, every --interval-ms, to every client of one
// room, on the transports of --transport. No timer, no Hub: the app is its own Sink.
//   embed-ticker --transport ws,sse,longpoll,mqtt --port 8080 --room machine
//   curl -N http://127.0.0.1:8080/sse/rooms/machine
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tickcast/launch/flags.h"
#include "tickcast/launch/transports.h"
#include "tickcast/transport/stop_signals.h"

using namespace tickcast;

// Joins get the latest reading (or nothing, when they have it); other rooms are refused.
struct Ticker final : Sink {
  std::mutex mutex;
  std::string room;
  Message latest{.seq = 0, .payload = nullptr, .droppable = true};  // newer readings supersede it
  launch::Transports* transports = nullptr;

  void publish(const nlohmann::ordered_json& reading) {
    std::lock_guard lock(mutex);  // with the join replies: nobody gets a reading twice
    nlohmann::ordered_json event{{"event", "load"}, {"room", room}, {"seq", ++latest.seq}};
    event.insert(reading.begin(), reading.end());
    latest.payload = make_payload(event.dump());
    transports->publish(room, latest);
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
  StopSignals stop;  // first: before any thread starts
  CLI::App app("embed-ticker");
  launch::Options options;
  Ticker ticker;
  ticker.room = "machine";
  int interval_ms = 1000;
  launch::add_flags(app, options);
  app.add_option("--room", ticker.room);
  app.add_option("--interval-ms", interval_ms);
  CLI11_PARSE(app, argc, argv);

  launch::Transports transports(options);  // after the Sink: stopped before it goes
  ticker.transports = &transports;
  ticker.publish(reading());
  try {
    transports.start(ticker);
  } catch (const std::exception& e) {
    return std::cerr << "embed-ticker: " << e.what() << '\n', 1;
  }
  std::cout << "embed-ticker: room " << ticker.room << ", " << transports.describe() << std::endl;
  while (!stop.wait_for(std::chrono::milliseconds(interval_ms))) ticker.publish(reading());
}
