#pragma once
// Test support for the MQTT transport tests: a real mosquitto on a free loopback port,
// spawned third-party clients (mosquitto_sub/mosquitto_pub), an in-process libmosquitto
// probe, and a thread-safe recording transport. Everything waits on conditions with
// deadlines, never on fixed sleeps.

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tickcast/transport/transport.h"

extern char** environ;

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

/// free_port returns a loopback TCP port that was free a moment ago (bind to port 0).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("free_port failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// port_accepts tells whether 127.0.0.1:port accepts a TCP connection now.
inline bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// process_gone tells whether `pid` no longer runs (no such process, or a zombie).
inline bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] == 'Z' ||
         text[close + 2] == 'X';
}

/// ChildProcess is a spawned program; its stdout is captured when asked. Killed (SIGKILL)
/// and reaped on destruction if still running.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> args, bool capture_stdout,
               const std::string& log_path = {}) {
    int out[2] = {-1, -1};
    if (capture_stdout && ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture_stdout) posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (!log_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                       0600);
      if (!capture_stdout) posix_spawn_file_actions_adddup2(&actions, 2, 1);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (capture_stdout) {
      ::close(out[1]);
      out_ = out[0];
    }
    if (rc != 0) throw std::runtime_error("cannot spawn " + args[0] + ": " + std::strerror(rc));
  }
  ~ChildProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void kill(int sig) { ::kill(pid_, sig); }

  /// wait returns the wait status once the process exits, or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    poll_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  /// read_line returns the next stdout line, or nullopt on EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }

  /// read_all returns stdout up to EOF (or what came before `timeout`).
  std::string read_all(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (fill(deadline)) {
    }
    return std::exchange(buffer_, {});
  }

 private:
  bool fill(SteadyClock::time_point deadline) {
    if (out_ < 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::read(out_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = 0;
  int out_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

/// run runs a program to completion and returns {exit code (or -1), stdout}.
inline std::pair<int, std::string> run(std::vector<std::string> args,
                                       std::chrono::milliseconds timeout = 10s) {
  ChildProcess child(std::move(args), true);
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
        std::vector<std::string>{"mosquitto", "-c", dir_ + "/mosquitto.conf"}, false,
        dir_ + "/mosquitto.log");
    const bool up =
        poll_until([&] { return process_->wait(0ms).has_value() || port_accepts(port_); }, 10s);
    if (!up || process_->wait(0ms)) {
      throw std::runtime_error("test mosquitto did not come up on port " + std::to_string(port_));
    }
  }
  /// kill9 SIGKILLs the broker and reaps it.
  void kill9() {
    if (!process_) return;
    process_->kill(SIGKILL);
    process_->wait(10s);
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

/// Recorded is one event a RecordingTransport got.
struct Recorded {
  std::string room;
  json event;
  SteadyClock::time_point at;
};

/// RecordingTransport stands in for another transport on the same hub (e.g. ws): it
/// records every broadcast, thread-safely, with its arrival time.
class RecordingTransport final : public Transport {
 public:
  std::string_view name() const override { return "recording"; }
  void start(Sink&) override {}
  void stop() override {}
  void publish(std::string_view room, const Message& message) override {
    std::lock_guard lock(mutex_);
    events_.push_back({std::string(room), json::parse(*message.payload), SteadyClock::now()});
    changed_.notify_all();
  }
  TransportStats stats() const override { return {}; }

  bool wait(const std::function<bool(const std::vector<Recorded>&)>& pred,
            std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(events_); });
  }
  std::vector<Recorded> events(const std::string& room) const {
    std::lock_guard lock(mutex_);
    std::vector<Recorded> out;
    for (const auto& e : events_) {
      if (e.room == room) out.push_back(e);
    }
    return out;
  }
  static std::size_t count(const std::vector<Recorded>& events, const std::string& room,
                           const std::string& reason = {}) {
    std::size_t n = 0;
    for (const auto& e : events) {
      if (e.room == room && (reason.empty() || e.event["reason"] == reason)) ++n;
    }
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Recorded> events_;
};

}  // namespace tickcast::mqtt_test
