#pragma once
// The embedded broker: a `mosquitto` child process run from a generated config.
// Internal to tickcast::mqtt (not installed).

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tickcast::mqtt::detail {

/// EmbeddedBrokerOptions says where the embedded broker listens and how to run it.
struct EmbeddedBrokerOptions {
  std::string binary;  ///< mosquitto executable; empty searches PATH, then /usr/sbin
  std::string host = "127.0.0.1";
  int port = 1883;
  int websocket_port = 0;               ///< 0 = no WebSocket listener
  std::size_t max_connections = 10000;  ///< per listener; 0 = unlimited
  std::chrono::milliseconds start_timeout{10000};
  /// With auth_plugin set: no anonymous clients; the plugin checks room tokens (see
  /// MqttOptions::broker_auth_*) and lets server_user/server_password do anything.
  std::string auth_plugin, auth_algorithm, auth_key, server_user, server_password;
  std::string topic_prefix = "tickcast";
  /// tls_port, when not 0, adds an MQTT-over-TLS listener with tls_cert_file/tls_key_file
  /// (copied into the broker's private directory, so that user mosquitto can read them).
  int tls_port = 0;
  std::string tls_cert_file, tls_key_file;
};

/// broker_config renders the mosquitto.conf the embedded broker runs with. `stay_root` adds
/// `user root`: mosquitto started as root otherwise switches to user `mosquitto` itself,
/// and that credential change clears PR_SET_PDEATHSIG.
std::string broker_config(const EmbeddedBrokerOptions& options, bool stay_root = false);

/// connect_host returns the address to connect to for a listener bound to `host`
/// (the loopback address for a wildcard bind).
std::string connect_host(const std::string& host);

/// EmbeddedBroker runs mosquitto as a child process for as long as it lives (RAII).
/// The child gets PR_SET_PDEATHSIG(SIGKILL), so it dies with this process even on SIGKILL;
/// the fork happens on a reaper thread that lives exactly as long as the child, because
/// the death signal follows the thread that forked, not the process.
/// Threads: construct, stop and destroy from one thread; pid() from any thread.
class EmbeddedBroker {
 public:
  /// EmbeddedBroker starts mosquitto and returns once every listener accepts connections.
  /// Throws std::runtime_error with a clear message: binary missing, port in use, broker
  /// exited at start-up (with its log), or not listening within start_timeout.
  explicit EmbeddedBroker(EmbeddedBrokerOptions options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  /// stop sends SIGTERM, waits up to 5 s, then SIGKILLs; reaps the child and removes
  /// the temporary directory. Idempotent.
  void stop();
  /// pid returns the child's process id (0 before it started or after it was reaped).
  pid_t pid() const;

 private:
  void spawn(const std::string& binary, bool drop_privileges, uid_t uid, gid_t gid);
  void wait_until_listening();
  bool exited() const;
  std::string log_tail() const;
  void remove_files();

  EmbeddedBrokerOptions options_;
  std::string dir_, config_path_;
  std::vector<std::string> copies_;  // the TLS certificate and key, the auth plugin

  // The child's stdout/stderr come through a pipe: kept (bounded) for start-up errors,
  // then forwarded to our stderr as "[mosquitto] ..." lines.
  void read_log(int fd);
  mutable std::mutex log_mutex_;  // guards log_, forward_log_
  std::string log_;
  bool forward_log_ = false;
  std::thread log_reader_;

  mutable std::mutex mutex_;  // guards pid_, exited_, status_
  std::condition_variable changed_;
  pid_t pid_ = 0;
  bool spawned_ = false;
  bool exited_ = false;
  int status_ = 0;
  std::thread reaper_;
};

}  // namespace tickcast::mqtt::detail
