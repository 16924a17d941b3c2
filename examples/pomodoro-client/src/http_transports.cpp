// sse and longpoll: events over HTTP with cpp-httplib's blocking client on one thread
// per stream (one stream per client process, so a thread is the simple choice here);
// commands over REST (POST /api/rooms/{room}/commands).
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "sse/sse_parser.h"
#include "transport.h"

namespace tickcast::client {

namespace {

using namespace std::chrono_literals;

constexpr auto kStartTimeout = 10s;
constexpr auto kMaxBackoff = 10s;

std::string base_url(const Endpoint& e) {
  return "http://" + e.host + ":" + std::to_string(e.port);
}

// describe_failure turns a failed request into words, asking the OS for the precise
// reason when the TCP connect itself failed.
std::string describe_failure(const Endpoint& e, httplib::Error error) {
  if (error == httplib::Error::Connection || error == httplib::Error::ConnectionTimeout) {
    if (auto err = tcp_connect_error(e.host, e.port)) return *err;
  }
  return "request failed (" + httplib::to_string(error) + ")";
}

// describe_status turns a non-2xx answer into "HTTP 404: unknown room".
std::string describe_status(int status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    for (const char* key : {"error", "message"}) {
      if (j.contains(key) && j[key].is_string()) return text + ": " + j[key].get<std::string>();
    }
  }
  if (!body.empty() && body.size() < 200) text += ": " + body;
  return text;
}

// post_command sends one command over REST; error replies go to events as JSON.
void post_command(const Endpoint& e, Events& events, const std::string& command_json) {
  httplib::Client cli(e.host, e.port);
  cli.set_connection_timeout(5s);
  cli.set_read_timeout(10s);
  const std::string path = "/api/rooms/" + e.room + "/commands";
  auto res = cli.Post(path.c_str(), command_json, "application/json");
  if (!res) {
    events.on_notice("cannot send command to " + base_url(e) + path + ": " +
                     describe_failure(e, res.error()));
    return;
  }
  if (res->status >= 200 && res->status < 300) return;  // the event arrives on the stream
  auto body = nlohmann::ordered_json::parse(res->body, nullptr, false);
  if (body.is_object() && body.contains("success")) {
    events.on_message(res->body, false);
    return;
  }
  nlohmann::ordered_json error{{"event", "timer"},
                               {"success", false},
                               {"data", nullptr},
                               {"error", describe_status(res->status, res->body)},
                               {"code", "http_" + std::to_string(res->status)}};
  auto cmd = nlohmann::json::parse(command_json, nullptr, false);
  if (cmd.is_object() && cmd.contains("request_id")) error["request_id"] = cmd["request_id"];
  events.on_message(error.dump(), false);
}

// StreamBase runs one receiving thread with reconnects and back-off, and reports the
// outcome of the first connection to start().
class StreamBase : public ClientTransport {
 public:
  StreamBase(const Endpoint& endpoint, Events& events) : endpoint_(endpoint), events_(events) {}
  ~StreamBase() override { stop(); }

  std::optional<std::string> start() override {
    auto started = started_.get_future();
    thread_ = std::thread([this] { run(); });
    if (started.wait_for(kStartTimeout) != std::future_status::ready) return "timed out";
    return started.get();
  }

  void send(const std::string& command_json) override {
    post_command(endpoint_, events_, command_json);
  }

  void stop() override {
    {
      std::unique_lock lock(mu_);
      stopping_ = true;
      cv_.notify_all();
      // A request can open its socket just after a shutdown (between attempt()'s check of
      // stopping() and the request), and a parked poll then waits 25 s: shut the current
      // request down until the thread has ended.
      while (thread_.joinable() && !finished_) {
        if (current_ != nullptr) current_->stop();
        cv_.wait_for(lock, 50ms);
      }
    }
    if (thread_.joinable()) thread_.join();
  }

 protected:
  // One connection attempt; returns when the stream/poll ends. Calls connected() once
  // events flow, and reports failure through the return value.
  virtual std::optional<std::string> attempt(httplib::Client& cli) = 0;

  void connected() {
    backoff_ = 250ms;
    if (!started_set_) {
      started_set_ = true;
      started_.set_value(std::nullopt);
    }
  }
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  Endpoint endpoint_;
  Events& events_;

