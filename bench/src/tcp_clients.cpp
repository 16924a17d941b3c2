// Clients of the tcp floor: length-prefixed frames (4-byte big-endian length, then the
// event's JSON) on a plain socket.
#include "frame.h"
#include "stream_clients.h"

namespace tickcast::bench {

namespace {

class TcpClients final : public StreamClients {
 public:
  using StreamClients::StreamClients;
  ~TcpClients() override { stop(); }

  bool send_command(std::string_view json) override {
    std::string frame = encode_frame(json);
    post_to_first([this, frame = std::move(frame)] {
      if (!conns_.empty() && conns_[0]->fd >= 0) queue_write(*conns_[0], frame);
    });
    return !conns_.empty();
  }

 protected:
  std::string greeting(Conn&) override { return {}; }

  bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) override {
    std::size_t used = 0;
    for (;;) {
      auto frame = next_frame(std::string_view(conn.in).substr(used));
      if (!frame) break;
      if (frame->too_large) {
        error = "frame too large";
        return false;
      }
      deliver(conn, frame->payload, received_us);
      used += 4 + frame->payload.size();
    }
    conn.in.erase(0, used);
    return true;
  }
};

}  // namespace

std::unique_ptr<ClientSet> make_tcp_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<TcpClients>(endpoint, n);
}

}  // namespace tickcast::bench
