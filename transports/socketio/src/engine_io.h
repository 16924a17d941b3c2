#pragma once
// Engine.IO v4 framing (https://socket.io/docs/v4/engine-io-protocol/): the packets, the
// long-polling payload (packets joined by \x1e), the handshake and the HTTP errors. Pure
// functions, no I/O, so that they can move with the framing and be tested alone.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tickcast::socketio::engine {

/// PacketType is the first character of an Engine.IO packet.
enum class PacketType : char {
  open = '0',
  close = '1',
  ping = '2',
  pong = '3',
  message = '4',
  upgrade = '5',
  noop = '6',
};

/// kSeparator joins the packets of a long-polling payload (the record separator).
inline constexpr char kSeparator = '\x1e';

/// Packet is one decoded packet; `data` points into the decoded text.
struct Packet {
  PacketType type = PacketType::noop;
  std::string_view data;
  bool binary = false;  ///< a base64 binary message (`b...`); tickcast refuses binary data
};

/// decode_packet decodes one packet (a WebSocket text frame, or one part of a payload);
/// nullopt for an empty text or an unknown type.
std::optional<Packet> decode_packet(std::string_view text);

/// decode_payload splits a long-polling body into packets; nullopt if any is malformed.
std::optional<std::vector<Packet>> decode_payload(std::string_view body);

/// HandshakeOptions is what the open packet announces.
struct HandshakeOptions {
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  std::size_t max_payload = 4096;
};

/// open_packet renders the handshake: 0{"sid":...,"upgrades":[...],"pingInterval":...}.
/// `upgradable` lists "websocket" as the upgrade (a long-polling session).
std::string open_packet(std::string_view sid, bool upgradable, const HandshakeOptions& options);

/// ErrorCode is Engine.IO's error code, as its servers answer bad requests.
enum class ErrorCode {
  unknown_transport = 0,
  unknown_sid = 1,
  bad_handshake_method = 2,
  bad_request = 3,
  forbidden = 4,
  unsupported_protocol_version = 5,
};

/// error_status is the HTTP status of an error (403 for forbidden, else 400).
int error_status(ErrorCode code);
/// error_message is Engine.IO's message for an error, e.g. "Session ID unknown".
std::string_view error_message(ErrorCode code);
/// error_body is the JSON body of an error: {"code":1,"message":"Session ID unknown"}, with
/// a "context" string saying more when `context` is not empty.
std::string error_body(ErrorCode code, std::string_view context = {});

/// Transport is the `transport` query parameter.
enum class Transport { polling, websocket };

/// HandshakeQuery is what a request's query says about its session.
struct HandshakeQuery {
  Transport transport = Transport::polling;
  std::string sid;  ///< empty for a new session
};

/// check_query reads EIO, transport and sid. `websocket` tells whether the request is a
/// WebSocket upgrade. Errors: EIO other than 4 -> unsupported_protocol_version; a missing
/// or unknown transport -> unknown_transport; a transport that does not match the
/// request -> bad_request.
std::optional<HandshakeQuery> check_query(const std::map<std::string, std::string>& query,
                                          bool websocket, ErrorCode& error);

/// random_id returns `length` url-safe base64 characters from the system's CSPRNG, for
/// session ids (which guard a session's events and commands) and private ids.
std::string random_id(std::size_t length = 20);

}  // namespace tickcast::socketio::engine
