#pragma once
// The server's HTTP routes besides the transports: REST commands and reads, /api/config,
// /healthz and /metrics.

#include <string>
#include <vector>

#include "tickcast/core/hub.h"
#include "tickcast/core/rest.h"
#include "tickcast/core/room_store.h"
#include "tickcast/http/server.h"
#include "tickcast/transport/transport.h"
#ifdef TICKCAST_HAS_NATS
#include "tickcast/nats/cluster_node.h"
#endif

namespace tickcast::server {

/// ApiContext is what the routes read. Everything in it outlives the http::Server's loop.
struct ApiContext {
  Hub* hub = nullptr;
  const RoomStore* store = nullptr;  ///< for /healthz and /metrics: its engine link
  /// node_id: this node's name with --cluster (empty without): /api/config shows it, and
  /// /api/cluster answers (404 without a cluster).
  std::string node_id;
  std::vector<std::string> cluster_servers;
#ifdef TICKCAST_HAS_NATS
  /// cluster: this node's part of the cluster (nullptr without --cluster): /api/cluster's
  /// nodes and room owners, the follower's feed in /healthz and /metrics.
  const nats::ClusterNode* cluster = nullptr;
#endif
  std::vector<Transport*> transports;
  std::vector<std::pair<std::string, std::string>> urls;  ///< transport name -> URL template
  long long tick_ms = 1000;
  std::string version;
};

/// add_api_routes registers the REST API, /api/config, /healthz and /metrics on `server`.
void add_api_routes(http::Server& server, const ApiContext& context);

/// add_file_route serves the file `file` at `path` (read once, now) with `content_type`;
/// when it cannot be read, the route answers 404 with `missing` as the error.
void add_file_route(http::Server& server, const std::string& path, const std::string& file,
                    const std::string& content_type, const std::string& missing);

}  // namespace tickcast::server
