#include "command_topic.h"

#include <mosquitto.h>

#include <nlohmann/json.hpp>

namespace tickcast::mqtt {

namespace {

std::optional<std::string_view> room_in(std::string_view topic, std::string_view rooms_prefix,
                                        std::string_view suffix) {
  if (topic.size() < rooms_prefix.size() + suffix.size() ||
      topic.substr(0, rooms_prefix.size()) != rooms_prefix ||
      topic.substr(topic.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  return topic.substr(rooms_prefix.size(), topic.size() - rooms_prefix.size() - suffix.size());
}

}  // namespace

std::optional<std::string_view> command_room(std::string_view topic,
                                             std::string_view rooms_prefix) {
  return room_in(topic, rooms_prefix, "/commands");
}

std::optional<std::string_view> events_room(std::string_view topic, std::string_view rooms_prefix) {
  return room_in(topic, rooms_prefix, "/events");
}

bool reply_allowed(std::string_view topic, std::string_view rooms_prefix) {
  if (topic.substr(0, rooms_prefix.size()) != rooms_prefix) return true;
  for (std::string_view suffix : {"/events", "/state", "/commands"}) {
    if (topic.size() >= suffix.size() && topic.substr(topic.size() - suffix.size()) == suffix) {
      return false;
    }
  }
  return true;
}

bool valid_reply_topic(std::string_view topic, std::string_view rooms_prefix) {
  // mosquitto_pub_topic_check alone passes "" and control characters, which
  // mosquitto_publish then refuses: the error reply would be lost without a word.
  if (topic.empty() || topic.size() > 65535 || topic.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string terminated(topic);
  return mosquitto_validate_utf8(terminated.c_str(), static_cast<int>(terminated.size())) ==
             MOSQ_ERR_SUCCESS &&
         mosquitto_pub_topic_check(terminated.c_str()) == MOSQ_ERR_SUCCESS &&
         reply_allowed(topic, rooms_prefix);
}

ReplyTo read_reply_to(std::string_view payload, std::string_view rooms_prefix) {
  ReplyTo out;
  const auto json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return out;
  const auto it = json.find("reply_to");
  if (it == json.end() || it->is_null()) return out;
  out.present = true;
  if (it->is_string() && valid_reply_topic(it->get_ref<const std::string&>(), rooms_prefix)) {
    out.valid = true;
    out.topic = it->get<std::string>();
    return out;
  }
  if (const auto id = json.find("request_id"); id != json.end() && id->is_string()) {
    out.request_id = id->get<std::string>().substr(0, 128);
  }
  return out;
}

}  // namespace tickcast::mqtt
