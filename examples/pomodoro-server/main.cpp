// tickcast-server: the shared, server-authoritative Pomodoro timer on the chosen transports.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>

#include "api.h"
#include "duration.h"
#include "tickcast/core/hub.h"
#include "tickcast/http/server.h"
#include "tickcast/sqlite/sqlite_store.h"
#ifdef TICKCAST_HAS_NATS
#include "tickcast/nats/nats_store.h"
#endif
#ifdef TICKCAST_HAS_WS
#include "tickcast/ws/ws_transport.h"
#endif
#ifdef TICKCAST_HAS_SSE
#include "tickcast/sse/sse_transport.h"
#endif
#ifdef TICKCAST_HAS_LONGPOLL
#include "tickcast/longpoll/longpoll_transport.h"
#endif
#ifdef TICKCAST_HAS_MQTT
#include "tickcast/mqtt/mqtt_transport.h"
#endif
#ifdef TICKCAST_HAS_SOCKETIO
#include "tickcast/socketio/socketio_transport.h"
#endif

namespace {

using namespace tickcast;

const std::vector<std::string> kKnownTransports{"ws", "sse", "longpoll", "mqtt", "socketio"};

// TICKCAST_FAULT_MQTT_WITHHOLD_AFTER=N (fault injection for the tests): a cluster writer on
// a shared broker stops handing events to it after N publishes. Unset: never.
std::shared_ptr<std::atomic<long>> mqtt_fault_withhold_after() {
  const char* n = std::getenv("TICKCAST_FAULT_MQTT_WITHHOLD_AFTER");
  return std::make_shared<std::atomic<long>>(n ? std::strtol(n, nullptr, 10)
                                               : std::numeric_limits<long>::max());
}

std::set<std::string> built_transports() {
  std::set<std::string> built;
#ifdef TICKCAST_HAS_WS
  built.insert("ws");
#endif
#ifdef TICKCAST_HAS_SSE
  built.insert("sse");
#endif
#ifdef TICKCAST_HAS_LONGPOLL
  built.insert("longpoll");
#endif
#ifdef TICKCAST_HAS_MQTT
  built.insert("mqtt");
#endif
#ifdef TICKCAST_HAS_SOCKETIO
  built.insert("socketio");
#endif
  return built;
}

// Splits "ws,sse" into names; "all" means every transport this build has.
std::vector<std::string> parse_transports(const std::string& list) {
  const auto built = built_transports();
  std::vector<std::string> chosen;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    if (name.empty()) continue;
    if (name == "all") {
      for (const auto& t : kKnownTransports) {
        if (built.count(t)) chosen.push_back(t);
      }
      continue;
    }
    if (std::find(kKnownTransports.begin(), kKnownTransports.end(), name) ==
        kKnownTransports.end()) {
      throw CLI::ValidationError(
          "--transport",
          "unknown transport '" + name + "'; use ws, sse, longpoll, mqtt, socketio or all");
    }
    if (!built.count(name)) {
      throw CLI::ValidationError(
          "--transport", "transport '" + name + "' is not built yet in this version of tickcast");
    }
    if (std::find(chosen.begin(), chosen.end(), name) == chosen.end()) chosen.push_back(name);
  }
  if (chosen.empty()) throw CLI::ValidationError("--transport", "no transport chosen");
  return chosen;
}

CLI::Validator duration_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto d = server::parse_duration(text);
        if (!d || *d < kMinPhase) return "expected a duration like 90s, 25m or 1h (100ms..24h)";
        return {};
      },
      "DURATION");
}

// --room-idle: a duration like the others, or 0 for never.
CLI::Validator idle_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto d = server::parse_duration(text);
        if (!d || (d->count() != 0 && *d < std::chrono::seconds(1))) {
          return "expected a duration like 90s, 10m or 1h (1s..24h), or 0 for never";
        }
        return {};
      },
      "DURATION");
}

