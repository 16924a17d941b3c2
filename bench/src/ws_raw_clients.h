#pragma once
// WebSocket clients on the bench's own epoll loop (see ws_raw_clients.cpp), with hooks for
// a protocol carried in the frames (Socket.IO: socketio_clients.cpp).

#include <cstdint>
#include <string>
#include <string_view>

#include "stream_clients.h"

namespace tickcast::bench {

/// client_frame returns a masked client frame with `opcode` and `payload`.
std::string client_frame(std::uint8_t opcode, std::string_view payload);

/// WsRawClients does the HTTP upgrade and parses unmasked server frames in place; pings are
/// answered. By default each text frame is one event and a command is one text frame.
/// Threads: as StreamClients. Final classes call stop() in their destructor.
class WsRawClients : public StreamClients {
 public:
  using StreamClients::StreamClients;

  bool send_command(std::string_view json) override;

 protected:
  /// request_path is the path (and query) of the upgrade request.
  virtual std::string request_path() const { return "/rooms/" + endpoint_.room; }
  /// on_text handles one whole text message; false (with `error`) closes the client.
  virtual bool on_text(Conn& conn, std::string_view text, std::int64_t received_us,
                       std::string& error) {
    (void)error;
    deliver(conn, text, received_us);
    return true;
  }
  /// command_text is the text frame that carries a command.
  virtual std::string command_text(std::string_view json) const { return std::string(json); }

  std::string greeting(Conn& conn) override;
  bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) override;
};

}  // namespace tickcast::bench
