// Socket.IO v4 clients over WebSocket (Engine.IO v4, transport=websocket) on the bench's own
// epoll loop: the same upgrade and frame parsing as the raw ws clients, plus Socket.IO's
// framing: the open packet is answered by a CONNECT to the room's namespace, server pings
// by pongs, and `42/room,["timer",{event},"room:seq"]` carries each event. So the row beside
// ws shows what the Socket.IO protocol itself costs on the same server loop.
#include "ws_raw_clients.h"

namespace tickcast::bench {

namespace {

class SocketIoClients final : public WsRawClients {
 public:
  using WsRawClients::WsRawClients;
  ~SocketIoClients() override { stop(); }

 protected:
  std::string request_path() const override { return "/socket.io/?EIO=4&transport=websocket"; }

  std::string command_text(std::string_view json) const override {
    return "42/" + endpoint_.room + ",[\"command\"," + std::string(json) + "]";
  }

  bool on_text(Conn& conn, std::string_view text, std::int64_t received_us,
               std::string& error) override {
    if (text.empty()) return true;
    switch (text.front()) {
      case '0':  // Engine.IO open: join the room's namespace
        queue_write(conn, client_frame(0x1, "40/" + endpoint_.room + ","));
        return true;
      case '2':  // Engine.IO ping
        queue_write(conn, client_frame(0x1, "3"));
        return true;
      case '4':
        break;
      default:
        return true;
    }
    if (text.size() < 2) return true;
    if (text[1] == '4') {
      error = "CONNECT_ERROR: " + std::string(text);
      return false;
    }
    if (text[1] != '2') return true;  // CONNECT reply, acks
    // 42/room,["timer",{...},"room:seq"]: the event object is the outermost {...}.
    const std::size_t open = text.find('{');
    const std::size_t close = text.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      return true;
    }
    deliver(conn, text.substr(open, close - open + 1), received_us);
    return true;
  }
};

}  // namespace

std::unique_ptr<ClientSet> make_socketio_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<SocketIoClients>(endpoint, n);
}

}  // namespace tickcast::bench
