// client_cli_test: runs tickcast-client as a subprocess against a real tickcast-server
// (and against closed ports) and checks what it prints and how it exits.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process/child_process.h"
#include "process/ports.h"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using tickcast::support::ChildProcess;
using tickcast::support::free_port;

// Process is the tickcast-client under test (a support::ChildProcess with stdin, stdout and
// stderr piped), read line by line. Threads: one test thread.
class Process {
 public:
  explicit Process(std::vector<std::string> argv)
      : child_({.argv = std::move(argv),
                .output = tickcast::support::ChildOptions::Output::pipe,
                .stdin_pipe = true,
                .stderr_pipe = true,
                .die_with_parent = true,
                .stop_grace = 0ms}) {}

  void write_line(const std::string& line) { ASSERT_TRUE(child_.write_stdin(line + "\n")); }
  void close_stdin() { child_.close_stdin(); }
  void signal(int sig) { child_.signal(sig); }

  // wait_for_line waits until a stdout line satisfies `pred`; returns it.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (auto line = child_.read_line(
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) {
      if (pred(*line)) return line;
    }
    return std::nullopt;
  }
  // wait_exit waits for the exit code (128 + signal when killed); nullopt on timeout.
  // Its output is read meanwhile, so that a full pipe never holds it up.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::optional<int> status;
    while (!(status = child_.wait(20ms)) && Clock::now() < deadline) {
      child_.output();
      child_.errors();
    }
    if (!status) return std::nullopt;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }

  std::vector<std::string> lines() {
    std::vector<std::string> out;
    std::istringstream text(child_.output());
    for (std::string line; std::getline(text, line);) out.push_back(line);
    return out;
  }
  std::string err() { return child_.errors(); }
  std::string out_text() { return child_.output(); }

 private:
  ChildProcess child_;
};

// DataDir is an empty folder for one server's room store, so that servers run side by side
// (ctest -j) neither share rooms nor meet each other's lock; removed when it goes.
struct DataDir {
  DataDir() : path(std::filesystem::temp_directory_path() / "tickcast-client-data-XXXXXX") {
    if (!::mkdtemp(path.data())) throw std::runtime_error("mkdtemp failed");
  }
  ~DataDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;
  std::string path;
};

// Server is tickcast-server on free ports and a fresh data folder, ready once /healthz
// answers 200.
class Server {
 public:
  Server()
      : port_(free_port()),
        mqtt_port_(free_port()),
        process_(
            {.argv = {TICKCAST_SERVER_BIN, "--host", "127.0.0.1", "--port", std::to_string(port_),
                      "--transport", "all", "--mqtt-port", std::to_string(mqtt_port_),
                      "--mqtt-ws-port", "0", "--tick-ms", "50", "--data-dir", data_dir_.path},
             .die_with_parent = true,
             .stop_grace = 0ms}) {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_connection_timeout(1s);
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
      if (auto res = cli.Get("/healthz"); res && res->status == 200) {
        if (auto config = cli.Get("/api/config"); config && config->status == 200) {
          auto j = nlohmann::json::parse(config->body, nullptr, false);
          if (j.is_object() && j["transports"].is_array()) {
            for (const auto& t : j["transports"]) transports_.push_back(t.get<std::string>());
          }
        }
        return;
      }
      if (auto status = process_.wait(50ms)) {  // also paces the retries
        throw std::runtime_error("tickcast-server exited (status " + std::to_string(*status) +
                                 "): " + process_.output());
      }
    }
    throw std::runtime_error("tickcast-server not healthy within 15 s: " + process_.output());
  }
  int port() const { return port_; }
  int mqtt_port() const { return mqtt_port_; }
  bool has(const std::string& transport) const {
    return std::find(transports_.begin(), transports_.end(), transport) != transports_.end();
  }

 private:
  int port_;
  int mqtt_port_;
  DataDir data_dir_;  // declared before process_: removed after the server is gone
  ChildProcess process_;
  std::vector<std::string> transports_;
};

