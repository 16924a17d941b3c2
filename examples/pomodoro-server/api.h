#pragma once
// The server's HTTP routes besides the transports: REST commands and reads, /api/config,
// /healthz and /metrics.

#include <string>
#include <vector>

#include "tickcast/core/hub.h"
#include "tickcast/core/transport.h"
#include "tickcast/http/server.h"

namespace tickcast::server {

/// ApiContext is what the routes read. Everything in it outlives the http::Server's loop.
struct ApiContext {
  Hub* hub = nullptr;
  std::vector<Transport*> transports;
  std::vector<std::pair<std::string, std::string>> urls;  ///< transport name -> URL template
  long long tick_ms = 1000;
  std::string version;
};

/// add_api_routes registers the REST API, /api/config, /healthz and /metrics on `server`.
void add_api_routes(http::Server& server, const ApiContext& context);

}  // namespace tickcast::server
