#pragma once
// One blocking HTTP/1.1 request on a fresh connection: /healthz checks and REST commands.

#include <chrono>
#include <string>
#include <string_view>

namespace tickcast::bench {

/// HttpResult is a response's status (0 when there was none) and body, or an error.
struct HttpResult {
  int status = 0;
  std::string body;
  std::string error;
};

/// http_request sends `method path` with `body` to host:port (over TLS with `tls`, any
/// certificate accepted) and reads the whole response, within `timeout`.
HttpResult http_request(const std::string& host, int port, std::string_view method,
                        std::string_view path, std::string_view body = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        bool tls = false);

}  // namespace tickcast::bench
