#pragma once
// The MQTT transport: the server is one client of an MQTT broker (libmosquitto, its own
// loop thread); the broker does the fan-out to MQTT clients. Without a broker URL it starts
// its own `mosquitto` as a child process and stops it again.
//
// Topics, for a room R and the default prefix `tickcast`:
//   tickcast/rooms/R/events    every event, QoS 0, not retained
//   tickcast/rooms/R/state     the room's latest event (its snapshot from the moment the
//                              room exists, before any event), QoS 1, retained (every event is
//                              retained, ticks included, so a late subscriber reads the
//                              current countdown, not the one of the last state change)
//   tickcast/rooms/R/commands  commands from clients (the server subscribes to rooms/+/commands)
//   errors                     to the command's JSON `reply_to` topic, else to the MQTT 5
//                              response topic (with the correlation data), else to
//                              tickcast/rooms/R/errors. Never to the room.
//
// This header does not include mosquitto.h: an app that embeds the transport needs only
// libmosquitto at link time.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tickcast/transport/transport.h"

namespace tickcast::mqtt {

/// MqttOptions configures the broker connection and, when broker_url is empty, the
/// embedded broker. A plain aggregate: copy it freely.
struct MqttOptions {
  /// broker_url is `mqtt://host:port` (or `mqtts://`, `tcp://`, `ssl://`; optional
  /// `user:password@`) of an existing broker; empty starts an embedded mosquitto.
  std::string broker_url;
  std::string host = "127.0.0.1";  ///< address the embedded broker binds
  int port = 1883;                 ///< embedded broker's MQTT port
  int websocket_port = 0;          ///< embedded broker's MQTT-over-WebSocket port; 0 = none
  std::string username, password;  ///< for an existing broker; empty = anonymous
  std::string tls_cafile, tls_certfile, tls_keyfile;  ///< TLS to an existing broker
  bool tls_insecure = false;              ///< skip the broker hostname check (tests only)
  std::string topic_prefix = "tickcast";  ///< first topic level(s); no wildcards
  std::size_t max_clients = 10000;        ///< per listener of the embedded broker (max_connections)
  /// mosquitto_binary is the broker executable; empty searches PATH, then /usr/sbin.
  std::string mosquitto_binary;
  std::chrono::milliseconds connect_timeout{10000};       ///< start() gives up after this
  std::chrono::milliseconds broker_start_timeout{10000};  ///< embedded broker must listen by then
  int reconnect_delay_min_s = 1;   ///< first back-off after the broker is lost, seconds
  int reconnect_delay_max_s = 16;  ///< back-off grows (exponentially) up to this
  int keepalive_s = 15;            ///< MQTT keep-alive with the broker
  /// max_pending bounds messages handed to libmosquitto but not yet written; past it,
  /// droppable ticks are dropped (counted), state changes never are.
  std::size_t max_pending = 100000;
  /// max_command_bytes: a larger command is refused (too_large) before the sink sees it.
  std::size_t max_command_bytes = 4096;
  /// Room tokens on the embedded broker: with an algorithm ("HS256", "RS256", "ES256")
  /// and its key (the secret, or the PEM public key), MQTT clients must log in with a
  /// token as the password (any user name) and may only read the rooms it covers with
  /// "subscribe" and publish commands where it has "command"; it is checked by tickcast's
  /// mosquitto plugin (broker_auth_plugin; empty: the one built with tickcast). The
  /// transport itself logs in as "tickcast-server" with a random password. For an
  /// existing broker (broker_url) these are ignored: see transports/mqtt/README.md.
  std::string broker_auth_algorithm;
  std::string broker_auth_key;
  std::string broker_auth_plugin;
  /// tls_listener_port, when not 0, gives the embedded broker an MQTT-over-TLS listener
  /// (mqtts://host:port) with this PEM certificate and key, besides the plain one that
  /// the transport itself uses. The broker keeps the certificate until it restarts.
  int tls_listener_port = 0;
  std::string tls_listener_cert, tls_listener_key;
  /// command_share_group, when set, takes commands through the shared subscription
  /// `$share/<group>/{prefix}/rooms/+/commands`: the broker hands each command to one
  /// subscriber of the group, not to each (the nodes of a cluster sharing one broker).
  std::string command_share_group;
  /// publishes, when set, is asked before each publish to the broker: false leaves the
  /// rooms' topics to another publisher (a cluster follower sharing the writer's broker),
  /// while the transport still keeps each room's latest state. Any thread; must not block.
  /// Set, the transport is a standby: it watches `{prefix}/rooms/+/events` and keeps the
  /// events it did not publish until the publisher's copy (its `tickcast-seq` property)
  /// is seen there; once it publishes, the events left (the ones the old publisher never
  /// sent) go out first, in order: see catch_up(). Needs MQTT 5 (the property).
  std::function<bool()> publishes;
};

/// MqttTransport publishes room events to an MQTT broker and turns messages on the
/// commands topics into Sink::on_message calls. name() is "mqtt".
/// Threads: construct, start, stop and destroy from one owning thread; publish, stats,
/// broker_url and websocket_url from any thread. publish never blocks: it hands the
/// payload to libmosquitto's queue, written by libmosquitto's own loop thread, which
/// also runs every callback (so Sink::on_message is called from that thread).
class MqttTransport final : public tickcast::Transport {
 public:
  /// MqttTransport validates the options; throws std::invalid_argument on a bad URL or prefix.
  explicit MqttTransport(MqttOptions options);
  /// ~MqttTransport stops the transport (and the embedded broker).
  ~MqttTransport() override;
  MqttTransport(const MqttTransport&) = delete;
  MqttTransport& operator=(const MqttTransport&) = delete;

