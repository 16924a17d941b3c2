#pragma once
// Checks of a request's headers that libwebsockets does not make (loop thread only).

#include <libwebsockets.h>

#include <optional>
#include <string>

namespace tickcast::http::internal {

/// host_header_error returns why an HTTP/1.1 request's Host header is unusable (absent,
/// empty or repeated: RFC 9112 3.2 asks for a 400), or nullopt when it is fine. HTTP/1.0
/// requests may omit it.
std::optional<std::string> host_header_error(lws* wsi);

}  // namespace tickcast::http::internal
