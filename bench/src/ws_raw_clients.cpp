// WebSocket clients written straight on the bench's epoll loop, beside the libwebsockets
// ones: the HTTP upgrade, then unmasked server frames parsed in place; pings answered,
// commands sent as masked text frames. They share the loop and the parsing cost of the
// tcp, sse and long-poll clients, so the client side is the same for every protocol and
// what differs is the server and the protocol (--ws-client raw).
#include "ws_raw_clients.h"

#include <cstring>
#include <random>

#include "stream_clients.h"
#include "ws_frame.h"

namespace tickcast::bench {

// A masked client frame (RFC 6455 section 5.3); the mask need not be secret here.
std::string client_frame(std::uint8_t opcode, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  static thread_local std::mt19937 random(std::random_device{}());
  const std::uint32_t mask_word = random();
  char mask[4];
  std::memcpy(mask, &mask_word, 4);
  out.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return out;
}

bool WsRawClients::send_command(std::string_view json) {
  post_to_first([this, frame = client_frame(0x1, command_text(json))] {
    if (!conns_.empty() && conns_[0]->fd >= 0) queue_write(*conns_[0], frame);
  });
  return !conns_.empty();
}

std::string WsRawClients::greeting(Conn&) {
  return "GET " + request_path() + " HTTP/1.1\r\nHost: " + endpoint_.host + ":" +
         std::to_string(endpoint_.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
         "dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n";
}

bool WsRawClients::on_bytes(Conn& conn, std::int64_t received_us, std::string& error) {
  if (!conn.upgraded) {
    const std::size_t end = conn.in.find("\r\n\r\n");
    if (end == std::string::npos) return true;
    if (conn.in.compare(0, 12, "HTTP/1.1 101") != 0) {
      error = "upgrade refused: " + conn.in.substr(0, conn.in.find('\r'));
      return false;
    }
    conn.in.erase(0, end + 4);
    conn.upgraded = true;
  }
  std::size_t used = 0;
  for (;;) {
    const WsFrame frame = read_ws_frame(std::string_view(conn.in).substr(used));
    if (frame.status == WsFrame::Status::more) break;
    if (frame.status == WsFrame::Status::error) {
      error = frame.error;
      return false;
    }
    used += frame.size;
    switch (frame.opcode) {
      case 0x0:  // continuation: the server sends whole frames; collect anyway
      case 0x1:
      case 0x2:
        conn.data.append(frame.payload);
        if (frame.fin) {
          if (!on_text(conn, conn.data, received_us, error)) return false;
          conn.data.clear();
        }
        break;
      case 0x8:
        error = "closed by the server";
        return false;
      case 0x9:
        queue_write(conn, client_frame(0xA, frame.payload));
        break;
      default:
        break;
    }
  }
  conn.in.erase(0, used);
  return true;
}

namespace {
class RoomWsClients final : public WsRawClients {
 public:
  using WsRawClients::WsRawClients;
  ~RoomWsClients() override { stop(); }
};
}  // namespace

std::unique_ptr<ClientSet> make_ws_raw_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<RoomWsClients>(endpoint, n);
}

}  // namespace tickcast::bench
