#include "tickcast/mqtt/mqtt_transport.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <vector>

#include "command_topic.h"
#include "embedded_broker.h"

namespace tickcast::mqtt {

namespace {

using SteadyClock = std::chrono::steady_clock;

// A random password for the server's own login to the embedded broker.
std::string random_hex(std::size_t bytes) {
  std::random_device device;  // the OS's source (/dev/urandom)
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto c = static_cast<unsigned char>(device());
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// BrokerAddress is a parsed broker URL.
struct BrokerAddress {
  std::string host;
  int port = 1883;
  bool tls = false;
  std::string username, password;
};

[[noreturn]] void bad_url(std::string_view url) {
  throw std::invalid_argument("bad MQTT broker URL '" + std::string(url) +
                              "': expected mqtt://host:port (or mqtts://)");
}

BrokerAddress parse_broker_url(std::string_view url) {
  BrokerAddress address;
  std::string_view rest = url;
  if (const auto scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme == "mqtts" || scheme == "ssl" || scheme == "tls") {
      address.tls = true;
      address.port = 8883;
    } else if (scheme != "mqtt" && scheme != "tcp") {
      bad_url(url);
    }
    rest.remove_prefix(scheme_end + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    address.username = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) address.password = std::string(userinfo.substr(colon + 1));
    rest.remove_prefix(at + 1);
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) bad_url(url);
    address.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad_url(url);
      port = rest.substr(1);
    }
  } else {
    const auto colon = rest.rfind(':');
    address.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (address.host.empty() || address.host.find_first_of("/?# ") != std::string::npos) {
    bad_url(url);
  }
  if (!port.empty() || rest.find(':') != std::string_view::npos) {
    if (port.empty() || port.size() > 5) bad_url(url);
    int value = 0;
    for (const char c : port) {
      if (c < '0' || c > '9') bad_url(url);
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) bad_url(url);
    address.port = value;
  }
  return address;
}

std::string host_in_url(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string random_suffix() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> digit(0, 15);
  std::string out;
  for (int i = 0; i < 8; ++i) out += "0123456789abcdef"[digit(device)];
  return out;
}

struct MosquittoDeleter {
  void operator()(mosquitto* mosq) const { mosquitto_destroy(mosq); }
};
using MosquittoHandle = std::unique_ptr<mosquitto, MosquittoDeleter>;

// Properties owns a libmosquitto property list.
class Properties {
 public:
  Properties() = default;
  ~Properties() { mosquitto_property_free_all(&list_); }
  Properties(const Properties&) = delete;
  Properties& operator=(const Properties&) = delete;
  mosquitto_property** out() { return &list_; }
  const mosquitto_property* get() const { return list_; }

 private:
  mosquitto_property* list_ = nullptr;
};

// FreeOnExit frees a buffer libmosquitto allocated with malloc.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

// Impl is shared with reply clients (they hold a weak_ptr), so a late error reply after
// stop() finds no handle and is dropped instead of touching freed memory.
struct MqttTransport::Impl {
  // RoomEntry is what publish keeps per room: its topics (built once) and latest event.
  struct RoomEntry {
    std::string events_topic, state_topic;
    Payload latest;
    // A standby (MqttOptions::publishes set and false) keeps the events it did not publish
    // until it sees the publisher's copy on the broker (kSeqProperty up to broker_seq):
    // what is left when it takes over is what the publisher never sent.
    std::uint64_t broker_seq = 0;
    std::deque<Message> withheld;
  };
  // The MQTT 5 user property that carries each event's seq on the events topic.
  static constexpr const char* kSeqProperty = "tickcast-seq";
  static constexpr std::size_t kMaxWithheld = 256;  // per room: 4 minutes of 1 s ticks
  // Rooms first heard of on the broker's events topic (anyone may publish there on a
  // broker without ACLs) are kept up to this many.
  static constexpr std::size_t kMaxRoomsSeen = 100000;

  MqttOptions options;
  BrokerAddress address;
  std::string commands_filter;        // {prefix}/rooms/+/commands
  std::string commands_subscription;  // the filter, or $share/{group}/ and the filter
  std::string events_filter;          // {prefix}/rooms/+/events, watched by a standby
  std::string rooms_prefix;           // {prefix}/rooms/
  std::unique_ptr<detail::EmbeddedBroker> broker;
  Sink* sink = nullptr;
  std::string url, ws_url;  // fixed in start(), read by any thread under handle_mutex
  bool started = false;