std::vector<std::string> client_args(const Server& server, const std::string& transport,
                                     const std::string& room, std::vector<std::string> extra) {
  std::vector<std::string> args{TICKCAST_CLIENT_BIN,
                                "--transport",
                                transport,
                                "--port",
                                std::to_string(server.port()),
                                "--room",
                                room,
                                "--mqtt-broker",
                                "mqtt://127.0.0.1:" + std::to_string(server.mqtt_port()),
                                "--timeout",
                                "20"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class ClientCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!server_.has(GetParam())) GTEST_SKIP() << "server has no " << GetParam() << " yet";
  }
  std::string room(const std::string& base) const { return base + "_" + GetParam(); }
  Server server_;
};

TEST_P(ClientCliTest, CommandStartOncePrintsSnapshotThenStart) {
  Process client(client_args(server_, GetParam(), room("once"), {"--command", "start", "--once"}));
  ASSERT_EQ(client.wait_exit(20s), 0) << client.out_text() << client.err();
  ASSERT_FALSE(client.lines().empty());
  const std::string last = client.lines().back();
  EXPECT_TRUE(contains(last, room("once") + " #")) << last;
  EXPECT_TRUE(contains(last, "  work  00:25:00  running  (start)")) << last;
  if (GetParam() != "mqtt") {  // mqtt has no snapshot on join for a new room
    EXPECT_TRUE(contains(client.lines().front(), "stopped  (snapshot)")) << client.out_text();
  }
}

TEST_P(ClientCliTest, SecondStartPrintsErrorAndFails) {
  Process first(client_args(server_, GetParam(), room("twice"), {"--command", "start", "--once"}));
  ASSERT_EQ(first.wait_exit(20s), 0) << first.err();
  Process second(client_args(server_, GetParam(), room("twice"), {"--command", "start", "--once"}));
  ASSERT_EQ(second.wait_exit(20s), 1) << second.out_text() << second.err();
  EXPECT_TRUE(contains(second.out_text(), "error already_running: Timer already started"))
      << second.out_text();
}

TEST_P(ClientCliTest, JsonPrintsRawEvents) {
  Process client(
      client_args(server_, GetParam(), room("json"), {"--json", "--command", "start", "--once"}));
  ASSERT_EQ(client.wait_exit(20s), 0) << client.err();
  auto j = nlohmann::json::parse(client.lines().back(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << client.lines().back();
  EXPECT_EQ(j["room"], room("json"));
  EXPECT_EQ(j["reason"], "start");
  EXPECT_EQ(j["state"]["running"], true);
}

TEST_P(ClientCliTest, StdinCommandsThenSigtermExitsCleanly) {
  Process client(client_args(server_, GetParam(), room("stdin"), {}));
  if (GetParam() != "mqtt") {
    ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "(snapshot)"); }, 10s))
        << client.err();
  }  // mqtt: no event on join; the client reads stdin only once it has subscribed
  client.write_line("start");
  ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "running  (start)"); }, 10s))
      << client.out_text() << client.err();
  ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "running  (tick)"); }, 10s));
  client.write_line("bogus");
  client.write_line("stop");
  ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "stopped  (stop)"); }, 10s))
      << client.out_text() << client.err();
  client.signal(SIGTERM);
  EXPECT_EQ(client.wait_exit(10s), 0);
  EXPECT_TRUE(contains(client.err(), "unknown command 'bogus'")) << client.err();
}

INSTANTIATE_TEST_SUITE_P(Transports, ClientCliTest,
                         ::testing::Values("ws", "sse", "longpoll", "mqtt"),
                         [](const auto& info) { return info.param; });

class UnreachableTest : public ::testing::TestWithParam<std::string> {};

