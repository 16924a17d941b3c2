// Reads what routes need of a request out of libwebsockets' parsed headers.
#include "request.h"

#include <algorithm>
#include <cstring>

#include "request_fields.h"
#include "tickcast/http/internal/loop.h"

namespace tickcast::http::internal {

namespace {

std::string copy_header(lws* wsi, lws_token_indexes token) {
  const int length = lws_hdr_total_length(wsi, token);
  if (length <= 0) return {};
  std::string value(static_cast<std::size_t>(length) + 1, '\0');
  const int copied = lws_hdr_copy(wsi, value.data(), length + 1, token);
  value.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
  return value;
}

std::string copy_custom_header(lws* wsi, const char* name) {
  const int name_length = static_cast<int>(std::strlen(name));
  const int length = lws_hdr_custom_length(wsi, name, name_length);
  if (length <= 0) return {};
  std::string value(static_cast<std::size_t>(length) + 1, '\0');
  const int copied = lws_hdr_custom_copy(wsi, value.data(), length + 1, name, name_length);
  value.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
  return value;
}

const char* method_name(int method) {
  switch (method) {
    case LWSHUMETH_GET:
      return "GET";
    case LWSHUMETH_POST:
      return "POST";
    case LWSHUMETH_OPTIONS:
      return "OPTIONS";
    case LWSHUMETH_PUT:
      return "PUT";
    case LWSHUMETH_PATCH:
      return "PATCH";
    case LWSHUMETH_DELETE:
      return "DELETE";
    case LWSHUMETH_HEAD:
      return "HEAD";
    default:
      return nullptr;
  }
}

}  // namespace

bool Loop::read_request(lws* wsi, Request& request, bool websocket) {
  char* uri = nullptr;
  int uri_length = 0;
  const int method = lws_http_get_uri_and_method(wsi, &uri, &uri_length);
  if (method < 0 || !uri) return false;
  if (!websocket) {
    const char* name = method_name(method);
    if (!name) return false;
    request.method = name;
  }
  // lws has already percent-decoded the path and refused what it could not decode.
  request.path.assign(uri, static_cast<std::size_t>(uri_length));
  if (request.path.empty() || request.path.front() != '/') return false;

  // Sized per argument: a ?token= (an RS256 token is ~600 bytes) must not be cut or lost.
  std::string fragment;
  for (int i = 0;; ++i) {
    // 0 both for an empty argument and for none: lws_hdr_copy_fragment tells them apart.
    const int length = std::max(0, lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i));
    fragment.resize(static_cast<std::size_t>(length) + 1);
    const int n =
        lws_hdr_copy_fragment(wsi, fragment.data(), length + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    request.query.emplace(
        split_query_arg(std::string_view(fragment.data(), static_cast<std::size_t>(n))));
  }

  struct Named {
    const char* name;
    lws_token_indexes token;
  };
  for (const Named& h :
       {Named{"host", WSI_TOKEN_HOST}, Named{"origin", WSI_TOKEN_ORIGIN},
        Named{"content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH},
        Named{"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE}, Named{"accept", WSI_TOKEN_HTTP_ACCEPT},
        Named{"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
        Named{"cookie", WSI_TOKEN_HTTP_COOKIE},
        Named{"transfer-encoding", WSI_TOKEN_HTTP_TRANSFER_ENCODING}}) {
    std::string value = copy_header(wsi, h.token);
    if (!value.empty()) request.headers.emplace(h.name, std::move(value));
  }
  // HTTP/2 has no Host header: the authority is the :authority pseudo-header.
  if (!request.headers.count("host")) {
    std::string authority = copy_header(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY);
    if (!authority.empty()) request.headers.emplace("host", std::move(authority));
  }
  if (std::string id = copy_custom_header(wsi, "last-event-id:"); !id.empty()) {
    request.headers.emplace("last-event-id", std::move(id));
  }
  request.peer = peer_of(wsi);
  return true;
}

std::optional<std::string> host_header_error(lws* wsi) {
  // lws keeps the request line's version in WSI_TOKEN_HTTP ("HTTP/1.1") and decides
  // keep-alive from it the same way: anything but 1.1 is treated as 1.0.
  const std::string version = copy_header(wsi, WSI_TOKEN_HTTP);
  if (version != "HTTP/1.1") return std::nullopt;
  // A fragment index past the last one (or an absent header) reads as -1; an empty value
  // as 0; a repeated header as a second fragment.
  const int length = lws_hdr_fragment_length(wsi, WSI_TOKEN_HOST, 0);
  std::string value(static_cast<std::size_t>(length) + 1, '\0');
  const int copied = lws_hdr_copy_fragment(wsi, value.data(), length + 1, WSI_TOKEN_HOST, 0);
  if (copied < 0) return "an HTTP/1.1 request needs a Host header";
  if (copied == 0) return "the Host header is empty";
  char probe[1];
  if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HOST, 1) > 0 ||
      lws_hdr_copy_fragment(wsi, probe, sizeof probe, WSI_TOKEN_HOST, 1) == 0) {
    return "more than one Host header";
  }
  return std::nullopt;
}

}  // namespace tickcast::http::internal