  // The libmosquitto handle. Shared lock to use it (publish, replies), exclusive to
  // create or destroy it. Callbacks never take it exclusively.
  mutable std::shared_mutex handle_mutex;
  MosquittoHandle mosq;
  std::atomic<int> protocol{MQTT_PROTOCOL_V5};

  // state_mutex orders retained-state publishes: publish() and the on-connect
  // re-publish both hold it, so an older state can never overwrite a newer one.
  std::mutex state_mutex;
  std::map<std::string, RoomEntry, std::less<>> rooms;
  bool connected = false;

  // What start() waits for.
  std::mutex connect_mutex;
  std::condition_variable connect_changed;
  bool connect_answered = false;
  int connect_rc = -1;
  std::string last_error;

  std::atomic<bool> up{false};
  std::atomic<std::int64_t> pending{0};  // handed to libmosquitto, not yet written/acked
  std::atomic<std::uint64_t> sent{0}, dropped{0}, refused{0}, caught_up{0};
  std::atomic<std::int64_t> broker_clients{-1};
  std::atomic<int> broker_pid{0};

  explicit Impl(MqttOptions o) : options(std::move(o)) {}

  std::string errors_topic(std::string_view room) const {
    return rooms_prefix + std::string(room) + "/errors";
  }

  void set_error(std::string text) {
    std::lock_guard lock(connect_mutex);
    last_error = std::move(text);
  }

  // publish_reply sends one error reply; any thread. Dropped when not connected.
  void publish_reply(const std::string& topic, const std::string& correlation,
                     const std::string& payload) {
    std::shared_lock handle_lock(handle_mutex);
    if (!mosq) return;
    Properties props;
    if (!correlation.empty() && protocol.load() == MQTT_PROTOCOL_V5) {
      mosquitto_property_add_binary(props.out(), MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                    static_cast<std::uint16_t>(correlation.size()));
    }
    const int rc =
        mosquitto_publish_v5(mosq.get(), nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false, props.get());
    if (rc == MOSQ_ERR_SUCCESS) {
      ++pending;
      ++sent;
    }
  }

  // entry returns room's entry, made on first use; caller holds state_mutex.
  RoomEntry& entry(std::string_view room) {
    auto it = rooms.find(room);
    if (it == rooms.end()) {
      RoomEntry made;
      made.events_topic = rooms_prefix + std::string(room) + "/events";
      made.state_topic = rooms_prefix + std::string(room) + "/state";
      it = rooms.emplace(std::string(room), std::move(made)).first;
    }
    return it->second;
  }

  /// publishing tells whether this transport publishes to the broker now (MqttOptions::publishes).
  bool publishing() const { return !options.publishes || options.publishes(); }
  /// standby: another publisher may be on the broker (MqttOptions::publishes is set).
  bool standby() const { return static_cast<bool>(options.publishes); }

  // publish_event_locked sends one event with its seq (MQTT 5); caller holds both locks.
  bool publish_event_locked(const RoomEntry& room, const Message& message) {
    Properties props;
    if (protocol.load() == MQTT_PROTOCOL_V5) {
      mosquitto_property_add_string_pair(props.out(), MQTT_PROP_USER_PROPERTY, kSeqProperty,
                                         std::to_string(message.seq).c_str());
    }
    const int rc = mosquitto_publish_v5(mosq.get(), nullptr, room.events_topic.c_str(),
                                        static_cast<int>(message.payload->size()),
                                        message.payload->data(), 0, false, props.get());
    if (rc != MOSQ_ERR_SUCCESS) return false;
    ++pending;
    return true;
  }

  // withhold keeps an event a standby did not publish (MQTT 5 only: without the seq
  // property the publisher's copies cannot be recognised). Caller holds state_mutex.
  void withhold(RoomEntry& room, const Message& message) const {
    if (protocol.load() != MQTT_PROTOCOL_V5 || message.seq <= room.broker_seq) return;
    room.withheld.push_back(message);
    if (room.withheld.size() > kMaxWithheld) room.withheld.pop_front();
  }

