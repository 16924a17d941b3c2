#include "ws_frame.h"

namespace tickcast::bench {

WsFrame read_ws_frame(std::string_view in) {
  WsFrame frame;
  if (in.size() < 2) return frame;
  const auto b0 = static_cast<unsigned char>(in[0]);
  const auto b1 = static_cast<unsigned char>(in[1]);
  std::size_t header = 2;
  std::size_t length = b1 & 0x7f;
  if (length == 126) {
    if (in.size() < 4) return frame;
    length =
        (std::size_t{static_cast<unsigned char>(in[2])} << 8) | static_cast<unsigned char>(in[3]);
    header = 4;
  } else if (length == 127) {
    if (in.size() < 10) return frame;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<unsigned char>(in[2 + i]);
    header = 10;
  }
  frame.status = WsFrame::Status::error;
  if (b1 & 0x80) {
    frame.error = "masked frame from the server";
    return frame;
  }
  if (length > kMaxWsFrame) {
    frame.error = "frame too large";
    return frame;
  }
  if (in.size() - header < length) {
    frame.status = WsFrame::Status::more;
    return frame;
  }
  frame.status = WsFrame::Status::frame;
  frame.fin = (b0 & 0x80) != 0;
  frame.opcode = static_cast<std::uint8_t>(b0 & 0x0f);
  frame.payload = in.substr(header, length);
  frame.size = header + length;
  return frame;
}

}  // namespace tickcast::bench
