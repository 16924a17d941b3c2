#pragma once
// Writes one short HTTP response across writable callbacks. On HTTP/1.1 it is one write
// (headers and body together); on an HTTP/2 stream the headers are a HEADERS frame and
// the body goes out as DATA frames of at most one frame's size and the peer's flow-control
// allowance, one per writable callback, then an empty DATA frame with END_STREAM.

#include <libwebsockets.h>

#include <cstddef>
#include <string>

#include "tickcast/http/server.h"

namespace tickcast::http::internal {

/// ResponseWriter sends one Response. Threads: the service thread only.
class ResponseWriter {
 public:
  /// Step is where write() left the response.
  enum class Step {
    done,    ///< all written (the transaction may be completed)
    more,    ///< part written; a writable callback has been requested for the rest
    failed,  ///< a write failed: close the connection
  };

  ResponseWriter() = default;
  explicit ResponseWriter(Response response) : response_(std::move(response)) {}

  /// write writes what it can now; call it again on the next writable callback while it
  /// returns more.
  Step write(lws* wsi);

 private:
  Step write_http2_body(lws* wsi);

  Response response_;
  bool headers_sent_ = false;
  std::size_t body_sent_ = 0;
};

}  // namespace tickcast::http::internal
