// The libwebsockets side of the Engine.IO transports: a parked long-poll GET writes its
// answer; a WebSocket reads frames and writes the session's packets, one frame each.
#include <cstring>

#include "impl.h"

namespace tickcast::socketio {

namespace {

bool close_with(lws* wsi, int code, std::string_view reason) {
  lws_close_reason(wsi, static_cast<lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(reason.data())),
                   reason.size());
  return false;
}

bool write_text(lws* wsi, std::vector<unsigned char>& buffer, std::string_view text) {
  if (buffer.size() < LWS_PRE + text.size()) buffer.resize(LWS_PRE + text.size());
  std::memcpy(buffer.data() + LWS_PRE, text.data(), text.size());
  return lws_write(wsi, buffer.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT) >=
         static_cast<int>(text.size());
}

}  // namespace

After PollRequest::on_writable(lws* wsi) {
  if (!answer) return After::keep;
  const bool ok = http::internal::Loop::write_response(wsi, *answer);
  answer.reset();
  return ok ? After::complete : After::close;
}

After WsConn::on_writable(lws* wsi) {
  if (close_code) {
    close_with(wsi, close_code, close_reason);
    return After::close;
  }
  auto& buffer = owner->write_buffer;
  // A WRITEABLE callback guarantees room for one write; the pipe is asked before the others.
  bool first = true;
  while (!direct.empty() && (first || !lws_send_pipe_choked(wsi))) {
    if (!write_text(wsi, buffer, direct.front())) return After::close;
    direct.pop_front();
    first = false;
  }
  const bool carrying = engine && engine->ws == this &&
                        engine->transport == engine::Transport::websocket && !engine->closed;
  bool drained = false;  // nothing more to write: no need to walk the sockets again
  if (carrying) {
    // Each packet is put together (its namespace inserted) behind LWS_PRE bytes of
    // headroom, where lws writes the frame header: one copy per socket and packet.
    std::string& packet = owner->packet_buffer;
    while (first || !lws_send_pipe_choked(wsi)) {
      packet.assign(LWS_PRE, '\0');
      const auto more = owner->next_packet(*engine, packet);
      if (!more) {
        drained = true;
        break;
      }
      drained = !*more;
      const std::size_t size = packet.size() - LWS_PRE;
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(packet.data()) + LWS_PRE, size,
                    LWS_WRITE_TEXT) < static_cast<int>(size)) {
        return After::close;
      }
      if (drained) break;
      first = false;
    }
  }
  if (!direct.empty() || (carrying && !drained)) lws_callback_on_writable(wsi);
  return After::keep;
}

bool WsConn::on_receive(lws* wsi, const void* data, std::size_t len) {
  if (close_code) return true;
  if (rx.empty()) rx_binary = lws_frame_is_binary(wsi);
  const std::size_t limit = owner->handshake.max_payload;
  if (rx.size() + len + lws_remaining_packet_payload(wsi) > limit) {
    return close_with(wsi, 1009, "Max payload size exceeded");
  }
  rx.append(static_cast<const char*>(data), len);
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return true;
  std::string text = std::move(rx);
  rx.clear();
  // Binary frames carry Socket.IO binary attachments, which tickcast refuses: the
  // BINARY_EVENT that announced them was answered with an error; the data is dropped.
  if (rx_binary) return true;
  auto keep = keep_alive;
  keep->on_ws_text(*this, text);
  return true;
}

}  // namespace tickcast::socketio
