#pragma once
// Test support for the MQTT transport tests: a real mosquitto on a free loopback port,
// third-party clients (mosquitto_sub/mosquitto_pub) run as children, an in-process libmosquitto
// probe; the recording transport of support/. Everything waits on conditions with
// deadlines, never on fixed sleeps.

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "process/child_process.h"
#include "process/ports.h"
#include "recording/recording_transport.h"
#include "tickcast/transport/transport.h"

namespace tickcast::mqtt_test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using nlohmann::json;

/// poll_until re-checks `condition` until it holds or `timeout` passes. For conditions
/// outside this process (ports, processes) that nothing can notify us about.
inline bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);  // poll interval, not synchronisation
  }
}

using support::free_port;
using support::port_accepts;

/// process_gone tells whether `pid` no longer runs (no such process, or a zombie).
inline bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] == 'Z' ||
         text[close + 2] == 'X';
}

using support::ChildOptions;
using support::ChildProcess;

/// run runs a program to completion and returns {exit code (or -1), stdout}.
inline std::pair<int, std::string> run(std::vector<std::string> args,
                                       std::chrono::milliseconds timeout = 10s) {
  ChildProcess child(
      {.argv = std::move(args), .output = ChildOptions::Output::pipe, .stop_grace = 0ms});
  std::string out = child.read_all(timeout);
  const auto status = child.wait(timeout);
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, out};
}

/// TestBroker is a real mosquitto on a free loopback port, with kill -9 and restart.
class TestBroker {
 public:
  TestBroker() : port_(free_port()) {
    char dir[] = "/tmp/tickcast-mqtt-test-XXXXXX";
    if (!::mkdtemp(dir)) throw std::runtime_error("mkdtemp");
    dir_ = dir;
    std::ofstream(dir_ + "/mosquitto.conf")
        << "allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
           "log_type warning\nlistener "
        << port_ << " 127.0.0.1\n";
    start();
  }
  ~TestBroker() {
    kill9();
    ::unlink((dir_ + "/mosquitto.conf").c_str());
    ::unlink((dir_ + "/mosquitto.log").c_str());
    ::rmdir(dir_.c_str());
  }
  TestBroker(const TestBroker&) = delete;
  TestBroker& operator=(const TestBroker&) = delete;

  /// start runs mosquitto on the port and waits until it accepts connections.
  void start() {
    process_ = std::make_unique<ChildProcess>(
        ChildOptions{.argv = {"mosquitto", "-c", dir_ + "/mosquitto.conf"},
                     .log_path = dir_ + "/mosquitto.log",
                     .stop_grace = 0ms});
    const bool up = poll_until([&] { return !process_->running() || port_accepts(port_); }, 10s);
    if (!up || !process_->running()) {
      throw std::runtime_error("test mosquitto did not come up on port " + std::to_string(port_));
    }
  }
  /// kill9 SIGKILLs the broker and reaps it.
  void kill9() {
    if (!process_) return;
    process_->kill_hard();
    process_.reset();
  }
  int port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  std::string dir_;
  std::unique_ptr<ChildProcess> process_;
};

/// Received is one message a probe got.
struct Received {
  std::string topic, payload, correlation;
  bool retain = false;
  SteadyClock::time_point at;
};

/// MqttProbe is an in-process libmosquitto client (MQTT 5) that subscribes in its
/// on-connect callback (so it resumes after a broker restart) and records what it gets.
class MqttProbe {
 public:
  MqttProbe(int port, std::vector<std::string> topics, bool keep_payloads = true)
      : topics_(std::move(topics)), keep_payloads_(keep_payloads) {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
    mosquitto_connect_v5_callback_set(
        mosq_, [](mosquitto* m, void* self, int rc, int, const mosquitto_property*) {
          if (rc != 0) return;
          auto* probe = static_cast<MqttProbe*>(self);
          for (const auto& t : probe->topics_) mosquitto_subscribe(m, nullptr, t.c_str(), 0);
        });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
      auto* probe = static_cast<MqttProbe*>(self);
      std::lock_guard lock(probe->mutex_);
      ++probe->subacks_;
      probe->changed_.notify_all();
    });
    mosquitto_disconnect_callback_set(mosq_, [](mosquitto*, void* self, int) {
      auto* probe = static_cast<MqttProbe*>(self);
      std::lock_guard lock(probe->mutex_);
      probe->subacks_ = 0;
    });
    mosquitto_message_v5_callback_set(
        mosq_, [](mosquitto*, void* self, const mosquitto_message* m, const mosquitto_property* p) {
          static_cast<MqttProbe*>(self)->record(m, p);
        });
    mosquitto_connect_async(mosq_, "127.0.0.1", port, 30);
    mosquitto_loop_start(mosq_);
  }
  ~MqttProbe() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    mosquitto_destroy(mosq_);
  }
  MqttProbe(const MqttProbe&) = delete;
  MqttProbe& operator=(const MqttProbe&) = delete;

  /// wait_subscribed waits until every topic is subscribed on the current connection.
  bool wait_subscribed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return subacks_ >= topics_.size(); });
  }
  /// wait waits until `pred(messages)` holds.
  bool wait(const std::function<bool(const std::vector<Received>&)>& pred,
            std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(received_); });
  }
  /// wait_seqs waits until `pred(seqs)` holds (seqs of every JSON message, in order).
  bool wait_seqs(const std::function<bool(const std::vector<std::uint64_t>&)>& pred,
                 std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(seqs_); });
  }
  std::vector<Received> messages() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  /// seqs returns the `seq` of every JSON message received, in arrival order.
  std::vector<std::uint64_t> seqs() const {
    std::lock_guard lock(mutex_);
    return seqs_;
  }

 private:
  void record(const mosquitto_message* m, const mosquitto_property* props) {
    Received r;
    r.topic = m->topic;
    r.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
    r.retain = m->retain;
    r.at = SteadyClock::now();
    void* data = nullptr;
    std::uint16_t length = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &length, false)) {
      r.correlation.assign(static_cast<const char*>(data), length);
      std::free(data);
    }
    const auto parsed = json::parse(r.payload, nullptr, false);
    std::lock_guard lock(mutex_);
    if (parsed.is_object() && parsed.contains("seq"))
      seqs_.push_back(parsed["seq"].get<std::uint64_t>());
    if (keep_payloads_) received_.push_back(std::move(r));
    changed_.notify_all();
  }

  std::vector<std::string> topics_;
  bool keep_payloads_;
  mosquitto* mosq_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t subacks_ = 0;
  std::vector<Received> received_;
  std::vector<std::uint64_t> seqs_;
};

using support::RecordingTransport;

}  // namespace tickcast::mqtt_test
