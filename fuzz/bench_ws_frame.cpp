// The bench's reader of WebSocket server frames. Fuzzed bytes are read frame by frame as
// WsRawClients does; then a frame built from the input (any length encoding) must read back
// as itself, and every prefix of it as "more".
#include <string>

#include "fuzz_check.h"
#include "ws_frame.h"

namespace {

using tickcast::bench::read_ws_frame;
using tickcast::bench::WsFrame;

// An unmasked frame with the payload length in the given form (0: 7-bit when it fits,
// 1: 16-bit when it fits, 2: 64-bit); RFC 6455 allows a longer form than needed.
std::string server_frame(bool fin, std::uint8_t opcode, std::string_view payload, int form) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f)));
  const std::size_t n = payload.size();
  if (form == 0 && n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (form <= 1 && n < 65536) {
    out.push_back(126);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  out.append(payload);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = tickcast::fuzz::bytes(data, size);

  for (std::string_view rest = input;;) {
    const WsFrame frame = read_ws_frame(rest);
    if (frame.status == WsFrame::Status::more) break;
    if (frame.status == WsFrame::Status::error) {
      FUZZ_CHECK(frame.error != nullptr);
      break;
    }
    const std::size_t header = frame.size - frame.payload.size();
    FUZZ_CHECK(header == 2 || header == 4 || header == 10);
    FUZZ_CHECK(frame.size <= rest.size() && frame.payload.size() <= tickcast::bench::kMaxWsFrame);
    FUZZ_CHECK(frame.payload.data() == rest.data() + header);  // in place, no copy
    FUZZ_CHECK(frame.opcode <= 0x0f);
    rest.remove_prefix(frame.size);
  }

  if (size < 1) return 0;
  const bool fin = data[0] & 0x80;
  const auto opcode = static_cast<std::uint8_t>(data[0] & 0x0f);
  const int form = (data[0] >> 4) % 3;
  const std::string wire = server_frame(fin, opcode, input.substr(1), form);
  const std::string followed = wire + "\x81";  // the next frame's first byte
  const WsFrame frame = read_ws_frame(followed);
  FUZZ_CHECK(frame.status == WsFrame::Status::frame);
  FUZZ_CHECK(frame.fin == fin && frame.opcode == opcode);
  FUZZ_CHECK(frame.payload == input.substr(1) && frame.size == wire.size());
  for (std::size_t cut = 0; cut < wire.size(); cut += 1 + cut / 2) {
    FUZZ_CHECK(read_ws_frame(std::string_view(wire).substr(0, cut)).status ==
               WsFrame::Status::more);
  }
  return 0;
}