  // flush_withheld_locked publishes, in order, the withheld events the broker has not seen
  // from another publisher, then the room's latest state. Caller holds both locks,
  // publishing and connected.
  void flush_withheld_locked(RoomEntry& room) {
    if (room.withheld.empty()) return;
    for (const Message& m : room.withheld) {
      if (m.seq <= room.broker_seq) continue;
      if (publish_event_locked(room, m)) {
        ++sent;
        ++caught_up;
      } else {
        ++dropped;
      }
    }
    room.withheld.clear();
    if (room.latest) publish_locked(room.state_topic, room.latest, 1, true);
  }

  // seen_on_broker: another publisher's event of `room`; what it carries is no longer ours
  // to send. Runs on libmosquitto's thread.
  void seen_on_broker(std::string_view room, const mosquitto_property* props) {
    char* name = nullptr;
    char* value = nullptr;
    if (!mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value,
                                             false)) {
      return;
    }
    const std::unique_ptr<char, FreeDeleter> owned_name(name), owned_value(value);
    if (!name || !value || std::string_view(name) != kSeqProperty) return;
    std::uint64_t seq = 0;
    const std::string_view text(value);
    if (std::from_chars(text.data(), text.data() + text.size(), seq).ec != std::errc()) return;
    std::lock_guard lock(state_mutex);
    if (rooms.size() >= kMaxRoomsSeen && rooms.find(room) == rooms.end()) return;
    RoomEntry& entry = this->entry(room);
    entry.broker_seq = std::max(entry.broker_seq, seq);
    while (!entry.withheld.empty() && entry.withheld.front().seq <= entry.broker_seq) {
      entry.withheld.pop_front();
    }
  }

  // publish_locked hands one message to libmosquitto; caller holds handle and state locks.
  bool publish_locked(const std::string& topic, const Payload& payload, int qos, bool retain) {
    const int rc =
        mosquitto_publish(mosq.get(), nullptr, topic.c_str(), static_cast<int>(payload->size()),
                          payload->data(), qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) return false;
    ++pending;
    return true;
  }

