// tickcast_mosquitto_auth: a mosquitto 2.0 plugin that makes the embedded broker accept
// tickcast room tokens. An MQTT client logs in with any user name and its token as the
// password; the broker then lets it
//   - receive {prefix}/rooms/{room}/{events,state,errors} only for rooms its token covers
//     with "subscribe",
//   - publish only to {prefix}/rooms/{room}/commands, for rooms with "command",
//   - publish nothing else under {prefix}/ (no forged events),
// and disconnects it when the token expires. tickcast-server itself logs in with a user
// and a random password given in the options, and may do anything.
//
// Options (mosquitto.conf `plugin_opt_*`, written by tickcast's embedded broker):
//   algorithm HS256|RS256|ES256, key_hex (the secret or PEM public key, hex-encoded),
//   server_user, server_password, topic_prefix.
//
// Threads: mosquitto calls plugins on its one main thread; no locks.
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tickcast/auth/token.h"

namespace {

using tickcast::auth::Clock;
using tickcast::auth::Grant;
using tickcast::auth::Permission;
using tickcast::auth::Verifier;

struct ClientAccess {
  bool server = false;
  Grant grant;
};

struct Plugin {
  mosquitto_plugin_id_t* id = nullptr;
  std::optional<Verifier> verifier;
  std::string server_user, server_password, prefix = "tickcast";
  std::unordered_map<const mosquitto*, ClientAccess> clients;
  std::multimap<Clock::time_point, std::string> expiries;  // token expiry -> client id
};

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

int on_basic_auth(int, void* event_data, void* userdata) {
  auto& plugin = *static_cast<Plugin*>(userdata);
  auto& event = *static_cast<mosquitto_evt_basic_auth*>(event_data);
  const std::string_view user = event.username ? event.username : "";
  const std::string_view password = event.password ? event.password : "";
  if (!plugin.server_user.empty() && user == plugin.server_user) {
    if (!equal_constant_time(password, plugin.server_password)) return MOSQ_ERR_AUTH;
    plugin.clients[event.client] = ClientAccess{true, {}};
    return MOSQ_ERR_SUCCESS;
  }
  auto result = plugin.verifier->verify(password, Clock::now());
  if (const auto* refusal = std::get_if<tickcast::auth::Refusal>(&result)) {
    // The reason, never the token.
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "tickcast: refused MQTT client %s: %s",
                         mosquitto_client_id(event.client), refusal->message.c_str());
    return MOSQ_ERR_AUTH;
  }
  ClientAccess access{false, std::get<Grant>(std::move(result))};
  plugin.expiries.emplace(access.grant.expires, mosquitto_client_id(event.client));
  plugin.clients[event.client] = std::move(access);
  return MOSQ_ERR_SUCCESS;
}

// {prefix}/rooms/{room}/{kind} -> room and kind; false for any other topic.
bool split_room_topic(std::string_view topic, std::string_view prefix, std::string_view& room,
                      std::string_view& kind) {
  const std::string head = std::string(prefix) + "/rooms/";
  if (topic.substr(0, head.size()) != head) return false;
  topic.remove_prefix(head.size());
  const auto slash = topic.find('/');
  if (slash == std::string_view::npos) return false;
  room = topic.substr(0, slash);
  kind = topic.substr(slash + 1);
  return true;
}

int on_acl_check(int, void* event_data, void* userdata) {
  auto& plugin = *static_cast<Plugin*>(userdata);
  auto& event = *static_cast<mosquitto_evt_acl_check*>(event_data);
  auto it = plugin.clients.find(event.client);
  if (it == plugin.clients.end()) return MOSQ_ERR_ACL_DENIED;
  const ClientAccess& access = it->second;
  if (access.server) return MOSQ_ERR_SUCCESS;
  const Grant& grant = access.grant;
  if (grant.expires <= Clock::now()) return MOSQ_ERR_ACL_DENIED;
  const std::string_view topic = event.topic ? event.topic : "";
  const bool ours = topic.substr(0, plugin.prefix.size() + 1) == plugin.prefix + "/";
  std::string_view room, kind;
  const bool room_topic = split_room_topic(topic, plugin.prefix, room, kind);
  switch (event.access) {
    case MOSQ_ACL_SUBSCRIBE:
    case MOSQ_ACL_UNSUBSCRIBE:
      // Filters may hold wildcards; each delivered message is checked (MOSQ_ACL_READ).
      return grant.subscribe || grant.command ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_READ:
      if (!ours) return MOSQ_ERR_SUCCESS;  // a client's own reply_to topics
      return room_topic && kind != "commands" && grant.allows(room, Permission::subscribe)
                 ? MOSQ_ERR_SUCCESS
                 : MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_WRITE:
      if (!ours) return MOSQ_ERR_SUCCESS;
      return room_topic && kind == "commands" && grant.allows(room, Permission::command)
                 ? MOSQ_ERR_SUCCESS
                 : MOSQ_ERR_ACL_DENIED;
    default:
      return MOSQ_ERR_ACL_DENIED;
  }
}

int on_tick(int, void*, void* userdata) {
  auto& plugin = *static_cast<Plugin*>(userdata);
  const auto now = Clock::now();
  while (!plugin.expiries.empty() && plugin.expiries.begin()->first <= now) {
    const std::string client_id = plugin.expiries.begin()->second;
    plugin.expiries.erase(plugin.expiries.begin());
    mosquitto_kick_client_by_clientid(client_id.c_str(), false);
  }
  return MOSQ_ERR_SUCCESS;
}

int on_disconnect(int, void* event_data, void* userdata) {
  auto& plugin = *static_cast<Plugin*>(userdata);
  plugin.clients.erase(static_cast<mosquitto_evt_disconnect*>(event_data)->client);
  return MOSQ_ERR_SUCCESS;
}

}  // namespace

extern "C" {

int mosquitto_plugin_version(int supported_version_count, const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                          struct mosquitto_opt* options, int option_count) {
  auto plugin = std::make_unique<Plugin>();
  plugin->id = identifier;
  std::string algorithm, key;
  for (int i = 0; i < option_count; ++i) {
    const std::string_view name = options[i].key;
    const std::string value = options[i].value ? options[i].value : "";
    if (name == "algorithm") algorithm = value;
    if (name == "key_hex") key = from_hex(value);
    if (name == "server_user") plugin->server_user = value;
    if (name == "server_password") plugin->server_password = value;
    if (name == "topic_prefix") plugin->prefix = value;
  }
  try {
    plugin->verifier = algorithm == "HS256"
                           ? Verifier::from_secret(key, "tickcast plugin key")
                           : Verifier::from_public_key_pem(key, "tickcast plugin key");
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tickcast: %s", e.what());
    return MOSQ_ERR_INVAL;
  }
  if (plugin->verifier->algorithm() != algorithm) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tickcast: the key is not a %s key", algorithm.c_str());
    return MOSQ_ERR_INVAL;
  }
  void* data = plugin.get();
  if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr, data) ||
      mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr, data) ||
      mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, nullptr, data) ||
      mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr, data)) {
    return MOSQ_ERR_UNKNOWN;
  }
  *userdata = plugin.release();
  return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
  std::unique_ptr<Plugin> plugin(static_cast<Plugin*>(userdata));
  if (plugin) {
    mosquitto_callback_unregister(plugin->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
    mosquitto_callback_unregister(plugin->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
    mosquitto_callback_unregister(plugin->id, MOSQ_EVT_TICK, on_tick, nullptr);
    mosquitto_callback_unregister(plugin->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
