#pragma once
// The Pomodoro REST API on the Hub, written once and carried by any HTTP server: the
// tickcast::http port (examples/pomodoro-server/api.cpp) and an app's own cpp-httplib
// server (examples/embed-httplib) each add only their routing around it.

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tickcast/core/hub.h"

namespace tickcast {

/// RestAnswer is one REST response, whatever server writes it.
struct RestAnswer {
  int status = 200;
  std::string body;                                          ///< JSON
  std::vector<std::pair<std::string, std::string>> headers;  ///< lower-case names
};

/// RestDone receives the answer; called once, on the Hub's strand (or at once for input
/// refused before it reaches the Hub). Must not block.
using RestDone = std::function<void(RestAnswer)>;

/// RestApi answers the contract's REST routes:
///   POST {prefix}/{room}/commands  -> 200 {"success":true,"state":{...}}, 409/400/404/413
///   GET  {prefix}/{room}           -> the room's snapshot event
///   GET  {prefix}                  -> {"rooms":[...]}
/// Errors carry the contract's error event (encode_error), with the HTTP status of the code.
/// Threads: any; `hub` must outlive it.
class RestApi {
 public:
  explicit RestApi(Hub& hub, std::size_t max_command_bytes = kMaxCommandBytes)
      : hub_(hub), max_command_bytes_(max_command_bytes) {}

  /// command runs `body` (a command) on `room`; `peer` is the requester's address.
  /// `refused`: the server's access check refused the request (a token), answered once the
  /// room name is known to be valid.
  void command(const std::string& room, std::string body, std::string peer, RestDone done,
               std::optional<Error> refused = std::nullopt);
  /// snapshot answers the room's snapshot event (creating the room); `refused` as above.
  void snapshot(const std::string& room, std::string peer, RestDone done,
                std::optional<Error> refused = std::nullopt);
  /// rooms lists every room, or those `shown` lets through.
  void rooms(RestDone done, std::function<bool(const std::string&)> shown = nullptr);

  /// error renders an error answer: the code's status (or the error's own http_status, with
  /// `WWW-Authenticate: Bearer` on a 401) and the contract's error event.
  static RestAnswer error(const Error& error, std::string_view request_id = {});

 private:
  Hub& hub_;
  std::size_t max_command_bytes_;
};

}  // namespace tickcast