// raise_fd_limit lifts the soft RLIMIT_NOFILE to the hard one when `needed` descriptors
// (every client of every transport, plus spare) do not fit: a default soft limit of 1,024
// would stop the server far below --max-clients. The embedded broker raises its own.
void raise_fd_limit(rlim_t needed) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= needed) return;
  files.rlim_cur = files.rlim_max == RLIM_INFINITY ? needed : std::min(needed, files.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur < needed) {
    std::fprintf(stderr,
                 "tickcast-server: warning: file descriptor limit %llu is below the %llu that "
                 "--max-clients needs\n",
                 static_cast<unsigned long long>(files.rlim_cur),
                 static_cast<unsigned long long>(needed));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tickcast-server: a shared, server-authoritative Pomodoro timer"};
  std::string transport_list = "ws";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string mqtt_broker;
  int mqtt_port = 1883;
  int mqtt_ws_port = 0;
  int mqtt_tls_port = 8883;
  std::string mqtt_username, mqtt_password, mqtt_cafile, mqtt_certfile, mqtt_keyfile;
  bool mqtt_insecure = false;
  long long tick_ms = 1000;
  std::string work = "25m", short_break = "5m", long_break = "15m";
  int cycles = 4;
  std::size_t max_clients = 10000;
  std::vector<std::string> allowed_origins;
  std::string web_root = TICKCAST_WEB_ROOT;
  std::size_t history = 1024;
  std::string data_dir = "tickcast-data";
  std::string cluster, node_id;
  std::string sse_heartbeat = "15s";
  int ws_ping_s = 20, ws_hangup_s = 45;
  std::string tls_cert, tls_key;
  std::string auth_secret, auth_public_key;
  std::string room_idle = "10m";
  double room_create_rate = 30, room_create_burst = 60;
  std::size_t max_rooms = 10000;
  int header_timeout_s = 10, idle_timeout_s = 30, stuck_timeout_s = 30;
  std::size_t max_queue = 256;
  long long sio_ping_interval_ms = 25000, sio_ping_timeout_ms = 20000;
  std::string sio_default_room = "default";
  std::string sio_client_js = TICKCAST_SOCKETIO_CLIENT_JS;

  app.add_option("--transport", transport_list,
                 "comma list of ws,sse,longpoll,mqtt,socketio, or all")
      ->capture_default_str();
  app.add_option("--host", host, "address every listener binds")->capture_default_str();
  app.add_option("--port", port, "the one public port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--mqtt-broker", mqtt_broker,
                 "mqtt://host:port of an existing broker (default: start an embedded mosquitto)");
  app.add_option("--mqtt-port", mqtt_port, "port of the embedded broker")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.add_option("--mqtt-ws-port", mqtt_ws_port,
                 "MQTT-over-WebSocket port of the embedded broker, for browsers (0: none)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--mqtt-tls-port", mqtt_tls_port,
                 "with --tls-cert: MQTT-over-TLS port of the embedded broker, same certificate "
                 "(0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--mqtt-username", mqtt_username, "user name for --mqtt-broker");
  app.add_option("--mqtt-password", mqtt_password, "password for --mqtt-broker");
  app.add_option("--mqtt-cafile", mqtt_cafile, "CA file for TLS to --mqtt-broker");
  app.add_option("--mqtt-certfile", mqtt_certfile, "client certificate for TLS");
  app.add_option("--mqtt-keyfile", mqtt_keyfile, "client key for TLS");
  app.add_flag("--mqtt-insecure", mqtt_insecure, "skip the broker host name check");
  app.add_option("--tick-ms", tick_ms, "tick period in ms")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--work", work, "work phase length")
      ->capture_default_str()
      ->check(duration_validator());
  app.add_option("--short-break", short_break, "short break length")
      ->capture_default_str()
      ->check(duration_validator());
  app.add_option("--long-break", long_break, "long break length")
      ->capture_default_str()
      ->check(duration_validator());
  app.add_option("--cycles", cycles, "work phases before a long break")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxCycles));
  app.add_option("--max-clients", max_clients, "clients per transport")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--allowed-origins", allowed_origins,
                 "origins allowed besides the server's own, comma separated; * allows any")
      ->delimiter(',');
  app.add_option("--web-root", web_root, "folder of the web page")->capture_default_str();
  app.add_option("--history", history, "events kept per room for resuming clients")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));

  app.add_option("--data-dir", data_dir,
                 "folder of the SQLite room store (rooms, timers and recent events survive a "
                 "restart); none: keep rooms in memory only")
      ->capture_default_str();
