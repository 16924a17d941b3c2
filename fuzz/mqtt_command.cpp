// The MQTT command path: a message's topic and payload, read as the transport reads them
// (the room in the topic, the JSON `reply_to`), then handed to a Hub as the transport hands
// them. Input: the topic, a newline, then the payload.
#include <mosquitto.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command_topic.h"
#include "fuzz_check.h"
#include "tickcast/core/hub.h"

namespace {

using namespace tickcast;

constexpr std::string_view kRoomsPrefix = "tickcast/rooms/";

class FixedClock final : public Clock {
 public:
  MonotonicTime now() const override { return MonotonicTime(std::chrono::seconds(1)); }
  std::int64_t wall_time_us() const override { return 1'764'000'000'000'000; }
};

// Records what the hub broadcasts.
class RecordingTransport final : public Transport {
 public:
  std::string_view name() const override { return "fuzz"; }
  void start(Sink&) override {}
  void stop() override {}
  void publish(std::string_view room, const Message& message) override {
    published.emplace_back(std::string(room), message);
  }
  TransportStats stats() const override { return {}; }
  std::vector<std::pair<std::string, Message>> published;
};

// Records what the hub answers the requester.
class RecordingClient final : public Client {
 public:
  void send(std::vector<Message> messages) override {
    received.insert(received.end(), messages.begin(), messages.end());
  }
  std::string_view transport() const override { return "mqtt"; }
  std::vector<Message> received;
};

bool has_wildcard_or_nul(std::string_view topic) {
  return topic.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos;
}

bool ends_with_any(std::string_view topic, std::initializer_list<std::string_view> suffixes) {
  for (std::string_view s : suffixes) {
    if (topic.ends_with(s)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = tickcast::fuzz::bytes(data, size);
  const std::size_t newline = input.find('\n');
  const std::string_view topic = input.substr(0, newline);
  const std::string_view payload =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  // Topic -> room: the room is what sits between the prefix and "/commands", and any room
  // put in a commands topic comes back out.
  const auto room = mqtt::command_room(topic, kRoomsPrefix);
  if (room) {
    FUZZ_CHECK(std::string(kRoomsPrefix) + std::string(*room) + "/commands" == topic);
  }
  const std::string wrapped = std::string(kRoomsPrefix) + std::string(topic) + "/commands";
  FUZZ_CHECK(mqtt::command_room(wrapped, kRoomsPrefix) == topic);

  // reply_to: an accepted reply topic is one libmosquitto will publish to (else the reply
  // is lost without a word), and not a room's own topic.
  const mqtt::ReplyTo reply = mqtt::read_reply_to(payload, kRoomsPrefix);
  if (reply.valid) {
    FUZZ_CHECK(reply.present);
    FUZZ_CHECK(!reply.topic.empty() && !has_wildcard_or_nul(reply.topic));
    FUZZ_CHECK(mosquitto_validate_utf8(reply.topic.data(), static_cast<int>(reply.topic.size())) ==
               MOSQ_ERR_SUCCESS);
    FUZZ_CHECK(!(reply.topic.starts_with(kRoomsPrefix) &&
                 ends_with_any(reply.topic, {"/events", "/state", "/commands"})));
  } else {
    FUZZ_CHECK(reply.topic.empty());
  }
  FUZZ_CHECK(reply.request_id.size() <= 128);
  if (!room || payload.size() > kMaxCommandBytes || (reply.present && !reply.valid)) return 0;

  // What the transport hands the hub: only the requester hears about an error, and the
  // room hears only about valid rooms.
  FixedClock clock;
  RecordingTransport transport;
  auto client = std::make_shared<RecordingClient>();
  {
    Hub hub(HubOptions{}, clock);
    hub.add_transport(transport);
    hub.on_message(std::string(*room), std::string(payload), client);
    hub.pump();
  }
  const DecodedCommand decoded = decode_command(payload);
  FUZZ_CHECK(client->received.size() <= 1);
  if (!client->received.empty()) {
    const Message& answer = client->received.front();
    FUZZ_CHECK(answer.kind == MessageKind::error && answer.payload);
    const auto j = nlohmann::json::parse(*answer.payload, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(j.is_object() && j.at("success") == false && j.contains("code"));
    if (decoded.command && !valid_room_name(*room)) FUZZ_CHECK(j.at("code") == "bad_room");
  } else {
    FUZZ_CHECK(decoded.command && valid_room_name(*room));
  }
  for (const auto& [to, message] : transport.published) {
    FUZZ_CHECK(to == *room && valid_room_name(to));
    FUZZ_CHECK(message.kind != MessageKind::error);
    const auto j = nlohmann::json::parse(*message.payload, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(j.is_object() && j.at("room") == to && j.at("seq") == message.seq);
  }
  return 0;
}
