#pragma once
// Reads the frames a WebSocket server sends (RFC 6455 section 5.2: unmasked), in place,
// for the raw WebSocket clients.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tickcast::bench {

/// kMaxWsFrame bounds one frame's payload.
inline constexpr std::size_t kMaxWsFrame = std::size_t{16} << 20;

/// WsFrame is what read_ws_frame found at the start of a buffer.
struct WsFrame {
  enum class Status { more, frame, error };
  Status status = Status::more;  ///< more: the buffer does not hold a whole frame yet
  bool fin = false;
  std::uint8_t opcode = 0;
  std::string_view payload;     ///< points into the buffer
  std::size_t size = 0;         ///< header and payload bytes: what to consume
  const char* error = nullptr;  ///< why, when status is error
};

/// read_ws_frame reads the first frame of `in`. A masked frame or one over kMaxWsFrame is
/// an error, as soon as its header shows it.
WsFrame read_ws_frame(std::string_view in);

}  // namespace tickcast::bench
