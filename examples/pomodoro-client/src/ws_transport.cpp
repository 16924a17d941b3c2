// ws: one WebSocket on ws://HOST:PORT/rooms/{room}; commands and replies on it.
#include <atomic>
#include <chrono>

#include "tickcast/client/ws_client.h"
#include "transport.h"

namespace tickcast::client {

namespace {

class WsTransport final : public ClientTransport {
 public:
  WsTransport(const Endpoint& endpoint, Events& events)
      : endpoint_(endpoint),
        events_(events),
        url_("ws://" + endpoint.host + ":" + std::to_string(endpoint.port) + "/rooms/" +
             endpoint.room) {}

  std::string url() const override { return url_; }

  std::optional<std::string> start() override {
    WsConnectOptions options;
    if (!endpoint_.origin.empty()) options.origin = endpoint_.origin;
    options.on_message = [this](WsMessage&& msg) {
      events_.on_message(std::move(msg.data), false);
    };
    options.on_state = [this](WsState state) {
      if (state != WsState::closed || stopping_.load()) return;
      auto code = conn_.close_code();
      std::string text = "connection to " + url_ + " closed";
      if (code) {
        text += " by the server (" + std::to_string(*code);
        const std::string reason = conn_.close_reason();
        if (!reason.empty()) text += " " + reason;
        text += ")";
      } else if (!conn_.error().empty()) {
        text += ": " + conn_.error();
      }
      events_.on_fatal(std::move(text));
    };
    conn_ = pool_.connect(url_, std::move(options));
    if (conn_.wait_open(std::chrono::seconds(10))) return std::nullopt;
    if (conn_.state() == WsState::connecting) return "timed out";
    if (const int status = conn_.http_status(); status != 0) {
      return "HTTP " + std::to_string(status) + " (upgrade refused)";
    }
    if (auto err = tcp_connect_error(endpoint_.host, endpoint_.port)) return *err;
    return conn_.error().empty() ? std::string("connection failed") : conn_.error();
  }

  void send(const std::string& command_json) override {
    if (!conn_.send_text(command_json)) events_.on_notice("not connected; command not sent");
  }

  void stop() override {
    stopping_.store(true);
    conn_.close(1000, "bye");
    conn_.wait_closed(std::chrono::seconds(2));
  }

 private:
  Endpoint endpoint_;
  Events& events_;
  std::string url_;
  std::atomic<bool> stopping_{false};
  WsClientPool pool_;  // declared before conn_: the connection is dropped first
  WsConnection conn_;
};

}  // namespace

std::unique_ptr<ClientTransport> make_ws_transport(const Endpoint& endpoint, Events& events) {
  return std::make_unique<WsTransport>(endpoint, events);
}

}  // namespace tickcast::client