  void on_connect(mosquitto* m, int rc) {
    if (rc == 0) {
      // Subscribing here, not once after connect, makes a reconnect restore it.
      mosquitto_subscribe(m, nullptr, commands_subscription.c_str(), 1);
      if (standby()) {
        // What the publisher sends, to know what a takeover must not send again. No-local:
        // not our own events while we publish.
        mosquitto_subscribe_v5(m, nullptr, events_filter.c_str(), 0, MQTT_SUB_OPT_NO_LOCAL,
                               nullptr);
      }
      mosquitto_subscribe(m, nullptr, "$SYS/broker/clients/connected", 0);
      std::vector<std::string> names;
      {
        std::lock_guard lock(state_mutex);
        connected = true;
        up = true;
        pending = 0;  // packets queued on the old connection were discarded with it
        names.reserve(rooms.size());
        for (const auto& [name, room] : rooms) names.push_back(name);
      }
      // The broker may have restarted without persistence: give it every room's state
      // again. One room per lock, so the hub's publish() waits for one publish at most;
      // whichever of the two takes a room's lock last publishes its newest state last.
      for (const auto& name : names) {
        std::lock_guard lock(state_mutex);
        if (!connected || !publishing()) break;
        const auto it = rooms.find(name);
        if (it != rooms.end() && it->second.latest) {
          publish_locked(it->second.state_topic, it->second.latest, 1, true);
        }
      }
    } else {
      set_error(protocol.load() == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc)
                                                    : mosquitto_connack_string(rc));
    }
    {
      std::lock_guard lock(connect_mutex);
      connect_answered = true;
      connect_rc = rc;
    }
    connect_changed.notify_all();
  }

  void on_disconnect(int rc) {
    {
      std::lock_guard lock(state_mutex);
      connected = false;
      up = false;
    }
    if (rc != 0) set_error(std::string("connection lost: ") + mosquitto_strerror(rc));
  }

  void on_message(const mosquitto_message* message, const mosquitto_property* props) {
    const std::string_view topic = message->topic ? message->topic : "";
    const std::string_view payload(static_cast<const char*>(message->payload),
                                   static_cast<std::size_t>(message->payloadlen));
    if (topic == "$SYS/broker/clients/connected") {
      broker_clients = std::strtoll(std::string(payload).c_str(), nullptr, 10);
      return;
    }
    if (standby()) {
      if (const auto room = events_room(topic, rooms_prefix)) return seen_on_broker(*room, props);
    }
    // A command someone published with the retain flag is delivered again, flagged
    // retained, each time we subscribe (start, every reconnect): it was run when it was
    // published, so a stored copy is never a new command.
    if (message->retain) return;
    // Only rooms_prefix + R + "/commands" is left (the filter is rooms/+/commands).
    const std::optional<std::string_view> room_in_topic = command_room(topic, rooms_prefix);
    if (!room_in_topic) return;
    const std::string room(*room_in_topic);

    // The MQTT 5 response topic and correlation data, when the requester set them.
    std::string reply_topic, correlation;
    {
      char* response = nullptr;
      if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response, false)) {
        std::unique_ptr<char, FreeDeleter> owned(response);
        if (response && valid_reply_topic(response, rooms_prefix)) {
          reply_topic = response;
        }
      }
      void* data = nullptr;
      std::uint16_t length = 0;
      if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &length,
                                         false)) {
        std::unique_ptr<void, FreeDeleter> owned(data);
        if (data) correlation.assign(static_cast<const char*>(data), length);
      }
    }
    const std::string fallback = errors_topic(room);

    // Too large: refused here, unread, before anything is copied to the sink.
    if (payload.size() > options.max_command_bytes) {
      ++refused;
      const Failure failure{FailureCode::too_large,
                            "command over " + std::to_string(options.max_command_bytes) + " bytes"};
      publish_reply(reply_topic.empty() ? fallback : reply_topic, correlation,
                    sink->encode_failure(failure, {}));
      return;
    }
    // The JSON `reply_to` field wins over the MQTT 5 response topic.
    if (ReplyTo reply_to = read_reply_to(payload, rooms_prefix); reply_to.present) {
      if (!reply_to.valid) {
        ++refused;
        const Failure failure{FailureCode::bad_request,
                              "reply_to must be a topic name without wildcards, not a room's "
                              "events, state or commands topic"};
        publish_reply(reply_topic.empty() ? fallback : reply_topic, correlation,
                      sink->encode_failure(failure, payload));
        return;
      }
      reply_topic = std::move(reply_to.topic);
    }
    if (reply_topic.empty()) reply_topic = fallback;
    // The hub validates the room, the JSON and the command, and answers errors through
    // the client; success is not echoed (the room's events show it).
    sink->on_message(
        room, std::string(payload),
        std::make_shared<ReplyClient>(weak_self, std::move(reply_topic), std::move(correlation)));
  }

  // ReplyClient answers one command's requester on its reply topic. Its peer is "mqtt":
  // the broker does not tell subscribers who published, so every MQTT publisher counts as
  // one address for the room-creation rate limit (broker ACLs limit them one by one).
  // Threads: any.
  class ReplyClient final : public Client {
   public:
    ReplyClient(std::weak_ptr<Impl> impl, std::string topic, std::string correlation)
        : impl_(std::move(impl)), topic_(std::move(topic)), correlation_(std::move(correlation)) {}
    void send(std::vector<Message> messages) override {
      const auto impl = impl_.lock();
      if (!impl) return;
      for (const auto& m : messages) {
        if (m.payload) impl->publish_reply(topic_, correlation_, *m.payload);
      }
    }
    std::string_view transport() const override { return "mqtt"; }
    std::string_view peer() const override { return "mqtt"; }

   private:
    std::weak_ptr<Impl> impl_;
    std::string topic_, correlation_;
  };

  std::weak_ptr<Impl> weak_self;

  // libmosquitto callbacks: run on its loop thread.
  static void connect_cb(mosquitto* m, void* obj, int rc, int, const mosquitto_property*) {
    static_cast<Impl*>(obj)->on_connect(m, rc);
  }
  static void disconnect_cb(mosquitto*, void* obj, int rc, const mosquitto_property*) {
    static_cast<Impl*>(obj)->on_disconnect(rc);
  }
  static void publish_cb(mosquitto*, void* obj, int) { --static_cast<Impl*>(obj)->pending; }
  static void message_cb(mosquitto*, void* obj, const mosquitto_message* message,
                         const mosquitto_property* props) {
    static_cast<Impl*>(obj)->on_message(message, props);
  }

  // connect makes a handle for `version`, connects and waits. Returns the CONNACK code
  // (0 on success), or throws on a timeout or a fatal error.
  int connect(int version) {
    {
      std::lock_guard lock(connect_mutex);
      connect_answered = false;
      connect_rc = -1;
      last_error.clear();
    }
    protocol = version;
    const std::string client_id = "tickcast-" + std::to_string(::getpid()) + "-" + random_suffix();
    MosquittoHandle handle(mosquitto_new(client_id.c_str(), true, this));
    if (!handle) throw std::runtime_error("MQTT: mosquitto_new failed");
    mosquitto* m = handle.get();
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, version);
    // Without it Nagle holds an event's retained state publish (the second small packet)
    // until the broker acks the first: ~40 ms late on loopback.
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(m, &connect_cb);
    mosquitto_disconnect_v5_callback_set(m, &disconnect_cb);
    mosquitto_publish_callback_set(m, &publish_cb);
    mosquitto_message_v5_callback_set(m, &message_cb);
    mosquitto_reconnect_delay_set(m,
                                  static_cast<unsigned>(std::max(1, options.reconnect_delay_min_s)),
                                  static_cast<unsigned>(std::max(options.reconnect_delay_min_s,
                                                                 options.reconnect_delay_max_s)),
                                  true);
    const std::string& user = options.username.empty() ? address.username : options.username;
    const std::string& pass = options.password.empty() ? address.password : options.password;
    if (!user.empty()) {
      check(mosquitto_username_pw_set(m, user.c_str(), pass.empty() ? nullptr : pass.c_str()),
            "username");
    }
    if (address.tls || !options.tls_cafile.empty()) {
      const char* cafile = options.tls_cafile.empty() ? nullptr : options.tls_cafile.c_str();
      check(mosquitto_tls_set(m, cafile, cafile ? nullptr : "/etc/ssl/certs",
                              options.tls_certfile.empty() ? nullptr : options.tls_certfile.c_str(),
                              options.tls_keyfile.empty() ? nullptr : options.tls_keyfile.c_str(),
                              nullptr),
            "TLS setup");
      if (options.tls_insecure) mosquitto_tls_insecure_set(m, true);
    }
    {
      std::unique_lock lock(handle_mutex);
      mosq = std::move(handle);
    }
    const int rc = mosquitto_connect_async(m, address.host.c_str(), address.port,
                                           std::max(5, options.keepalive_s));
    if (rc == MOSQ_ERR_EAI || rc == MOSQ_ERR_INVAL) {
      const std::string why = rc == MOSQ_ERR_EAI ? "cannot resolve host" : mosquitto_strerror(rc);
      disconnect();
      throw std::runtime_error("MQTT: cannot connect to " + url + ": " + why);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      // Refused or unreachable for now: the loop retries with back-off until the deadline.
      set_error(rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
    }
    if (const int loop = mosquitto_loop_start(m); loop != MOSQ_ERR_SUCCESS) {
      disconnect();
      throw std::runtime_error(std::string("MQTT: cannot start the loop thread: ") +
                               mosquitto_strerror(loop));
    }
    std::unique_lock lock(connect_mutex);
    const auto deadline = SteadyClock::now() + options.connect_timeout;
    // A refused CONNACK is final (bad credentials, protocol); a refused TCP connect is not.
    connect_changed.wait_until(lock, deadline, [this] { return connect_answered; });
    if (connect_answered && connect_rc == 0) return 0;
    const int result = connect_rc;
    const std::string why = last_error.empty() ? "no answer" : last_error;
    const bool answered = connect_answered;
    lock.unlock();
    disconnect();
    if (answered && result == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION && version == MQTT_PROTOCOL_V5) {
      return result;  // the caller retries with MQTT 3.1.1
    }
    if (answered) {
      throw std::runtime_error("MQTT: the broker at " + url + " refused the connection: " + why);
    }
    throw std::runtime_error("MQTT: could not connect to the broker at " + url + " within " +
                             std::to_string(options.connect_timeout.count()) + " ms (" + why + ")");
  }

  // disconnect stops the loop thread, then destroys the handle. Owning thread only.
  void disconnect() {
    mosquitto* m = nullptr;
    {
      std::shared_lock lock(handle_mutex);
      m = mosq.get();
    }
    if (!m) return;
    // Not under the exclusive lock: callbacks on the loop thread take the shared one.
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    {
      std::unique_lock lock(handle_mutex);
      mosq.reset();
    }
    std::lock_guard lock(state_mutex);
    connected = false;
    up = false;
  }

  static void check(int rc, const char* what) {
    if (rc != MOSQ_ERR_SUCCESS) {
      throw std::runtime_error(std::string("MQTT: ") + what + ": " + mosquitto_strerror(rc));
    }
  }
};