TEST_P(UnreachableTest, ClosedPortExitsNonZeroWithClearMessage) {
  const int port = free_port();
  const std::string p = std::to_string(port);
  Process client({TICKCAST_CLIENT_BIN, "--transport", GetParam(), "--port", p, "--mqtt-broker",
                  "mqtt://127.0.0.1:" + p});
  ASSERT_EQ(client.wait_exit(10s), 1);
  const std::map<std::string, std::string> url{
      {"ws", "ws://127.0.0.1:" + p + "/rooms/focus"},
      {"sse", "http://127.0.0.1:" + p + "/sse/rooms/focus"},
      {"longpoll", "http://127.0.0.1:" + p + "/poll/rooms/focus"},
      {"mqtt", "mqtt://127.0.0.1:" + p + "/tickcast/rooms/focus/events"}};
  EXPECT_EQ(client.err(),
            "tickcast-client: cannot connect to " + url.at(GetParam()) + ": connection refused\n");
  EXPECT_TRUE(client.lines().empty());
}

INSTANTIATE_TEST_SUITE_P(Transports, UnreachableTest,
                         ::testing::Values("ws", "sse", "longpoll", "mqtt"),
                         [](const auto& info) { return info.param; });

TEST(ClientArgsTest, BadRoomIsRejectedBeforeConnecting) {
  Process client({TICKCAST_CLIENT_BIN, "--room", "no/slash"});
  EXPECT_EQ(client.wait_exit(10s), 2);
  EXPECT_TRUE(contains(client.err(), "bad room name 'no/slash'")) << client.err();
}

// FakeHttpServer plays the server side of sse, longpoll and REST by the contract, so the
// client's HTTP transports are checked before (and apart from) the real ones.
class FakeHttpServer {
 public:
  FakeHttpServer() {
    server_.Get("/sse/rooms/fake", [this](const httplib::Request& req, httplib::Response& res) {
      std::string last_id = req.get_header_value("Last-Event-ID");
      {
        std::lock_guard lock(mu_);
        sse_last_ids_.push_back(last_id);
      }
      std::string body;
      if (last_id.empty()) {
        // A first stream: retry, two events (one split over lines), a comment; then it ends.
        body = "retry: 100\n\nid: 1\nevent: timer\ndata: " + event(1, "snapshot") +
               "\n\n: keepalive\n\nid: 2\r\nevent: timer\r\ndata: " + event(2, "tick") + "\r\n\r\n";
      } else {
        body = "id: 3\nevent: timer\ndata: " + event(3, "start") + "\n\n";
      }
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, body, resumed = !last_id.empty()](std::size_t offset, httplib::DataSink& sink) {
            if (offset == 0) sink.write(body.data(), body.size());
            if (!resumed) {
              sink.done();  // end the first stream: the client must resume
              return true;
            }
            std::unique_lock lock(mu_);  // hold the resumed stream open until teardown
            cv_.wait(lock, [&] { return stopping_; });
            sink.done();
            return true;
          });
    });
    server_.Get("/poll/rooms/fake", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        poll_targets_.push_back(req.target);
      }
      const std::string since = req.get_param_value("since");
      if (since.empty()) {
        res.set_content(R"({"events":[)" + event(5, "snapshot") + R"(],"next":5})",
                        "application/json");
      } else if (since == "5") {
        res.set_content(
            R"({"events":[)" + event(6, "start") + "," + event(7, "tick") + R"(],"next":7})",
            "application/json");
      } else {
        std::unique_lock lock(mu_);  // a parked poll, woken only by teardown
        cv_.wait(lock, [&] { return stopping_; });
        res.set_content(R"({"events":[],"next":7})", "application/json");
      }
    });
    server_.Post("/api/rooms/fake/commands",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   {
                     std::lock_guard lock(mu_);
                     commands_.push_back(req.body);
                   }
                   res.status = 409;
                   res.set_content(R"({"event":"timer","success":false,"data":null,)"
                                   R"("error":"Timer already started","code":"already_running"})",
                                   "application/json");
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections wait in the backlog until accepted.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeHttpServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> sse_last_ids() {
    std::lock_guard lock(mu_);
    return sse_last_ids_;
  }
  std::vector<std::string> poll_targets() {
    std::lock_guard lock(mu_);
    return poll_targets_;
  }
  std::vector<std::string> commands() {
    std::lock_guard lock(mu_);
    return commands_;
  }

 private:
  static std::string event(int seq, const std::string& reason) {
    nlohmann::ordered_json j{
        {"event", "timer"},   {"success", true},
        {"data", "00:25:00"}, {"error", nullptr},
        {"room", "fake"},     {"seq", seq},
        {"reason", reason},   {"state", {{"phase", "work"}, {"running", reason != "snapshot"}}}};
    return j.dump();
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::string> sse_last_ids_, poll_targets_, commands_;
};

TEST(FakeServerTest, SseParsesEventsAndResumesWithLastEventId) {
  FakeHttpServer fake;
  Process client({TICKCAST_CLIENT_BIN, "--transport", "sse", "--port", std::to_string(fake.port()),
                  "--room", "fake", "--timeout", "20"});
  ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "#3 "); }, 10s))
      << client.out_text() << client.err();
  EXPECT_EQ(client.lines(),
            (std::vector<std::string>{"fake #1  work  00:25:00  stopped  (snapshot)",
                                      "fake #2  work  00:25:00  running  (tick)",
                                      "fake #3  work  00:25:00  running  (start)"}));
  EXPECT_EQ(fake.sse_last_ids(), (std::vector<std::string>{"", "2"}));
  client.write_line("start");
  ASSERT_TRUE(
      client.wait_for_line([](auto& l) { return contains(l, "error already_running"); }, 10s))
      << client.err();
  EXPECT_EQ(fake.commands(), (std::vector<std::string>{R"({"type":"start","request_id":"c1"})"}));
  client.signal(SIGTERM);
  EXPECT_EQ(client.wait_exit(10s), 0);
}

