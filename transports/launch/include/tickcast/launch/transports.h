#pragma once
// tickcast::launch: what an app's main() needs to stand its transports up by name, so that
// an embedding app writes its Sink and its flags, not a factory. It links every transport
// (ws, sse, longpoll, socketio on one tickcast::http port; mqtt), and no app.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tickcast/http/server.h"
#include "tickcast/mqtt/mqtt_transport.h"
#include "tickcast/transport/transport.h"

namespace tickcast::launch {

/// Options names the transports and configures the port they share and the MQTT broker.
struct Options {
  /// Any of "ws", "sse", "longpoll", "socketio" (on the port) and "mqtt" (the broker).
  std::vector<std::string> transports{"ws"};
  http::ServerOptions http;  ///< the one port of ws, sse, longpoll and socketio
  mqtt::MqttOptions mqtt;    ///< without broker_url: starts its own mosquitto
};

/// known_transports lists the names Options::transports accepts.
const std::vector<std::string>& known_transports();

/// Transports owns the port and the transports an app named, each with its default options.
/// Threads: start() and stop() from the owning thread; publish() from any thread once
/// start() has returned.
class Transports {
 public:
  /// Transports checks the names (std::invalid_argument names an unknown one) and prepares
  /// the port; nothing is bound or started until start().
  explicit Transports(Options options);
  /// ~Transports stops them.
  ~Transports();
  Transports(const Transports&) = delete;
  Transports& operator=(const Transports&) = delete;

  /// server is the port, for the app's own routes (add them before start()).
  http::Server& server() { return *server_; }
  /// start binds the port (when a transport on it was named), then makes and starts every
  /// transport with `sink`, which must outlive stop(). Throws std::runtime_error with a clear
  /// message (a port in use, no mosquitto binary).
  void start(Sink& sink);
  /// publish gives `message` to every transport for the clients of `room`.
  void publish(std::string_view room, const Message& message);
  /// stop stops the transports, then the port. Idempotent.
  void stop();
  /// describe says what runs where: "ws, sse on http://127.0.0.1:8080; mqtt".
  std::string describe() const;

 private:
  Options options_;
  std::unique_ptr<http::Server> server_;
  std::vector<std::unique_ptr<Transport>> transports_;
};

}  // namespace tickcast::launch