MqttTransport::MqttTransport(MqttOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {
  init_library();
  impl_->weak_self = impl_;
  Impl& impl = *impl_;
  const std::string& prefix = impl.options.topic_prefix;
  if (prefix.empty() || prefix.front() == '/' || prefix.back() == '/' ||
      mosquitto_pub_topic_check((prefix + "/rooms/x/commands").c_str()) != MOSQ_ERR_SUCCESS) {
    throw std::invalid_argument("bad MQTT topic prefix '" + prefix +
                                "': one or more topic levels, no wildcards");
  }
  impl.rooms_prefix = prefix + "/rooms/";
  impl.commands_filter = impl.rooms_prefix + "+/commands";
  impl.events_filter = impl.rooms_prefix + "+/events";
  impl.commands_subscription =
      impl.options.command_share_group.empty()
          ? impl.commands_filter
          : "$share/" + impl.options.command_share_group + "/" + impl.commands_filter;
  if (!impl.options.broker_url.empty()) {
    impl.address = parse_broker_url(impl.options.broker_url);
  }
}

MqttTransport::~MqttTransport() { stop(); }

std::string_view MqttTransport::name() const { return "mqtt"; }

void MqttTransport::start(Sink& sink) {
  Impl& impl = *impl_;
  if (impl.started) return;
  impl.sink = &sink;
  if (impl.options.broker_url.empty()) {
    detail::EmbeddedBrokerOptions broker;
    broker.binary = impl.options.mosquitto_binary;
    broker.host = impl.options.host;
    broker.port = impl.options.port;
    broker.websocket_port = impl.options.websocket_port;
    broker.max_connections = impl.options.max_clients;
    broker.start_timeout = impl.options.broker_start_timeout;
    broker.tls_port = impl.options.tls_listener_port;
    broker.tls_cert_file = impl.options.tls_listener_cert;
    broker.tls_key_file = impl.options.tls_listener_key;
    if (!impl.options.broker_auth_algorithm.empty()) {
      broker.auth_plugin = impl.options.broker_auth_plugin;
#ifdef TICKCAST_MOSQUITTO_AUTH_PLUGIN
      if (broker.auth_plugin.empty()) broker.auth_plugin = TICKCAST_MOSQUITTO_AUTH_PLUGIN;
#endif
      if (broker.auth_plugin.empty()) {
        throw std::runtime_error(
            "MQTT room tokens need tickcast's mosquitto plugin (built with mosquitto-dev)");
      }
      broker.auth_algorithm = impl.options.broker_auth_algorithm;
      broker.auth_key = impl.options.broker_auth_key;
      broker.server_user = "tickcast-server";
      broker.server_password = random_hex(16);
      broker.topic_prefix = impl.options.topic_prefix;
      impl.options.username = broker.server_user;
      impl.options.password = broker.server_password;
    }
    impl.broker = std::make_unique<detail::EmbeddedBroker>(std::move(broker));
    impl.broker_pid = static_cast<int>(impl.broker->pid());
    impl.address = BrokerAddress{};
    impl.address.host = detail::connect_host(impl.options.host);
    impl.address.port = impl.options.port;
    std::unique_lock lock(impl.handle_mutex);
    impl.url = "mqtt://" + host_in_url(impl.options.host) + ":" + std::to_string(impl.options.port);
    if (impl.options.websocket_port != 0) {
      impl.ws_url = "ws://" + host_in_url(impl.options.host) + ":" +
                    std::to_string(impl.options.websocket_port);
    }
  } else {
    std::unique_lock lock(impl.handle_mutex);
    impl.url = impl.options.broker_url;
  }
  try {
    if (impl.connect(MQTT_PROTOCOL_V5) != 0) impl.connect(MQTT_PROTOCOL_V311);
  } catch (...) {
    impl.broker.reset();
    impl.broker_pid = 0;
    throw;
  }
  impl.started = true;
}

void MqttTransport::stop() {
  Impl& impl = *impl_;
  impl.disconnect();
  impl.broker.reset();
  impl.broker_pid = 0;
  impl.started = false;
}

void MqttTransport::publish(std::string_view room, const Message& message) {
  Impl& impl = *impl_;
  if (!message.payload) return;
  std::shared_lock handle_lock(impl.handle_mutex);
  if (!impl.mosq) return;
  std::lock_guard lock(impl.state_mutex);
  Impl::RoomEntry& entry = impl.entry(room);
  entry.latest = message.payload;  // re-published on reconnect
  if (!impl.publishing()) {
    if (impl.standby()) impl.withhold(entry, message);
    return;
  }
  if (!impl.connected) {
    ++impl.dropped;
    return;
  }
  impl.flush_withheld_locked(entry);  // after a takeover: what the old publisher never sent
  if (message.droppable &&
      impl.pending.load() > static_cast<std::int64_t>(impl.options.max_pending)) {
    ++impl.dropped;  // the broker connection is backed up; a newer tick supersedes this one
    return;
  }
  if (impl.publish_event_locked(entry, message)) {
    ++impl.sent;
  } else {
    ++impl.dropped;
  }
  impl.publish_locked(entry.state_topic, message.payload, 1, true);
}

void MqttTransport::catch_up() {
  Impl& impl = *impl_;
  std::shared_lock handle_lock(impl.handle_mutex);
  if (!impl.mosq) return;
  std::lock_guard lock(impl.state_mutex);
  if (!impl.connected || !impl.publishing()) return;
  for (auto& [name, entry] : impl.rooms) impl.flush_withheld_locked(entry);
}

std::uint64_t MqttTransport::caught_up() const { return impl_->caught_up.load(); }

// A new room's state is retained at once, so a dashboard that subscribes before the room's
// first event still reads it. Not on the events topic: nothing happened in the room.
void MqttTransport::room_created(std::string_view room, const Message& snapshot) {
  Impl& impl = *impl_;
  if (!snapshot.payload) return;
  std::shared_lock handle_lock(impl.handle_mutex);
  std::lock_guard lock(impl.state_mutex);
  Impl::RoomEntry& entry = impl.entry(room);
  entry.latest = snapshot.payload;  // re-published on reconnect
  if (impl.mosq && impl.connected && impl.publishing())
    impl.publish_locked(entry.state_topic, snapshot.payload, 1, true);
}

void MqttTransport::forget_room(std::string_view room) {
  Impl& impl = *impl_;
  std::shared_lock handle_lock(impl.handle_mutex);
  std::lock_guard lock(impl.state_mutex);
  const auto it = impl.rooms.find(room);
  if (it == impl.rooms.end()) return;
  if (impl.mosq && impl.connected && impl.publishing()) {
    // A zero-length retained message deletes the retained one (MQTT 3.3.1.3).
    if (mosquitto_publish(impl.mosq.get(), nullptr, it->second.state_topic.c_str(), 0, nullptr, 1,
                          true) == MOSQ_ERR_SUCCESS) {
      ++impl.pending;
    }
  }
  impl.rooms.erase(it);
}

TransportStats MqttTransport::stats() const {
  const Impl& impl = *impl_;
  TransportStats stats;
  const auto broker_clients = impl.broker_clients.load();
  stats.clients = broker_clients > 1 ? static_cast<std::uint64_t>(broker_clients - 1) : 0;
  stats.messages_sent = impl.sent.load();
  stats.messages_dropped = impl.dropped.load();
  stats.clients_refused = impl.refused.load();
  stats.accepting = impl.up.load();
  stats.upstream_connected = impl.up.load();
  return stats;
}

std::string MqttTransport::broker_url() const {
  std::shared_lock lock(impl_->handle_mutex);
  return impl_->url.empty() ? impl_->options.broker_url : impl_->url;
}

std::string MqttTransport::websocket_url() const {
  std::shared_lock lock(impl_->handle_mutex);
  return impl_->ws_url;
}

int MqttTransport::embedded_broker_pid() const { return impl_->broker_pid.load(); }

}  // namespace tickcast::mqtt
