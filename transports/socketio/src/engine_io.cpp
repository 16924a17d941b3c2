#include "engine_io.h"

#include <sys/random.h>

#include <array>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace tickcast::socketio::engine {

std::optional<Packet> decode_packet(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == 'b') return Packet{PacketType::message, text.substr(1), true};
  if (text.front() < '0' || text.front() > '6') return std::nullopt;
  return Packet{static_cast<PacketType>(text.front()), text.substr(1), false};
}

std::optional<std::vector<Packet>> decode_payload(std::string_view body) {
  std::vector<Packet> packets;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = body.find(kSeparator, begin);
    auto packet =
        decode_packet(body.substr(begin, end == std::string_view::npos ? body.npos : end - begin));
    if (!packet) return std::nullopt;
    packets.push_back(*packet);
    if (end == std::string_view::npos) return packets;
    begin = end + 1;
  }
}

std::string open_packet(std::string_view sid, bool upgradable, const HandshakeOptions& options) {
  nlohmann::ordered_json handshake{
      {"sid", sid},
      {"upgrades", upgradable ? nlohmann::json::array({"websocket"}) : nlohmann::json::array()},
      {"pingInterval", options.ping_interval.count()},
      {"pingTimeout", options.ping_timeout.count()},
      {"maxPayload", options.max_payload}};
  return "0" + handshake.dump();
}

int error_status(ErrorCode code) { return code == ErrorCode::forbidden ? 403 : 400; }

std::string_view error_message(ErrorCode code) {
  switch (code) {
    case ErrorCode::unknown_transport:
      return "Transport unknown";
    case ErrorCode::unknown_sid:
      return "Session ID unknown";
    case ErrorCode::bad_handshake_method:
      return "Bad handshake method";
    case ErrorCode::bad_request:
      return "Bad request";
    case ErrorCode::forbidden:
      return "Forbidden";
    case ErrorCode::unsupported_protocol_version:
      return "Unsupported protocol version";
  }
  return "Bad request";
}

std::string error_body(ErrorCode code, std::string_view context) {
  nlohmann::ordered_json body{{"code", static_cast<int>(code)}, {"message", error_message(code)}};
  if (!context.empty()) body["context"] = context;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<HandshakeQuery> check_query(const std::map<std::string, std::string>& query,
                                          bool websocket, ErrorCode& error) {
  const auto eio = query.find("EIO");
  if (eio == query.end() || eio->second != "4") {
    error = ErrorCode::unsupported_protocol_version;
    return std::nullopt;
  }
  const auto transport = query.find("transport");
  HandshakeQuery out;
  if (transport != query.end() && transport->second == "polling") {
    out.transport = Transport::polling;
  } else if (transport != query.end() && transport->second == "websocket") {
    out.transport = Transport::websocket;
  } else {
    error = ErrorCode::unknown_transport;
    return std::nullopt;
  }
  if ((out.transport == Transport::websocket) != websocket) {
    error = ErrorCode::bad_request;
    return std::nullopt;
  }
  if (const auto sid = query.find("sid"); sid != query.end()) out.sid = sid->second;
  return out;
}

std::string random_id(std::size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string id(length, 'A');
  std::array<unsigned char, 64> bytes{};
  for (std::size_t done = 0; done < length;) {
    const std::size_t want = std::min(bytes.size(), length - done);
    const ssize_t got = ::getrandom(bytes.data(), want, 0);
    if (got <= 0) throw std::runtime_error("getrandom failed");
    for (ssize_t i = 0; i < got; ++i)
      id[done++] = kAlphabet[bytes[static_cast<std::size_t>(i)] & 63];
  }
  return id;
}

}  // namespace tickcast::socketio::engine
