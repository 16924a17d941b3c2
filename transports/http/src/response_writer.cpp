#include "tickcast/http/internal/response_writer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "tickcast/http/internal/loop.h"

namespace tickcast::http::internal {

namespace {

// The largest DATA frame every HTTP/2 peer accepts (SETTINGS_MAX_FRAME_SIZE default).
constexpr std::size_t kMaxFrame = 16384;

// Appends the response's status line and headers (h1 text or h2 HPACK) at `p`. On h2
// there is no content-length: see write_http2_body.
bool add_headers(lws* wsi, const Response& response, unsigned char*& p, unsigned char* end) {
  const lws_filepos_t length =
      is_http2_stream(wsi) ? LWS_ILLEGAL_HTTP_CONTENT_LEN : response.body.size();
  if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(response.status),
                                  response.content_type.c_str(), length, &p, end)) {
    return false;
  }
  for (const auto& [name, value] : response.headers) {
    const std::string key = name + ":";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(key.c_str()),
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), &p, end)) {
      return false;
    }
  }
  return lws_finalize_http_header(wsi, &p, end) == 0;
}

std::size_t header_room(const Response& response) {
  std::size_t bytes = 512 + response.content_type.size();
  for (const auto& [name, value] : response.headers) bytes += name.size() + value.size() + 4;
  return bytes;
}

}  // namespace

ResponseWriter::Step ResponseWriter::write(lws* wsi) {
  if (!is_http2_stream(wsi)) {
    // HTTP/1.1: headers and body in one write; lws buffers what the socket does not take.
    std::vector<unsigned char> buffer(LWS_PRE + header_room(response_) + response_.body.size());
    unsigned char* start = buffer.data() + LWS_PRE;
    unsigned char* p = start;
    if (!add_headers(wsi, response_, p, buffer.data() + buffer.size())) return Step::failed;
    std::memcpy(p, response_.body.data(), response_.body.size());
    p += response_.body.size();
    const auto size = static_cast<std::size_t>(p - start);
    return lws_write(wsi, start, size, LWS_WRITE_HTTP_FINAL) == static_cast<int>(size)
               ? Step::done
               : Step::failed;
  }
  if (!headers_sent_) {
    std::vector<unsigned char> buffer(LWS_PRE + header_room(response_));
    unsigned char* start = buffer.data() + LWS_PRE;
    unsigned char* p = start;
    if (!add_headers(wsi, response_, p, buffer.data() + buffer.size())) return Step::failed;
    const auto size = static_cast<std::size_t>(p - start);
    if (lws_write(wsi, start, size, LWS_WRITE_HTTP_HEADERS) != static_cast<int>(size)) {
      return Step::failed;
    }
    headers_sent_ = true;
  }
  return write_http2_body(wsi);
}

// lws 4.1 loses track of the connection's unsent bytes when a stream ends with a DATA
// frame that the socket took only in part (TLS writes go out 4 KiB at a time): the tail
// waits for the next unrelated write, or ~20 s. So the body goes out in DATA frames
// without END_STREAM (and without a content-length, which would make lws end the stream
// on the last byte), and the stream ends with an empty DATA frame + END_STREAM in a later
// writable callback, which lws makes only once the connection's buffer has drained.
ResponseWriter::Step ResponseWriter::write_http2_body(lws* wsi) {
  const std::size_t remaining = response_.body.size() - body_sent_;
  if (remaining == 0) {
    unsigned char end_stream[LWS_PRE + 1];
    return lws_write(wsi, end_stream + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0 ? Step::failed
                                                                             : Step::done;
  }
  std::size_t chunk = std::min(remaining, kMaxFrame);
  const lws_fileofs_t allowance = lws_get_peer_write_allowance(wsi);
  if (allowance >= 0) chunk = std::min(chunk, static_cast<std::size_t>(allowance));
  if (chunk == 0 && remaining > 0) {  // no flow-control credit yet: lws calls back with it
    lws_callback_on_writable(wsi);
    return Step::more;
  }
  std::vector<unsigned char> buffer(LWS_PRE + chunk);
  std::memcpy(buffer.data() + LWS_PRE, response_.body.data() + body_sent_, chunk);
  if (lws_write(wsi, buffer.data() + LWS_PRE, chunk, LWS_WRITE_HTTP) != static_cast<int>(chunk)) {
    return Step::failed;
  }
  body_sent_ += chunk;
  lws_callback_on_writable(wsi);  // the next frame, or the end of the stream
  return Step::more;
}

}  // namespace tickcast::http::internal
