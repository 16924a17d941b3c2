#pragma once
// The client side of each tickcast transport, behind one small interface, so main()
// reads the same for ws, sse, longpoll and mqtt.

#include <memory>
#include <optional>
#include <string>

namespace tickcast::client {

/// Endpoint is where the client connects.
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string room = "focus";
  std::string origin;  ///< ws Origin header; empty sends none
  std::string mqtt_host = "127.0.0.1";
  int mqtt_port = 1883;
};

/// Events receives what a transport gets from the server.
///
/// Threads: called from the transport's own threads (and from send() on the caller's
/// thread); implementations lock.
class Events {
 public:
  virtual ~Events() = default;
  /// on_message gets one event or error reply, as the server's JSON text. `stored` marks
  /// a stored copy rather than a live event (an MQTT retained state).
  virtual void on_message(std::string json, bool stored) = 0;
  /// on_notice gets a line for stderr (reconnecting, ...).
  virtual void on_notice(std::string text) = 0;
  /// on_fatal says the transport gave up; the client exits non-zero.
  virtual void on_fatal(std::string text) = 0;
};

/// ClientTransport joins one room over one protocol and sends commands.
///
/// Threads: start, send and stop are called from one thread (main). Messages arrive on
/// the transport's threads through Events.
class ClientTransport {
 public:
  virtual ~ClientTransport() = default;
  /// url is what start() connects to, for messages.
  virtual std::string url() const = 0;
  /// start connects and starts receiving; on failure returns the reason
  /// (e.g. "connection refused", "HTTP 404: unknown room").
  virtual std::optional<std::string> start() = 0;
  /// sends_snapshot_on_join tells whether joining yields an event at once (ws, sse,
  /// longpoll); mqtt has none for a room that has no retained state yet.
  virtual bool sends_snapshot_on_join() const { return true; }
  /// send sends one command; replies and errors come through Events.
  virtual void send(const std::string& command_json) = 0;
  /// stop disconnects and joins the transport's threads.
  virtual void stop() = 0;
};

std::unique_ptr<ClientTransport> make_ws_transport(const Endpoint& endpoint, Events& events);
std::unique_ptr<ClientTransport> make_sse_transport(const Endpoint& endpoint, Events& events);
std::unique_ptr<ClientTransport> make_longpoll_transport(const Endpoint& endpoint, Events& events);
std::unique_ptr<ClientTransport> make_mqtt_transport(const Endpoint& endpoint, Events& events);

/// tcp_connect_error tries a plain TCP connect and returns why it fails
/// ("connection refused"), or std::nullopt when it succeeds.
std::optional<std::string> tcp_connect_error(const std::string& host, int port);

}  // namespace tickcast::client
