#pragma once
// tickcast::http: the one public port. One libwebsockets listener and service loop serves
// static files, REST routes, and the long-lived transports (WebSocket, SSE, long-poll)
// that plug into it. This header includes no libwebsockets header.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickcast/auth/token.h"
#include "tickcast/transport/failure.h"

namespace tickcast::http {

namespace internal {
class Loop;
}

/// EventLib is the event loop under libwebsockets: libev, epoll, O(ready descriptors) per
/// loop round; or lws's own poll() loop, O(descriptors) per round. libev is the default:
/// with the fan-out writing directly (no POLLOUT armed per write) it used less server CPU
/// than poll() for ws, sse and Socket.IO at 1,000 and 10,000 clients; a write through the
/// writable callback (a long-poll answer) costs it two epoll_ctl(), so long-poll alone
/// runs better on poll (docs/benchmarks.md). (lws's libuv plugin was slower than both.)
enum class EventLib { poll, libev };

/// ServerOptions configures the listener.
struct ServerOptions {
  std::string host = "127.0.0.1";  ///< address to bind
  int port = 8080;                 ///< 0 picks a free port; see Server::port()
  std::string web_root;            ///< folder of static files served at `/`; empty: none
  /// Origins allowed besides the server's own (same Host); "*" allows every origin.
  std::vector<std::string> allowed_origins;
  std::size_t max_body_bytes = 4096;  ///< larger request bodies get 413
  /// An HTTP keep-alive connection is closed this long after its last response unless a
  /// complete next request's headers have arrived by then (the loop's own deadline).
  std::chrono::seconds keepalive_timeout{30};
  /// A new connection's first request headers must all arrive within this, however slowly
  /// they trickle; a socket that sends nothing is closed after it too. A request's body then
  /// has as long again (on a keep-alive connection, keepalive_timeout bounds the headers).
  std::chrono::seconds header_timeout{10};
  /// A WebSocket silent this long is pinged; one silent (no pong) for hangup_after is closed.
  std::chrono::seconds websocket_ping_after{20};
  std::chrono::seconds websocket_hangup_after{45};
  /// PEM files of the certificate (then any intermediates) and its private key. With both
  /// set the port speaks TLS only: https and wss, HTTP/2 by ALPN ("h2", else "http/1.1");
  /// a plain-HTTP request on it gets a 400 that says to use https:// or wss://.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// tls tells whether the port serves TLS.
  bool tls() const { return !tls_cert_file.empty() || !tls_key_file.empty(); }
  /// auth, when set, makes every room endpoint on the port require a signed token (see
  /// authorize()); null: open, as before.
  std::shared_ptr<const auth::Verifier> auth;
  EventLib event_lib = EventLib::libev;  ///< the loop under libwebsockets
  /// failure_body renders the JSON body of every HTTP error this port answers (404, 413, a
  /// refused upgrade or stream): the app's wire shape. Empty: generic_failure_body.
  FailureEncoder failure_body;
};

/// Request is an HTTP request as routes see it; the path is percent-decoded.
struct Request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;   ///< `{name}` segments of the matched route
  std::map<std::string, std::string> headers;  ///< lower-case names of the headers read
  std::string body;
  /// peer is the client's IP address as the socket shows it ("" if unknown); behind a
  /// proxy, the proxy's.
  std::string peer;
  /// header returns a header's value, or "" when absent. Names are lower-case.
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// Response is a complete short HTTP response.
struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// failure_response returns the response to a failure: the code's HTTP status and the body
/// `encoder` renders (generic_failure_body when it is empty); `request` as for FailureEncoder.
/// An overloaded answer carries Retry-After.
Response failure_response(const Failure& failure, const FailureEncoder& encoder,
                          std::string_view request = {});

/// Access is what authorize() decided: allowed, or refused with an `unauthorized` failure
/// whose http_status is 401 (no or bad token) or 403 (not this room or permission).
struct Access {
  std::optional<auth::Grant> grant;  ///< the token's grant, when auth is on and it allowed
  std::optional<Failure> refusal;    ///< set when refused
  explicit operator bool() const { return !refusal; }
};

/// token_of returns the request's token: `Authorization: Bearer T`, else `?token=T`, else
/// the `tickcast_token` cookie; "" when it has none.
std::string token_of(const Request& request);

/// authorize checks the request's token for `permission` in `room`; with options.auth
/// null everything is allowed (and grant is empty). Threads: any.
Access authorize(const ServerOptions& options, const Request& request, std::string_view room,
                 auth::Permission permission);

/// Responder completes one request, once. Threads: respond() may be called from any thread
/// (a hub callback, say); a response to a client that has gone away is dropped.
class Responder {
 public:
  /// Responder is made by the loop for each routed request; apps receive it, never build it.
  Responder(std::weak_ptr<internal::Loop> loop, std::uint64_t exchange_id)
      : loop_(std::move(loop)), exchange_id_(exchange_id) {}
  /// respond sends `response`; later calls do nothing.
  void respond(Response response) const;

 private:
  std::weak_ptr<internal::Loop> loop_;
  std::uint64_t exchange_id_;
};

/// Handler answers a routed request through its Responder, now or later.
/// Threads: called on the service thread; must not block.
using Handler = std::function<void(const Request&, Responder)>;

/// Server owns the listener and the service thread.
/// Threads: start()/stop() from the owning thread; route() and the rest from any.
class Server {
 public:
  /// Server prepares a listener; nothing is bound until start().
  explicit Server(ServerOptions options);
  /// ~Server stops it.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// route adds a handler for `method` and a path pattern: a literal path whose segments
  /// may be `{name}` (any one segment, given in Request::params). The segment may be empty
  /// (`/rooms//x`): the handler validates it and answers a bad one in its own terms.
  void route(std::string method, std::string_view pattern, Handler handler);

  /// start binds and runs the service thread; throws std::runtime_error with a clear
  /// message when the port cannot be bound or the TLS certificate or key cannot be used.
  void start();
  /// reload_tls reads the certificate and key files again and serves them to new
  /// connections; open connections stay up with the certificate they started with.
  /// Returns a description of the certificate now served ("subject, valid until ...");
  /// throws std::runtime_error (and keeps serving the old one) when the files are bad.
  std::string reload_tls();
  /// stop closes every connection (WebSockets with 1001 "going away") and joins the
  /// service thread. Idempotent.
  void stop();

  /// port returns the bound port (useful with ServerOptions::port = 0).
  int port() const;
  /// base_url returns http://host:port, or https://host:port with TLS.
  std::string base_url() const;
  /// failure returns the response to a failure, rendered with ServerOptions::failure_body.
  Response failure(FailureCode code, std::string reason, std::string_view request = {}) const {
    return failure_response(Failure{code, std::move(reason)}, options_.failure_body, request);
  }
  /// websocket_base_url returns ws://host:port, or wss://host:port with TLS.
  std::string websocket_base_url() const;
  /// options returns the options it was made with.
  const ServerOptions& options() const { return options_; }

  /// loop gives transports on this port access to the service loop (internal API).
  internal::Loop& loop() { return *loop_; }

 private:
  ServerOptions options_;
  std::shared_ptr<internal::Loop> loop_;
};

}  // namespace tickcast::http
