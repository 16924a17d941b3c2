#pragma once
// Socket.IO v4 packets (https://socket.io/docs/v4/socket-io-protocol/, protocol 5), carried
// in Engine.IO `message` packets: <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
// Decoding and encoding only; the encoders return whole Engine.IO packets ("4" + packet),
// ready to queue.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace tickcast::socketio::io {

/// PacketType is the Socket.IO packet type (the first digit).
enum class PacketType {
  connect = 0,
  disconnect = 1,
  event = 2,
  ack = 3,
  connect_error = 4,
  binary_event = 5,
  binary_ack = 6,
};

/// Packet is one decoded Socket.IO packet.
struct Packet {
  PacketType type = PacketType::connect;
  std::string nsp = "/";            ///< the namespace, "/" when absent
  std::optional<std::uint64_t> id;  ///< the ack id the sender asks for
  nlohmann::json data;              ///< the JSON part; null when absent
  int attachments = 0;              ///< binary attachments announced (binary types)
};

/// decode parses one packet (the data of an Engine.IO message); a string says what is
/// wrong. The payload rules are Socket.IO's: CONNECT data is an object, EVENT data a
/// non-empty array starting with the event name, ACK data an array.
std::variant<Packet, std::string> decode(std::string_view text);

/// connect is the server's CONNECT reply: 40[nsp,]{"sid":...,"pid":...}.
std::string connect(std::string_view nsp, std::string_view sid, std::string_view pid);
/// connect_error refuses a CONNECT: 44[nsp,]{"message":...,"data":{"code":...}}.
std::string connect_error(std::string_view nsp, std::string_view message, std::string_view code);
/// disconnect ends a socket from the server: 41[nsp,].
std::string disconnect(std::string_view nsp);
/// event renders 42[nsp,]["name",<json>] with `json` spliced in as is (already encoded),
/// plus the recovery offset as a last string argument when not empty.
std::string event(std::string_view nsp, std::string_view name, std::string_view json,
                  std::string_view offset = {});
/// ack renders 43[nsp,]<id>[<json>] with `json` spliced in as is.
std::string ack(std::string_view nsp, std::uint64_t id, std::string_view json);

}  // namespace tickcast::socketio::io