TEST(FakeServerTest, LongpollFollowsNextAndStopsWhileParked) {
  FakeHttpServer fake;
  Process client({TICKCAST_CLIENT_BIN, "--transport", "longpoll", "--port",
                  std::to_string(fake.port()), "--room", "fake", "--timeout", "20"});
  ASSERT_TRUE(client.wait_for_line([](auto& l) { return contains(l, "#7 "); }, 10s))
      << client.out_text() << client.err();
  EXPECT_EQ(client.lines(),
            (std::vector<std::string>{"fake #5  work  00:25:00  stopped  (snapshot)",
                                      "fake #6  work  00:25:00  running  (start)",
                                      "fake #7  work  00:25:00  running  (tick)"}));
  auto targets = fake.poll_targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_EQ(targets[0], "/poll/rooms/fake");
  EXPECT_EQ(targets[1], "/poll/rooms/fake?since=5&timeout_ms=25000");
  client.signal(SIGTERM);  // its next poll (since=7) is parked on the server
  EXPECT_EQ(client.wait_exit(5s), 0);
}

TEST(FakeServerTest, RestErrorReplyEndsOnceWithStatus1) {
  FakeHttpServer fake;
  Process client({TICKCAST_CLIENT_BIN, "--transport", "longpoll", "--port",
                  std::to_string(fake.port()), "--room", "fake", "--command", "start", "--once",
                  "--timeout", "20"});
  EXPECT_EQ(client.wait_exit(20s), 1) << client.out_text() << client.err();
  ASSERT_FALSE(client.lines().empty());
  EXPECT_EQ(client.lines().front(), "fake #5  work  00:25:00  stopped  (snapshot)");
  EXPECT_TRUE(contains(client.out_text(), "error already_running: Timer already started\n"));
  EXPECT_EQ(fake.commands(), (std::vector<std::string>{R"({"type":"start","request_id":"c0"})"}));
}

}  // namespace
