#pragma once
// add_flags: the command-line flags of launch::Options, with CLI11 (header-only; an app that
// includes this header needs CLI11, tickcast::launch does not).
#include <CLI/CLI.hpp>

#include "tickcast/launch/transports.h"

namespace tickcast::launch {

/// add_flags adds --transport (a comma-separated list), --host (the port's and the embedded
/// broker's address), --port and --mqtt-port to `app`, writing into `options`.
inline void add_flags(CLI::App& app, Options& options) {
  app.add_option("--transport", options.transports, "transports to serve, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(known_transports()));
  app.add_option("--host", options.http.host, "address to listen on")
      ->each([&options](const std::string& host) { options.mqtt.host = host; });
  app.add_option("--port", options.http.port, "port of ws, sse, longpoll and socketio");
  app.add_option("--mqtt-port", options.mqtt.port, "port of the embedded MQTT broker");
}

}  // namespace tickcast::launch
