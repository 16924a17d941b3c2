#pragma once
// The contract's REST routes on an app's own cpp-httplib server, from core's RestApi (the one
// REST implementation; the tickcast::http port has its own routing around it).
#include <chrono>

#include "tickcast/core/rest.h"

namespace httplib {
class Server;
}

namespace tickcast {

/// mount_rest adds to `server`:
///   POST /api/rooms/{room}/commands, GET /api/rooms/{room}, GET /api/rooms
/// Each handler holds its cpp-httplib worker until the Hub answers, `wait` at most; past it,
/// the contract's `overloaded` (503). `rest` must outlive the server's listening.
void mount_rest(::httplib::Server& server, RestApi& rest,
                std::chrono::milliseconds wait = std::chrono::seconds(5));

}  // namespace tickcast