#ifdef TICKCAST_HAS_NATS
  app.add_option("--cluster", cluster,
                 "NATS servers (nats://H:P[,nats://H:P...]) whose JetStream holds the rooms "
                 "instead of --data-dir");
  app.add_option("--node-id", node_id, "this node's name in the cluster (default: host:port)");
#endif

  app.add_option("--sse-heartbeat", sse_heartbeat,
                 "SSE comment line after this long with nothing written (at most 15s)")
      ->capture_default_str()
      ->check(duration_validator());

  app.add_option("--ws-ping", ws_ping_s,
                 "seconds of silence before a WebSocket is pinged (up to a quarter more, spread "
                 "per connection)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--ws-hangup", ws_hangup_s,
                 "seconds of silence (no pong) before a WebSocket is closed")
      ->capture_default_str()
      ->check(CLI::Range(2, 7200));
  http::EventLib event_lib = http::EventLib::libev;
  app.add_option("--event-lib", event_lib, "event loop under libwebsockets: libev (epoll) or poll")
      ->transform(CLI::CheckedTransformer(std::map<std::string, http::EventLib>{
          {"poll", http::EventLib::poll}, {"libev", http::EventLib::libev}}))
      ->capture_default_str();

  app.add_option("--room-idle", room_idle,
                 "evict a room with no clients and a stopped timer after this long (0: never)")
      ->capture_default_str()
      ->check(idle_validator());
  app.add_option("--room-create-rate", room_create_rate,
                 "new rooms per minute per client address, after the burst (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--room-create-burst", room_create_burst,
                 "new rooms one client address may create at once")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--max-rooms", max_rooms, "rooms at most; beyond it new rooms get overloaded")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  app.add_option("--header-timeout", header_timeout_s,
                 "seconds a connection has to send a request's headers (and as long again for "
                 "its body), however slowly they trickle; a silent socket is closed after it")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--idle-timeout", idle_timeout_s,
                 "seconds an idle HTTP keep-alive connection is kept (and may take to send its "
                 "next request's headers)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option(
         "--stuck-timeout", stuck_timeout_s,
         "seconds a ws/sse/socketio client may leave its queue undrained before it is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--max-queue", max_queue,
                 "messages queued per ws/sse/socketio client before ticks are dropped")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--socketio-ping-interval", sio_ping_interval_ms, "Socket.IO pingInterval in ms")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  app.add_option("--socketio-ping-timeout", sio_ping_timeout_ms, "Socket.IO pingTimeout in ms")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  app.add_option("--socketio-client-js", sio_client_js,
                 "socket.io-client browser bundle served at /socket.io/socket.io.min.js")
      ->capture_default_str();
  app.add_option("--socketio-default-room", sio_default_room,
                 "the room of the Socket.IO namespace \"/\"")
      ->capture_default_str()
      ->check([](const std::string& room) {
        return valid_room_name(room) ? std::string() : std::string(kBadRoomMessage);
      });

  app.add_option("--tls-cert", tls_cert,
                 "PEM certificate (then intermediates): serve https/wss (and HTTP/2) on --port; "
                 "SIGHUP reloads it");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  auto* secret_option = app.add_option(
      "--auth-secret", auth_secret,
      "require room tokens signed HS256 with this file's bytes (less a trailing newline)");
  app.add_option("--auth-public-key", auth_public_key,
                 "require room tokens signed RS256/ES256, checked with this PEM public key")
      ->excludes(secret_option);

  std::vector<std::string> transports;
  try {
    app.parse(argc, argv);
    transports = parse_transports(transport_list);
    if (tls_cert.empty() != tls_key.empty()) {
      throw CLI::ValidationError("--tls-cert/--tls-key", "give both, or neither");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Signals are taken by sigwait below; block them before any thread starts. A shell that
  // starts us in the background sets SIGINT to ignored, which would discard it even for
  // sigwait, so the defaults come back first.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(static_cast<rlim_t>(max_clients) * transports.size() + 256);

  HubOptions hub_options;
  hub_options.timer.work = *server::parse_duration(work);
  hub_options.timer.short_break = *server::parse_duration(short_break);
  hub_options.timer.long_break = *server::parse_duration(long_break);
  hub_options.timer.cycles = cycles;
  hub_options.tick = Millis(tick_ms);
  hub_options.history_capacity = history;
  hub_options.max_rooms = max_rooms;
  hub_options.room_idle = *server::parse_duration(room_idle);  // 0: never
  hub_options.room_create_per_minute = room_create_rate;
  hub_options.room_create_burst = room_create_burst;
  SystemClock clock;
  // The store is opened before anything listens: a data folder that cannot be used is a
  // start error (path and reason), never a silent fallback to memory.
  std::unique_ptr<RoomStore> store;
#ifdef TICKCAST_HAS_NATS
  std::unique_ptr<nats::ClusterNode> cluster_node;  // destroyed after the Hub, before the store
#endif
  std::unique_ptr<Hub> hub_owner;
  WriterLink* writer_link = nullptr;  // a follower's Hub forwards through it
  try {
    if (!cluster.empty()) {
#ifdef TICKCAST_HAS_NATS
      nats::NatsOptions nats_options;
      nats_options.servers = nats::parse_servers(cluster);
      nats_options.node_id = node_id.empty() ? host + ":" + std::to_string(port) : node_id;
      nats_options.replicas = nats_options.servers.size() >= 3 ? 3 : 1;
      nats_options.history = history;
      auto nats_store = nats::NatsRoomStore::open(nats_options);
      cluster_node = std::make_unique<nats::ClusterNode>(*nats_store, nats_options);
      // One writer per cluster runs every room's timer; every other node is a follower: it
      // serves clients from the stream and takes over when the writer stops renewing its
      // lease (docs/cluster.md).
      std::string holder;
      const bool writer = cluster_node->join(
          [](const std::string& why) {
            // Fail-stop: a writer that may have been overtaken publishes nothing more.
            std::fprintf(stderr, "tickcast-server: %s; exiting\n", why.c_str());
            std::_Exit(75);
          },
          holder);
      if (!writer) {
        std::fprintf(stderr,
                     "tickcast-server: follower, the cluster lease is held by %s; serving "
                     "clients from the stream\n",
                     holder.c_str());
        writer_link = cluster_node.get();
      }
      store = std::move(nats_store);
      data_dir = "nats " + cluster + " (node " + nats_options.node_id +
                 (writer ? ", lease held)" : ", follower)");
      node_id = nats_options.node_id;
#endif
    } else if (data_dir == "none") {
      store = std::make_unique<MemoryRoomStore>();
    } else {
      store = sqlite::SqliteRoomStore::open(data_dir);
    }
    hub_owner = std::make_unique<Hub>(hub_options, clock, store.get(), writer_link);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tickcast-server: cannot use %s%s: %s\n",
                 cluster.empty() ? "--data-dir " : "--cluster ",
                 cluster.empty() ? data_dir.c_str() : cluster.c_str(), e.what());
    return 1;
  }
  Hub& hub = *hub_owner;

  http::ServerOptions http_options;
  http_options.host = host;
  http_options.port = port;
  http_options.web_root = web_root;
  http_options.allowed_origins = allowed_origins;
  http_options.websocket_ping_after = std::chrono::seconds(ws_ping_s);
  http_options.websocket_hangup_after = std::chrono::seconds(std::max(ws_hangup_s, ws_ping_s + 1));
  http_options.tls_cert_file = tls_cert;
  http_options.tls_key_file = tls_key;
  try {
    if (!auth_secret.empty()) {
      http_options.auth =
          std::make_shared<const auth::Verifier>(auth::Verifier::from_secret_file(auth_secret));
      if (http_options.auth->key_bytes() < 32) {
        std::fprintf(stderr,
                     "tickcast-server: warning: --auth-secret is %zu bytes; use 32 or more "
                     "random bytes (head -c 32 /dev/urandom | base64)\n",
                     http_options.auth->key_bytes());
      }
    } else if (!auth_public_key.empty()) {
      http_options.auth = std::make_shared<const auth::Verifier>(
          auth::Verifier::from_public_key_file(auth_public_key));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tickcast-server: %s\n", e.what());
    return 1;
  }
  http_options.event_lib = event_lib;
  http_options.header_timeout = std::chrono::seconds(header_timeout_s);
  http_options.keepalive_timeout = std::chrono::seconds(idle_timeout_s);
  // Every HTTP error of the port carries the contract's error event (the app's wire shape).
  http_options.failure_body = [](const Failure& failure, std::string_view request) {
    return encode_failure(failure, request);
  };
  http::Server http_server(http_options);

  std::vector<std::unique_ptr<Transport>> owned;
  server::ApiContext api;
  api.hub = &hub;
  api.store = store.get();
#ifdef TICKCAST_HAS_NATS
  if (!cluster.empty()) {
    api.node_id = node_id;
    api.cluster_servers = nats::parse_servers(cluster);
    api.cluster = cluster_node.get();
  }
#endif
  api.tick_ms = tick_ms;
  api.version = TICKCAST_VERSION;
  std::vector<std::string> listening;

  try {
    http_server.start();
    const std::string base = http_server.base_url();
    listening.push_back((http_options.tls() ? "https     " : "http      ") + base +
                        "/  (web page, REST API, /healthz, /metrics)");
    listening.push_back("store     " +
                        (data_dir == "none" ? std::string("none (rooms in memory only)")
                         : !cluster.empty() ? data_dir
                                            : data_dir + "/tickcast.db") +
                        "  (" + std::to_string(hub.stats().rooms) + " rooms loaded)");
    for (const std::string& name : transports) {
#ifdef TICKCAST_HAS_WS
      if (name == "ws") {
        ws::WsOptions options;
        options.max_clients = max_clients;
        options.max_queue = max_queue;
        options.stuck_timeout = std::chrono::seconds(stuck_timeout_s);
        auto t = std::make_unique<ws::WsTransport>(http_server, options);
        api.urls.emplace_back("ws", t->url_template());
        owned.push_back(std::move(t));
      }
#endif
#ifdef TICKCAST_HAS_SSE
      if (name == "sse") {
        sse::SseOptions options;
        options.max_clients = max_clients;
        options.max_queue = max_queue;
        options.stuck_timeout = std::chrono::seconds(stuck_timeout_s);
        options.heartbeat = std::min(*server::parse_duration(sse_heartbeat), Millis(15000));
        auto t = std::make_unique<sse::SseTransport>(http_server, options);
        api.urls.emplace_back("sse", t->url_template());
        owned.push_back(std::move(t));
      }
#endif
#ifdef TICKCAST_HAS_LONGPOLL
      if (name == "longpoll") {
        longpoll::LongPollOptions options;
        options.max_clients = max_clients;
        auto t = std::make_unique<longpoll::LongPollTransport>(http_server, options);
        api.urls.emplace_back("longpoll", t->url_template());
        owned.push_back(std::move(t));
      }
#endif
#ifdef TICKCAST_HAS_SOCKETIO
      if (name == "socketio") {
        socketio::SocketIoOptions options;
        options.max_clients = max_clients;
        options.default_room = sio_default_room;
        options.max_queue = max_queue;  // the shared fan-out's queue, as for ws and sse
        options.stuck_timeout = std::chrono::seconds(stuck_timeout_s);
        options.ping_interval = std::chrono::milliseconds(sio_ping_interval_ms);
        options.ping_timeout = std::chrono::milliseconds(sio_ping_timeout_ms);
        auto t = std::make_unique<socketio::SocketIoTransport>(http_server, options);
        api.urls.emplace_back("socketio", t->url());
        // The browser bundle from npm, served locally for the web page (no CDN).
        server::add_file_route(http_server, "/socket.io/socket.io.min.js", sio_client_js,
                               "text/javascript; charset=utf-8",
                               "socket.io-client is not installed: run `npm ci` in the source "
                               "tree, or pass --socketio-client-js");
        owned.push_back(std::move(t));
      }
#endif
#ifdef TICKCAST_HAS_MQTT
      if (name == "mqtt") {
        mqtt::MqttOptions options;
        options.broker_url = mqtt_broker;
        options.host = host;
        options.port = mqtt_port;
        options.websocket_port = mqtt_ws_port;
        options.username = mqtt_username;
        options.password = mqtt_password;
        options.tls_cafile = mqtt_cafile;
        options.tls_certfile = mqtt_certfile;
        options.tls_keyfile = mqtt_keyfile;
        options.tls_insecure = mqtt_insecure;
        options.max_clients = max_clients;
        if (http_options.tls() && mqtt_broker.empty() && mqtt_tls_port != 0) {
          options.tls_listener_port = mqtt_tls_port;
          options.tls_listener_cert = tls_cert;
          options.tls_listener_key = tls_key;
        }
        if (http_options.auth && mqtt_broker.empty()) {
          // The embedded broker checks the same tokens (the MQTT password is the token).
          options.broker_auth_algorithm = http_options.auth->algorithm();
          options.broker_auth_key = http_options.auth->key();
        }
#ifdef TICKCAST_HAS_NATS
        if (cluster_node && !mqtt_broker.empty()) {
          // Nodes of a cluster sharing one broker: the writer alone publishes the rooms'
          // topics, and each command reaches one node (which forwards it to the writer).
          options.command_share_group = "tickcast-cluster";
          options.publishes = [node = cluster_node.get(), withhold = mqtt_fault_withhold_after()] {
            // Fault injection (tests): after N publishes the writer hands nothing more to
            // the broker, like a writer killed between its commits and its publishes.
            return node->may_publish() && withhold->fetch_sub(1) > 0;
          };
        }
#endif
        owned.push_back(std::make_unique<mqtt::MqttTransport>(options));
      }
#endif
    }
    for (auto& t : owned) {
      api.transports.push_back(t.get());
      hub.add_transport(*t);
    }
    server::add_api_routes(http_server, api);
    hub.start();
#ifdef TICKCAST_HAS_NATS
    if (cluster_node) {
      cluster_node->start(hub, base, [&owned] {
        std::fprintf(stderr,
                     "tickcast-server: took over: the cluster lease held, running every room's "
                     "timer\n");
#ifdef TICKCAST_HAS_MQTT
        // A broker shared with the old writer gets the events that writer committed but
        // never handed to it.
        for (auto& t : owned) {
          if (auto* m = dynamic_cast<mqtt::MqttTransport*>(t.get())) {
            m->catch_up();
            std::fprintf(stderr,
                         "tickcast-server: mqtt: %llu events the old writer had not handed to "
                         "the broker sent\n",
                         static_cast<unsigned long long>(m->caught_up()));
          }
        }
#endif
      });
    }
#endif
    for (auto& t : owned) {
      t->start(hub);
#ifdef TICKCAST_HAS_MQTT
      if (auto* m = dynamic_cast<mqtt::MqttTransport*>(t.get())) {
        listening.push_back("mqtt      " + m->broker_url() +
                            "  (topics tickcast/rooms/{room}/...)");
        if (http_options.tls() && mqtt_broker.empty() && mqtt_tls_port != 0) {
          listening.push_back("mqtts     mqtts://" + host + ":" + std::to_string(mqtt_tls_port) +
                              "  (same certificate as https)");
        }
        if (!m->websocket_url().empty()) {
          listening.push_back("mqtt-ws   " + m->websocket_url());
        }
        api.urls.emplace_back("mqtt", m->broker_url());
        continue;
      }
#endif
      for (const auto& [n, url] : api.urls) {
        if (n == t->name())
          listening.push_back(std::string(n) + std::string(10 - n.size(), ' ') + url);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tickcast-server: %s\n", e.what());
#ifdef TICKCAST_HAS_NATS
    if (cluster_node) cluster_node->stop();
#endif
    for (auto& t : owned) t->stop();
    hub.stop();
    http_server.stop();
    return 1;
  }

  listening.push_back(http_options.auth ? "auth      room tokens required (" +
                                              http_options.auth->algorithm() + ")"
                                        : "auth      off: anyone may join and command");
  for (const auto& line : listening) std::printf("tickcast-server: %s\n", line.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  // SIGHUP reloads the TLS certificate and key (open connections keep theirs); SIGINT and
  // SIGTERM end the server.
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    if (!http_options.tls()) {
      std::fprintf(stderr, "tickcast-server: SIGHUP: nothing to reload (no --tls-cert)\n");
      continue;
    }
    try {
      const std::string served = http_server.reload_tls();
      std::fprintf(stderr, "tickcast-server: SIGHUP: TLS certificate reloaded: %s\n",
                   served.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tickcast-server: SIGHUP: kept the old certificate: %s\n", e.what());
    }
  }
  std::fprintf(stderr, "tickcast-server: %s, shutting down\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
#ifdef TICKCAST_HAS_NATS
  if (cluster_node) cluster_node->stop();
#endif
  for (auto& t : owned) t->stop();
  hub.stop();
  http_server.stop();
  return 0;
}
