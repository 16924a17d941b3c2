#include "api.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tickcast::server {

using json = nlohmann::ordered_json;

namespace {

http::Response json_response(int status, const json& body) {
  http::Response response;
  response.status = status;
  response.body = body.dump();
  response.headers.emplace_back("cache-control", "no-store");
  return response;
}

std::string metrics_text(const ApiContext& context) {
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  auto per_transport = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (Transport* t : context.transports) {
      out << name << "{transport=\"" << t->name() << "\"} " << value(t->stats()) << '\n';
    }
  };
  per_transport("tickcast_clients", "gauge", "Clients connected now.",
                [](const TransportStats& s) { return s.clients; });
  per_transport("tickcast_messages_sent_total", "counter", "Messages written to clients.",
                [](const TransportStats& s) { return s.messages_sent; });
  per_transport("tickcast_ticks_dropped_total", "counter",
                "Ticks dropped from the queues of slow clients.",
                [](const TransportStats& s) { return s.messages_dropped; });
  per_transport("tickcast_clients_refused_total", "counter",
                "Connections refused (limits, bad room, origin).",
                [](const TransportStats& s) { return s.clients_refused; });
  per_transport("tickcast_clients_closed_slow_total", "counter", "Clients closed for not reading.",
                [](const TransportStats& s) { return s.clients_closed_slow; });
  per_transport("tickcast_transport_accepting", "gauge", "1 when the transport accepts clients.",
                [](const TransportStats& s) { return s.accepting ? 1 : 0; });
  family("tickcast_upstream_connected", "gauge",
         "1 when a transport's upstream (the MQTT broker) is connected.");
  for (Transport* t : context.transports) {
    if (auto up = t->stats().upstream_connected) {
      out << "tickcast_upstream_connected{transport=\"" << t->name() << "\"} " << (*up ? 1 : 0)
          << '\n';
    }
  }
  family("tickcast_store_connected", "gauge",
         "1 when the room store's engine link is up (always 1 for the embedded store).");
  out << "tickcast_store_connected " << (context.store && !context.store->connected() ? 0 : 1)
      << '\n';
  const HubStats hub = context.hub->stats();
  family("tickcast_rooms", "gauge", "Rooms that exist.");
  out << "tickcast_rooms " << hub.rooms << '\n';
  family("tickcast_events_broadcast_total", "counter", "Events broadcast to rooms.");
  out << "tickcast_events_broadcast_total " << hub.events_broadcast << '\n';
  family("tickcast_commands_total", "counter", "Commands by result.");
  out << "tickcast_commands_total{result=\"ok\"} " << hub.commands_ok << '\n';
  out << "tickcast_commands_total{result=\"rejected\"} " << hub.commands_rejected << '\n';
  family("tickcast_store_commits_total", "counter",
         "Batches (one strand wake-up each) committed to the room store.");
  out << "tickcast_store_commits_total " << hub.store_commits << '\n';
  family("tickcast_store_write_errors_total", "counter",
         "Batches the room store failed to write (rooms went on in memory, new histories).");
  out << "tickcast_store_write_errors_total " << hub.store_write_errors << '\n';
  family("tickcast_rooms_evicted_total", "counter",
         "Rooms evicted after --room-idle without clients and with a stopped timer.");
  out << "tickcast_rooms_evicted_total " << hub.rooms_evicted << '\n';
  family("tickcast_room_creations_refused_total", "counter",
         "New rooms refused, by reason (rate: --room-create-rate per address; full: the room "
         "limit).");
  out << "tickcast_room_creations_refused_total{reason=\"rate\"} " << hub.rooms_refused_rate
      << '\n';
  out << "tickcast_room_creations_refused_total{reason=\"full\"} " << hub.rooms_refused_full
      << '\n';
#ifdef TICKCAST_HAS_NATS
  if (context.cluster) {
    const nats::ClusterStatus c = context.cluster->status();
    std::size_t alive = 0;
    for (const auto& n : c.nodes) alive += n.alive ? 1 : 0;
    family("tickcast_cluster_writer", "gauge",
           "1 when this node holds the writer lease (runs every room's timer).");
    out << "tickcast_cluster_writer " << (c.role == "writer" ? 1 : 0) << '\n';
    family("tickcast_cluster_nodes_alive", "gauge", "Nodes whose heartbeat is recent.");
    out << "tickcast_cluster_nodes_alive " << alive << '\n';
    family("tickcast_cluster_feed_lag", "gauge",
           "Stream messages a follower's event feed is behind the stream's last one.");
    out << "tickcast_cluster_feed_lag " << c.feed_lag << '\n';
    family("tickcast_cluster_feed_wedged", "gauge",
           "1 when the follower's feed stayed behind past the bound (the position check).");
    out << "tickcast_cluster_feed_wedged " << (c.feed_wedged ? 1 : 0) << '\n';
    family("tickcast_cluster_feed_restarts_total", "counter",
           "Event feeds recreated by the position check.");
    out << "tickcast_cluster_feed_restarts_total " << c.feed_restarts << '\n';
    family("tickcast_cluster_forward_failures_total", "counter",
           "Commands and joins forwarded to the writer that got no answer in time.");
    out << "tickcast_cluster_forward_failures_total " << c.forward_failures << '\n';
    family("tickcast_cluster_forward_resends_total", "counter",
           "Forwarded commands and joins sent again because no node served them yet.");
    out << "tickcast_cluster_forward_resends_total " << c.forward_resends << '\n';
  }
#endif
  return out.str();
}

}  // namespace