 private:
  void run() {
    struct Finished {  // tells stop() the thread is past its last request, however it ends
      StreamBase& self;
      ~Finished() {
        std::lock_guard lock(self.mu_);
        self.finished_ = true;
        self.cv_.notify_all();
      }
    } finished{*this};
    while (!stopping()) {
      httplib::Client cli(endpoint_.host, endpoint_.port);
      cli.set_connection_timeout(5s);
      cli.set_read_timeout(40s);  // the server sends something at least every 15 s
      cli.set_keep_alive(true);
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        current_ = &cli;
      }
      auto failure = attempt(cli);
      {
        std::lock_guard lock(mu_);
        current_ = nullptr;
        if (stopping_) break;
      }
      if (!started_set_) {
        started_set_ = true;
        started_.set_value(failure ? *failure : "connection closed at once");
        return;
      }
      events_.on_notice((failure ? *failure : std::string("stream ended")) + "; reconnecting in " +
                        std::to_string(backoff_.count()) + " ms");
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, backoff_, [&] { return stopping_; });
      backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, kMaxBackoff);
    }
    if (!started_set_) {
      started_set_ = true;
      started_.set_value("stopped");
    }
  }

  std::thread thread_;
  std::promise<std::optional<std::string>> started_;
  bool started_set_ = false;  // stream thread only
  std::chrono::milliseconds backoff_{250};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool finished_ = false;  // run() has returned
  httplib::Client* current_ = nullptr;
};

class SseTransport final : public StreamBase {
 public:
  using StreamBase::StreamBase;
  ~SseTransport() override { stop(); }  // joins before attempt() goes away
  std::string url() const override { return base_url(endpoint_) + path(); }

 private:
  std::string path() const { return "/sse/rooms/" + endpoint_.room; }

  std::optional<std::string> attempt(httplib::Client& cli) override {
    httplib::Headers headers{{"Accept", "text/event-stream"}};
    if (!last_event_id_.empty()) headers.emplace("Last-Event-ID", last_event_id_);
    int status = 0;
    std::string error_body;
    support::SseParser parser;
    std::string unread;  // a partial line, until the rest of it arrives
    auto res = cli.Get(
        path().c_str(), headers,
        [&](const httplib::Response& response) {
          status = response.status;
          if (status == 200) connected();
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (status != 200) {
            error_body.append(data, n);
            return true;
          }
          unread.append(data, n);
          parser.feed(unread, [&](const support::SseBlock& ev) {
            if (ev.data.empty()) return;  // no event without data (a `retry:` alone)
            if (!ev.id.empty()) last_event_id_ = ev.id;
            if (ev.event.empty() || ev.event == "timer") events_.on_message(ev.data, false);
          });
          return !stopping();
        });
    if (status != 0 && status != 200) return describe_status(status, error_body);
    if (!res && status == 0) return describe_failure(endpoint_, res.error());
    return std::nullopt;
  }

  std::string last_event_id_;  // stream thread only
};

class LongpollTransport final : public StreamBase {
 public:
  using StreamBase::StreamBase;
  ~LongpollTransport() override { stop(); }  // joins before attempt() goes away
  std::string url() const override { return base_url(endpoint_) + base_path(); }

 private:
  std::string base_path() const { return "/poll/rooms/" + endpoint_.room; }

  // Polls until a request fails; keeps `since_` across reconnects for resume.
  std::optional<std::string> attempt(httplib::Client& cli) override {
    while (!stopping()) {
      std::string path = base_path();
      if (since_) path += "?since=" + std::to_string(*since_) + "&timeout_ms=25000";
      auto res = cli.Get(path.c_str());
      if (!res) return describe_failure(endpoint_, res.error());
      if (res->status != 200) {
        if (res->status == 400 && since_) since_.reset();  // e.g. server restarted: resync
        return describe_status(res->status, res->body);
      }
      auto body = nlohmann::ordered_json::parse(res->body, nullptr, false);
      if (!body.is_object() || !body.contains("events") || !body["events"].is_array()) {
        return "bad long-poll response: " + res->body.substr(0, 200);
      }
      connected();
      for (const auto& ev : body["events"]) events_.on_message(ev.dump(), false);
      if (body.contains("next") && body["next"].is_number_unsigned()) {
        since_ = body["next"].get<std::uint64_t>();
      } else if (!body["events"].empty() && body["events"].back().contains("seq")) {
        since_ = body["events"].back()["seq"].get<std::uint64_t>();
      }
    }
    return std::nullopt;
  }

  std::optional<std::uint64_t> since_;  // stream thread only
};

}  // namespace

std::unique_ptr<ClientTransport> make_sse_transport(const Endpoint& endpoint, Events& events) {
  return std::make_unique<SseTransport>(endpoint, events);
}

std::unique_ptr<ClientTransport> make_longpoll_transport(const Endpoint& endpoint, Events& events) {
  return std::make_unique<LongpollTransport>(endpoint, events);
}

}  // namespace tickcast::client