  /// name returns "mqtt".
  std::string_view name() const override;
  /// start starts the embedded broker if needed, connects and returns once connected.
  /// Throws std::runtime_error with a clear message (port in use, mosquitto missing, broker
  /// not up in time, connection refused or timed out). Owning thread only.
  void start(Sink& sink) override;
  /// stop disconnects, joins the loop thread and stops the embedded broker. Idempotent.
  void stop() override;
  /// publish sends the event to rooms/R/events and retains it on rooms/R/state. Never blocks;
  /// while the broker is away only the latest state is kept, re-published on reconnect.
  void publish(std::string_view room, const Message& message) override;
  /// room_created retains the new room's snapshot on rooms/R/state (not on events), so
  /// the state topic holds the room from its creation, before any event. Never blocks.
  void room_created(std::string_view room, const Message& snapshot) override;
  /// stats: upstream_connected and accepting follow the broker connection; clients is the
  /// broker's connected-client count (from $SYS, when the broker publishes it) minus us.
  TransportStats stats() const override;
  /// forget_room drops what is kept for an evicted room and clears its retained state
  /// (an empty retained message), so a dashboard no longer shows a room that is gone.
  void forget_room(std::string_view room) override;

  /// catch_up, once publishes() turned true (a standby that took over), publishes every
  /// room's withheld events the old publisher never sent, in seq order, and the room's
  /// latest state. A room's next publish() does it for that room anyway; this is for the
  /// rooms with no new event. Any thread.
  void catch_up();
  /// caught_up counts the events catch-ups published. Any thread.
  std::uint64_t caught_up() const;

  /// broker_url returns the URL MQTT clients use (`mqtt://host:port`). Any thread.
  std::string broker_url() const;
  /// websocket_url returns `ws://host:port` of the embedded broker's WebSocket listener,
  /// or "" when there is none. Any thread.
  std::string websocket_url() const;
  /// embedded_broker_pid returns the embedded mosquitto's process id, or 0. Any thread.
  int embedded_broker_pid() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with reply clients, which may outlive the transport
};

}  // namespace tickcast::mqtt
