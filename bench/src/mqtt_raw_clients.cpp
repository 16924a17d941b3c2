// MQTT 3.1.1 subscribers on the bench's own epoll loop, as the tcp, ws and sse clients are:
// one read() per readiness, parsed in place. The packets a QoS 0 subscriber needs (CONNECT,
// SUBSCRIBE, PUBLISH; CONNACK, SUBACK, PUBLISH) are framed here, so that the mqtt row
// measures the broker and the server, not a client library's reads (libmosquitto reads
// each PUBLISH in 4 read() calls; its clients are the mqtt-mosquitto row).
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stream_clients.h"

namespace tickcast::bench {

namespace {

// The remaining-length field: 7 bits per byte, low first, the high bit says "more".
void append_length(std::string& out, std::size_t length) {
  do {
    auto byte = static_cast<unsigned char>(length % 128);
    length /= 128;
    if (length > 0) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (length > 0);
}

void append_string(std::string& out, std::string_view text) {
  out += static_cast<char>((text.size() >> 8) & 0xff);
  out += static_cast<char>(text.size() & 0xff);
  out += text;
}

std::string packet(unsigned char type_and_flags, std::string_view body) {
  std::string out(1, static_cast<char>(type_and_flags));
  append_length(out, body.size());
  out += body;
  return out;
}

// CONNECT with a clean session and keepalive 0 (off: the client never owes a PINGREQ), then
// SUBSCRIBE at QoS 0 right behind it: MQTT lets a client send on before its CONNACK. (The
// longest keepalive, 65,535 s, made mosquitto 2.0.21 drop a client when it next sent a
// packet: "has exceeded timeout".)
std::string connect_and_subscribe(std::string_view client_id, std::string_view topic) {
  std::string connect;
  append_string(connect, "MQTT");
  connect += '\x04';  // protocol level 4: MQTT 3.1.1
  connect += '\x02';  // clean session
  connect += '\x00';  // keepalive 0
  connect += '\x00';
  append_string(connect, client_id);
  std::string subscribe("\x00\x01", 2);  // packet id 1
  append_string(subscribe, topic);
  subscribe += '\x00';  // QoS 0
  return packet(0x10, connect) + packet(0x82, subscribe);
}

// One whole packet at the front of `in`: its first byte and its body.
struct Packet {
  unsigned char type = 0;  // the high nibble of the first byte
  unsigned char flags = 0;
  std::string_view body;
  std::size_t size = 0;  // header and body
};

// next_packet returns the whole packet at the front of `in`, or nothing when more bytes
// are needed; `bad` is set for a length field of more than 4 bytes.
std::optional<Packet> next_packet(std::string_view in, bool& bad) {
  if (in.size() < 2) return std::nullopt;
  std::size_t length = 0;
  std::size_t at = 1;
  for (std::size_t shift = 0;; shift += 7) {
    if (at >= in.size()) return std::nullopt;
    if (at > 4) {
      bad = true;
      return std::nullopt;
    }
    const auto byte = static_cast<unsigned char>(in[at++]);
    length |= static_cast<std::size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (in.size() - at < length) return std::nullopt;
  const auto first = static_cast<unsigned char>(in[0]);
  return Packet{static_cast<unsigned char>(first >> 4), static_cast<unsigned char>(first & 0x0f),
                in.substr(at, length), at + length};
}

class MqttRawClients final : public StreamClients {
 public:
  MqttRawClients(const Endpoint& endpoint, std::size_t n)
      : StreamClients(broker_endpoint(endpoint), n),
        events_topic_("tickcast/rooms/" + endpoint.room + "/events"),
        commands_topic_("tickcast/rooms/" + endpoint.room + "/commands") {}
  ~MqttRawClients() override { stop(); }

  bool send_command(std::string_view json) override {
    std::string body;
    append_string(body, commands_topic_);
    body += json;
    post_to_first([this, publish = packet(0x30, body)] {
      if (!conns_.empty() && conns_[0]->fd >= 0) queue_write(*conns_[0], publish);
    });
    return !conns_.empty();
  }

 protected:
  std::string greeting(Conn& conn) override {
    return connect_and_subscribe(
        "tickcast-bench-raw-" + std::to_string(::getpid()) + "-" + std::to_string(conn.index),
        events_topic_);
  }

  bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) override {
    std::size_t used = 0;
    bool bad = false;
    while (auto p = next_packet(std::string_view(conn.in).substr(used), bad)) {
      used += p->size;
      if (!on_packet(conn, *p, received_us, error)) return false;
    }
    if (bad) {
      error = "a packet length of more than 4 bytes";
      return false;
    }
    conn.in.erase(0, used);
    return true;
  }

 private:
  static Endpoint broker_endpoint(Endpoint endpoint) {
    endpoint.port = endpoint.mqtt_port;
    return endpoint;
  }

  bool on_packet(Conn& conn, const Packet& p, std::int64_t received_us, std::string& error) {
    switch (p.type) {
      case 2:  // CONNACK: session present, return code
        if (p.body.size() != 2 || p.body[1] != 0) {
          const int code = p.body.size() == 2 ? static_cast<unsigned char>(p.body[1]) : -1;
          error = "CONNACK refused (code " + std::to_string(code) + ")";
          return false;
        }
        return true;
      case 9:  // SUBACK: packet id, one granted QoS (0x80: refused)
        if (p.body.size() != 3 || static_cast<unsigned char>(p.body[2]) == 0x80) {
          error = "SUBACK refused the subscription";
          return false;
        }
        mark_ready(conn);
        return true;
      case 3: {  // PUBLISH: topic, a packet id above QoS 0, the payload
        if (p.body.size() < 2) break;
        std::size_t at =
            2 + ((static_cast<std::size_t>(static_cast<unsigned char>(p.body[0])) << 8) |
                 static_cast<unsigned char>(p.body[1]));
        if ((p.flags & 0x06) != 0) at += 2;
        if (at > p.body.size()) break;
        deliver(conn, p.body.substr(at), received_us);
        return true;
      }
      case 13:  // PINGRESP
        return true;
      default:
        error = "unexpected MQTT packet type " + std::to_string(p.type);
        return false;
    }
    error = "a malformed PUBLISH";
    return false;
  }

  std::string events_topic_, commands_topic_;
};

}  // namespace

std::unique_ptr<ClientSet> make_mqtt_raw_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<MqttRawClients>(endpoint, n);
}

}  // namespace tickcast::bench
