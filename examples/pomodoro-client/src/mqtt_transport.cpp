// mqtt: events on tickcast/rooms/{room}/events and the retained snapshot on .../state;
// commands published to .../commands with a reply_to topic this client subscribes to.
#include <mosquitto.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "transport.h"

namespace tickcast::client {

namespace {

using namespace std::chrono_literals;

std::string mosq_error(int rc) {
  std::string text = rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] + 32);
  return text;
}

struct MosqDeleter {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};

class MqttTransport final : public ClientTransport {
 public:
  MqttTransport(const Endpoint& endpoint, Events& events) : endpoint_(endpoint), events_(events) {
    static const int init = mosquitto_lib_init();
    (void)init;
    std::random_device rd;
    client_id_ =
        "tickcast-client-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
    const std::string base = "tickcast/rooms/" + endpoint_.room;
    events_topic_ = base + "/events";
    state_topic_ = base + "/state";
    commands_topic_ = base + "/commands";
    reply_topic_ = "tickcast/clients/" + client_id_ + "/replies";
  }
  ~MqttTransport() override { stop(); }

  std::string url() const override {
    return "mqtt://" + endpoint_.mqtt_host + ":" + std::to_string(endpoint_.mqtt_port) + "/" +
           events_topic_;
  }

  bool sends_snapshot_on_join() const override { return false; }

  std::optional<std::string> start() override {
    mosq_.reset(mosquitto_new(client_id_.c_str(), true, this));
    if (!mosq_) return "mosquitto_new failed";
    mosquitto_connect_callback_set(mosq_.get(), &MqttTransport::on_connect);
    mosquitto_subscribe_callback_set(mosq_.get(), &MqttTransport::on_subscribe);
    mosquitto_message_callback_set(mosq_.get(), &MqttTransport::on_message);
    mosquitto_disconnect_callback_set(mosq_.get(), &MqttTransport::on_disconnect);
    mosquitto_reconnect_delay_set(mosq_.get(), 1, 10, true);
    if (const int rc =
            mosquitto_connect(mosq_.get(), endpoint_.mqtt_host.c_str(), endpoint_.mqtt_port, 30);
        rc != MOSQ_ERR_SUCCESS) {
      return mosq_error(rc);
    }
    if (const int rc = mosquitto_loop_start(mosq_.get()); rc != MOSQ_ERR_SUCCESS) {
      return mosq_error(rc);
    }
    loop_started_ = true;
    // Joined means: connected and both subscriptions acknowledged.
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return subscribed_ || !connect_error_.empty(); })) {
      return "timed out waiting for the broker";
    }
    if (!connect_error_.empty()) return connect_error_;
    return std::nullopt;
  }

  void send(const std::string& command_json) override {
    auto cmd = nlohmann::ordered_json::parse(command_json, nullptr, false);
    std::string payload = command_json;
    if (cmd.is_object()) {
      cmd["reply_to"] = reply_topic_;
      payload = cmd.dump();
    }
    const int rc = mosquitto_publish(mosq_.get(), nullptr, commands_topic_.c_str(),
                                     static_cast<int>(payload.size()), payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) events_.on_notice("cannot publish command: " + mosq_error(rc));
  }

  void stop() override {
    if (!mosq_) return;
    stopping_.store(true);
    mosquitto_disconnect(mosq_.get());
    if (loop_started_) mosquitto_loop_stop(mosq_.get(), false);
    loop_started_ = false;
    mosq_.reset();
  }

 private:
  static void on_connect(mosquitto* m, void* self_ptr, int rc) {
    auto* self = static_cast<MqttTransport*>(self_ptr);
    if (rc != 0) {
      std::lock_guard lock(self->mu_);
      self->connect_error_ =
          std::string("broker refused the connection: ") + mosquitto_connack_string(rc);
      self->cv_.notify_all();
      return;
    }
    // Subscribing here restores the subscriptions after every reconnect.
    const char* topics[] = {self->events_topic_.c_str(), self->state_topic_.c_str(),
                            self->reply_topic_.c_str()};
    int mid = 0;
    const int src =
        mosquitto_subscribe_multiple(m, &mid, 3, const_cast<char* const*>(topics), 1, 0, nullptr);
    if (src != MOSQ_ERR_SUCCESS) {
      std::lock_guard lock(self->mu_);
      self->connect_error_ = "cannot subscribe: " + mosq_error(src);
      self->cv_.notify_all();
    }
  }

  static void on_subscribe(mosquitto*, void* self_ptr, int, int, const int*) {
    auto* self = static_cast<MqttTransport*>(self_ptr);
    std::lock_guard lock(self->mu_);
    self->subscribed_ = true;
    self->cv_.notify_all();
  }

  static void on_disconnect(mosquitto*, void* self_ptr, int rc) {
    auto* self = static_cast<MqttTransport*>(self_ptr);
    if (rc != 0 && !self->stopping_.load()) {
      self->events_.on_notice("lost the broker (" + mosq_error(rc) + "); reconnecting");
    }
  }

  static void on_message(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
    auto* self = static_cast<MqttTransport*>(self_ptr);
    std::string payload(static_cast<const char*>(msg->payload),
                        static_cast<std::size_t>(msg->payloadlen));
    const std::string_view topic = msg->topic;
    std::optional<std::uint64_t> seq;
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned()) {
      seq = j["seq"].get<std::uint64_t>();
    }
    if (topic == self->state_topic_) {
      // The retained snapshot repeats what the events topic says; show it only when it
      // is news (at join, or after a gap).
      if (seq && self->last_seq_ && *seq <= *self->last_seq_) return;
    }
    if (seq && (!self->last_seq_ || *seq > *self->last_seq_)) self->last_seq_ = seq;
    self->events_.on_message(std::move(payload), msg->retain);
  }

  Endpoint endpoint_;
  Events& events_;
  std::string client_id_, events_topic_, state_topic_, commands_topic_, reply_topic_;
  std::unique_ptr<mosquitto, MosqDeleter> mosq_;
  bool loop_started_ = false;
  std::atomic<bool> stopping_{false};
  std::optional<std::uint64_t> last_seq_;  // mosquitto loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool subscribed_ = false;
  std::string connect_error_;
};

}  // namespace

std::unique_ptr<ClientTransport> make_mqtt_transport(const Endpoint& endpoint, Events& events) {
  return std::make_unique<MqttTransport>(endpoint, events);
}

}  // namespace tickcast::client
