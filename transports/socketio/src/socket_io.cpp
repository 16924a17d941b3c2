#include "socket_io.h"

#include <charconv>

namespace tickcast::socketio::io {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The namespace prefix every encoder writes: nothing for "/", else "/nsp,".
std::string head(char type, std::string_view nsp) {
  std::string out{'4', type};
  if (!nsp.empty() && nsp != "/") {
    out += nsp;
    out += ',';
  }
  return out;
}

bool payload_valid(PacketType type, const nlohmann::json& data) {
  switch (type) {
    case PacketType::connect:
      return data.is_object();
    case PacketType::disconnect:
      return false;  // a DISCONNECT carries nothing
    case PacketType::connect_error:
      return data.is_string() || data.is_object();
    case PacketType::event:
    case PacketType::binary_event:
      return data.is_array() && !data.empty() &&
             (data.front().is_string() || data.front().is_number());
    case PacketType::ack:
    case PacketType::binary_ack:
      return data.is_array();
  }
  return false;
}

}  // namespace

std::variant<Packet, std::string> decode(std::string_view text) {
  if (text.empty() || !is_digit(text.front()) || text.front() > '6') {
    return std::string("unknown Socket.IO packet type");
  }
  Packet packet;
  packet.type = static_cast<PacketType>(text.front() - '0');
  std::size_t i = 1;
  if (packet.type == PacketType::binary_event || packet.type == PacketType::binary_ack) {
    const std::size_t dash = text.find('-', i);
    int n = 0;
    const auto [end, error] = std::from_chars(text.data() + i, text.data() + dash, n);
    if (dash == std::string_view::npos || error != std::errc() || end != text.data() + dash ||
        n < 1) {
      return std::string("illegal attachments");
    }
    packet.attachments = n;
    i = dash + 1;
  }
  if (i < text.size() && text[i] == '/') {
    const std::size_t comma = text.find(',', i);
    const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
    packet.nsp.assign(text.substr(i, end - i));
    i = comma == std::string_view::npos ? text.size() : comma + 1;
  }
  std::size_t digits = i;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits > i) {
    std::uint64_t id = 0;
    const auto [end, error] = std::from_chars(text.data() + i, text.data() + digits, id);
    if (error != std::errc()) return std::string("ack id out of range");
    packet.id = id;
    i = digits;
  }
  if (i < text.size()) {
    packet.data = nlohmann::json::parse(text.substr(i), nullptr, /*allow_exceptions=*/false);
    if (packet.data.is_discarded() || !payload_valid(packet.type, packet.data)) {
      return std::string("invalid payload");
    }
  } else if (packet.type == PacketType::event || packet.type == PacketType::binary_event) {
    return std::string("an EVENT needs a payload");
  }
  return packet;
}

void append_with_namespace(std::string& out, std::string_view nsp, std::string_view body) {
  if (body.empty()) return;
  out.reserve(out.size() + body.size() + nsp.size() + 2);
  out += '4';
  out += body.front();
  if (!nsp.empty() && nsp != "/") {
    out += nsp;
    out += ',';
  }
  out += body.substr(1);
}

std::string with_namespace(std::string_view nsp, std::string_view body) {
  std::string out;
  append_with_namespace(out, nsp, body);
  return out;
}

std::string connect_body(std::string_view sid, std::string_view pid) {
  nlohmann::ordered_json data{{"sid", sid}};
  if (!pid.empty()) data["pid"] = pid;
  return '0' + data.dump();
}

std::string connect(std::string_view nsp, std::string_view sid, std::string_view pid) {
  return with_namespace(nsp, connect_body(sid, pid));
}

std::string connect_error(std::string_view nsp, std::string_view message, std::string_view code) {
  nlohmann::ordered_json data{{"message", message}, {"data", {{"code", code}}}};
  return head('4', nsp) + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string disconnect(std::string_view nsp) { return head('1', nsp); }

std::string event_body(std::string_view name, std::string_view json, std::string_view offset) {
  std::string out;
  out.reserve(name.size() + json.size() + offset.size() + 9);
  out += "2[\"";
  out += name;  // our own event names: no escaping needed
  out += "\",";
  out += json;
  if (!offset.empty()) {
    out += ",\"";
    out += offset;  // room:seq, room names are [A-Za-z0-9_-]
    out += '"';
  }
  out += ']';
  return out;
}

std::string event(std::string_view nsp, std::string_view name, std::string_view json,
                  std::string_view offset) {
  return with_namespace(nsp, event_body(name, json, offset));
}

std::string ack_body(std::uint64_t id, std::string_view json) {
  std::string out = "3" + std::to_string(id);
  out += '[';
  out += json;
  out += ']';
  return out;
}

std::string ack(std::string_view nsp, std::uint64_t id, std::string_view json) {
  return with_namespace(nsp, ack_body(id, json));
}

}  // namespace tickcast::socketio::io
