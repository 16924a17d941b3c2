#pragma once
// Socket.IO v4 packets (https://socket.io/docs/v4/socket-io-protocol/, protocol 5), carried
// in Engine.IO `message` packets: <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
// Decoding and encoding only. The encoders come in two forms: whole Engine.IO packets ("4" +
// packet, with the namespace), and bodies without the namespace ("2[...]", "3<id>[...]"),
// which one frame serves for every namespace: with_namespace() inserts it at write time.

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

/// connect_body is a CONNECT reply without its namespace: 0{"sid":...,"pid":...}.
std::string connect_body(std::string_view sid, std::string_view pid);
/// event_body is 2["name",<json>(,"offset")] (see event()), without a namespace.
std::string event_body(std::string_view name, std::string_view json, std::string_view offset = {});
/// ack_body is 3<id>[<json>] (see ack()), without a namespace.
std::string ack_body(std::uint64_t id, std::string_view json);
/// append_with_namespace appends the Engine.IO packet of `body` (a Socket.IO packet without
/// a namespace) on `nsp` to `out`: "4", the type digit, "nsp," unless "/", the rest.
void append_with_namespace(std::string& out, std::string_view nsp, std::string_view body);
/// with_namespace returns that packet.
std::string with_namespace(std::string_view nsp, std::string_view body);

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