namespace {

void respond(const http::Responder& responder, RestAnswer answer) {
  http::Response response;
  response.status = answer.status;
  response.body = std::move(answer.body);
  response.headers = std::move(answer.headers);
  responder.respond(std::move(response));
}

}  // namespace

void add_api_routes(http::Server& server, const ApiContext& context) {
  // The REST API itself is core's RestApi; this routes to it and checks room tokens.
  auto rest = std::make_shared<RestApi>(*context.hub);
  const http::ServerOptions* options = &server.options();
  // The token's refusal of a request, as the app's error (401 or 403, code unauthorized).
  auto refusal = [options](const http::Request& request,
                           auth::Permission permission) -> std::optional<Error> {
    auto access = http::authorize(*options, request, request.params.at("room"), permission);
    if (access) return std::nullopt;
    return Error{ErrorCode::unauthorized, access.refusal->reason, access.refusal->http_status};
  };
  server.route("POST", "/api/rooms/{room}/commands",
               [rest, refusal](const http::Request& request, const http::Responder& responder) {
                 rest->command(
                     request.params.at("room"), request.body, request.peer,
                     [responder](RestAnswer answer) { respond(responder, std::move(answer)); },
                     refusal(request, auth::Permission::command));
               });
  server.route("GET", "/api/rooms/{room}",
               [rest, refusal](const http::Request& request, const http::Responder& responder) {
                 rest->snapshot(
                     request.params.at("room"), request.peer,
                     [responder](RestAnswer answer) { respond(responder, std::move(answer)); },
                     refusal(request, auth::Permission::subscribe));
               });
  server.route(
      "GET", "/api/rooms",
      [rest, options](const http::Request& request, const http::Responder& responder) {
        // With tokens required, the list shows only the rooms the token may subscribe to.
        std::function<bool(const std::string&)> shown;
        if (options->auth) {
          auto result = options->auth->verify(http::token_of(request), auth::Clock::now());
          if (auto* refused = std::get_if<auth::Refusal>(&result)) {
            respond(responder, RestApi::error(Error{ErrorCode::unauthorized, refused->message,
                                                    refused->status}));
            return;
          }
          shown = [grant = std::get<auth::Grant>(std::move(result))](const std::string& room) {
            return grant.allows(room, auth::Permission::subscribe);
          };
        }
        rest->rooms([responder](RestAnswer answer) { respond(responder, std::move(answer)); },
                    std::move(shown));
      });

  server.route("GET", "/api/config",
               [context](const http::Request&, const http::Responder& responder) {
                 json transports = json::array();
                 for (Transport* t : context.transports)
                   transports.push_back(std::string(t->name()));
                 json urls = json::object();
                 for (const auto& [name, url] : context.urls) urls[name] = url;
                 json config = {{"transports", transports},
                                {"urls", urls},
                                {"tick_ms", context.tick_ms},
                                {"version", context.version}};
                 if (!context.node_id.empty()) config["node"] = context.node_id;
                 responder.respond(json_response(200, config));
               });

  // The cluster as this node sees it: the nodes whose heartbeats it reads, and the owner of
  // each room (one writer runs every room's timer, docs/cluster.md). `?rooms=0` leaves the
  // rooms out (the web page's poll): no walk of every room on the Hub's strand.
  server.route(
      "GET", "/api/cluster",
      [context](const http::Request& request, const http::Responder& responder) {
        if (context.node_id.empty()) {
          respond(responder,
                  RestApi::error(Error{ErrorCode::not_found, "not in a cluster (--cluster)"}));
          return;
        }
        json body = {{"node", context.node_id},
                     {"role", "writer"},
                     {"writer", context.node_id},
                     {"servers", context.cluster_servers},
                     {"connected", !context.store || context.store->connected()}};
#ifdef TICKCAST_HAS_NATS
        if (context.cluster) {
          const nats::ClusterStatus c = context.cluster->status();
          body["role"] = c.role;
          body["writer"] = c.writer.empty() ? json(nullptr) : json(c.writer);
          json nodes = json::array();
          for (const auto& n : c.nodes) {
            nodes.push_back({{"id", n.id},
                             {"url", n.url},
                             {"role", n.role},
                             {"alive", n.alive},
                             {"heartbeat_age_ms", n.age_ms}});
          }
          body["nodes"] = nodes;
          body["feed"] = {
              {"lag", c.feed_lag}, {"wedged", c.feed_wedged}, {"restarts", c.feed_restarts}};
        }
#endif
        if (const auto it = request.query.find("rooms");
            it != request.query.end() && it->second == "0") {
          responder.respond(json_response(200, body));
          return;
        }
        // Every room's owner is the writer (at most 1000 rooms listed).
        context.hub->rooms(
            [responder, body = std::move(body)](const std::vector<RoomSummary>& rooms) mutable {
              json list = json::array();
              for (const auto& room : rooms) {
                if (list.size() >= 1000) break;
                list.push_back({{"room", room.name}, {"owner", body["writer"]}, {"seq", room.seq}});
              }
              body["room_count"] = rooms.size();
              body["rooms"] = std::move(list);
              responder.respond(json_response(200, body));
            });
      });

  server.route(
      "GET", "/healthz",
      [context, options](const http::Request&, const http::Responder& responder) {
        bool ready = true;
        json transports = json::object();
        for (Transport* t : context.transports) {
          const TransportStats s = t->stats();
          ready = ready && s.accepting;
          json entry = {{"accepting", s.accepting}, {"clients", s.clients}};
          if (s.upstream_connected) entry["upstream_connected"] = *s.upstream_connected;
          transports[std::string(t->name())] = entry;
        }
        // A store that lost its engine link cannot commit: nothing new reaches clients
        // durably.
        const bool store_up = !context.store || context.store->connected();
        // A follower whose event feed stopped following the stream serves stale
        // rooms: the position check says so until the recreated feed caught up.
        bool feed_ok = true;
        json cluster;
#ifdef TICKCAST_HAS_NATS
        if (context.cluster) {
          const nats::ClusterStatus c = context.cluster->status();
          feed_ok = !c.feed_wedged;
          cluster = {{"role", c.role}, {"feed_lag", c.feed_lag}, {"feed_wedged", c.feed_wedged}};
        }
#endif
        const char* status = !store_up  ? "store disconnected"
                             : !feed_ok ? "cluster feed lagging"
                             : ready    ? "ok"
                                        : "starting";
        // "auth": "off" (anyone may join and command), or the token algorithm required.
        json body = {{"status", status},
                     {"store", {{"connected", store_up}}},
                     {"transports", transports},
                     {"tls", options->tls()},
                     {"auth", options->auth ? options->auth->algorithm() : "off"}};
        if (!cluster.is_null()) body["cluster"] = cluster;
        responder.respond(json_response(ready && store_up && feed_ok ? 200 : 503, body));
      });

  server.route("GET", "/metrics",
               [context](const http::Request&, const http::Responder& responder) {
                 http::Response response;
                 response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                 response.body = metrics_text(context);
                 responder.respond(std::move(response));
               });
}

void add_file_route(http::Server& server, const std::string& path, const std::string& file,
                    const std::string& content_type, const std::string& missing) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto body = std::make_shared<const std::string>(in ? bytes.str() : std::string());
  server.route(
      "GET", path,
      [body, content_type, missing](const http::Request&, const http::Responder& responder) {
        if (body->empty()) {
          respond(responder, RestApi::error(Error{ErrorCode::not_found, missing}));
          return;
        }
        http::Response response;
        response.content_type = content_type;
        response.body = *body;
        response.headers.emplace_back("cache-control", "public, max-age=3600");
        responder.respond(std::move(response));
      });
}

}  // namespace tickcast::server
