#include "tickcast/http/internal/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <stdexcept>
#include <utility>

#include "event_lib.h"
#include "request.h"
#include "request_fields.h"
#include "routing.h"
#include "tickcast/http/internal/response_writer.h"
#include "tickcast/http/internal/session_table.h"
#include "tls_credentials.h"

namespace tickcast::http::internal {

// What one HTTP request needs until it is answered. Held apart from the Exchange so that
// a connection that is not in a transaction (a WebSocket, an SSE stream or parked poll
// whose session copied what it needs, a keep-alive connection between requests) does
// not carry it: about half a KiB per idle connection.
struct Transaction {
  Request request;
  std::optional<Response> response;
  std::optional<ResponseWriter> writer;  // the response being written (h2: in frames)
};

// What the loop knows of one connection: the transaction in progress, the response owed,
// and the Session that took the connection over, if any.
struct Loop::Exchange {
  std::uint64_t id = 0;
  lws* wsi = nullptr;
  std::unique_ptr<Transaction> transaction;
  bool reading_body = false;
  // lws re-arms its own body timeout on every chunk, so the whole body must arrive by this
  // deadline (a second guard beside timeout_secs_ah_idle, checked once per chunk).
  std::chrono::steady_clock::time_point body_deadline;
  bool awaiting_response = false;
  bool close_after_response = false;
  Session* session = nullptr;
  bool watched_stream = false;            // a stream's session on HTTP/1 (watch_stream)
  bool ending_stream = false;             // its client spoke; end_stream is on its way
  bool stream_fresh = false;              // no readiness seen since it began
  std::unique_ptr<ReadWatch> read_watch;  // the connection's, on libev, once it had a stream
  std::uint64_t timer_id = 0;             // of the pending set_timer(), 0 for none
  bool idle = false;                      // keep-alive between two requests
  bool response_written = false;          // the session's response went out from write_now()
  std::string peer;                       // the client's address, once a request asked

  Transaction& tx() {
    if (!transaction) transaction = std::make_unique<Transaction>();
    return *transaction;
  }
};

namespace {

int protocol_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                      std::size_t len) {
  (void)user;
  lws_context* context = lws_get_context(wsi);
  auto* loop = context ? static_cast<Loop*>(lws_context_user(context)) : nullptr;
  if (!loop) return lws_callback_http_dummy(wsi, reason, user, in, len);
  // Called once at listener creation with the TLS context, which SIGHUP reloads update.
  if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
    loop->set_tls_context(user);
    return 0;
  }
  return loop->callback(wsi, reason, in, len);
}

// Checks the port up front so that a taken port is reported plainly, not as an lws log line.
void check_bindable(const std::string& host, int port) {
  if (port == 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return;  // let lws resolve it
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int error = errno;
  ::close(fd);
  if (rc != 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(error));
  }
}

// Connections whose first line is not HTTP land here (lws falls back to a raw socket):
// they get a 400 with the JSON error body every HTTP error carries, then are closed.
// With TLS, so does every connection that does not start with a TLS handshake (lws
// ALLOW_NON_SSL_ON_SSL_PORT + FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG): plain HTTP, or
// ws://, on the TLS port is answered with a 400 that says what to use instead.
int malformed_http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                            std::size_t len) {
  (void)user, (void)in, (void)len;
  switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
    case LWS_CALLBACK_RAW_RX:
      lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_RAW_WRITEABLE: {
      const bool tls_port = loop_of(wsi).options().tls();
      const Response error = loop_of(wsi).failure(
          FailureCode::bad_request, tls_port ? "this port speaks TLS only: use https:// or wss://"
                                             : "malformed HTTP request");
      std::string text =
          "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
          "content-length: " +
          std::to_string(error.body.size()) + "\r\nconnection: close\r\n\r\n" + error.body;
      std::vector<unsigned char> buffer(LWS_PRE + text.size());
      std::memcpy(buffer.data() + LWS_PRE, text.data(), text.size());
      lws_write(wsi, buffer.data() + LWS_PRE, text.size(), LWS_WRITE_RAW);
      return -1;
    }
    default:
      return 0;
  }
}

}  // namespace

Loop::Loop(ServerOptions options) : options_(std::move(options)) {}

Loop::~Loop() { stop(); }  // event_loop_ goes after the context it served

Loop& loop_of(lws* wsi) { return *static_cast<Loop*>(lws_context_user(lws_get_context(wsi))); }

void Loop::schedule(lws_sorted_usec_list_t* sul, sul_cb_t cb, lws_usec_t us) {
  if (event_loop_ && event_loop_->schedule(sul, cb, us)) return;
  if (context_) lws_sul_schedule(context_, 0, sul, cb, us);
}

void Loop::close_soon(lws* wsi) {
  // Closed as a failed lws timeout is: at once, with no close handshake or flush, which a
  // stuck or vanished client would never take (LWS_TO_KILL_SYNC waits for its EOF).
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  // On libev lws runs that timeout from its idle pass, which runs after the wake-up's
  // event, or from its timer a second later at most when sockets keep it busy (pace_lws).
  Loop& loop = loop_of(wsi);
  if (loop.event_loop_->libev()) lws_cancel_service(loop.context_);
}

// lws 4.1 reads nothing from an HTTP/1 connection while its response is under way, so a
// client that closed its end of a stream (a FIN or a reset) left the socket readable and
// unread: the loop came back at once, round after round (50 such streams: a whole core),
// until a write to it failed; in a stopped room, at its heartbeat. A client sends nothing
// on a stream or a parked poll before its response is whole, so whatever makes the socket
// readable (its end, a reset, stray bytes) ends the connection. On libev a watcher of ours
// sees it at once; on poll the loop's sweep probes every such socket once a second.
void Loop::watch_stream(lws* wsi, Exchange& exchange) {
  if (is_http2_stream(wsi)) return;  // lws reads an HTTP/2 connection throughout
  exchange.watched_stream = true;
  exchange.ending_stream = false;
  exchange.stream_fresh = true;
  // One watcher for the connection's life, not one per stream: started and stopped per
  // long-poll request it cost an epoll_ctl each and 9-48 % more CPU at 10,000 polls.
  if (!event_loop_->libev() || exchange.read_watch) return;
  exchange.read_watch = event_loop_->watch_readable(
      lws_get_socket_fd(wsi),
      [](void* context) {
        auto& exchange = *static_cast<Exchange*>(context);
        loop_of(exchange.wsi).on_stream_readable(exchange);
      },
      &exchange);
}

void Loop::on_stream_readable(Exchange& exchange) {
  // Between two requests lws reads the socket itself.
  if (!exchange.watched_stream || exchange.ending_stream) return;
  // The first readiness after a stream began is mostly the request that began it (lws
  // read it in this round, before this callback): a peek per long-poll request. It is
  // level-triggered, so a client that did speak is seen in the next round.
  if (std::exchange(exchange.stream_fresh, false) || !client_spoke(exchange.wsi)) return;
  exchange.ending_stream = true;
  // Not from here: closing destroys the exchange, and with it this watcher.
  post([this, wsi = exchange.wsi, id = exchange.id] { end_stream(wsi, id); });
}

void Loop::unwatch_stream(Exchange& exchange) { exchange.watched_stream = false; }

bool Loop::client_spoke(lws* wsi) {
  char byte;
  const ssize_t n = ::recv(lws_get_socket_fd(wsi), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

void Loop::end_stream(lws* wsi, std::uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second->wsi != wsi || !it->second->watched_stream) return;
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);  // not inside its callbacks
}

void Loop::probe_streams() {
  std::vector<std::pair<lws*, std::uint64_t>> ended;
  for (const auto& [wsi, exchange] : by_wsi_) {
    if (exchange->watched_stream && client_spoke(wsi)) ended.emplace_back(wsi, exchange->id);
  }
  for (const auto& [wsi, id] : ended) end_stream(wsi, id);
}

// Routes are read on the service thread, so one added while it runs goes through it.
void Loop::route(std::string method, std::string_view pattern, Handler handler) {
  Route r{std::move(method), split_path(pattern), std::move(handler), nullptr};
  run_sync([&] { routes_.push_back(std::move(r)); });
}

void Loop::add_stream_endpoint(std::string method, std::string_view pattern,
                               StreamEndpoint* endpoint) {
  routes_.push_back(Route{std::move(method), split_path(pattern), nullptr, endpoint});
}

void Loop::add_websocket_endpoint(std::string prefix, WebSocketEndpoint* endpoint) {
  websocket_endpoints_.emplace_back(std::move(prefix), endpoint);
}

void Loop::remove_endpoint(const void* endpoint) {
  std::erase_if(routes_, [&](const Route& r) { return r.stream == endpoint; });
  std::erase_if(websocket_endpoints_, [&](const auto& e) { return e.second == endpoint; });
}

void Loop::start() {
  check_bindable(options_.host, options_.port);
  lws_set_log_level(LLL_ERR, nullptr);

  protocols_.clear();
  // rx_buffer_size is what lws allocates per WebSocket for incoming frames (at upgrade,
  // for the connection's life): 256 bytes instead of 4 KiB, since clients send only short
  // commands and a longer one arrives in pieces that WsSession::on_receive joins. It holds
  // any control frame (at most 125 bytes of payload). The write chunk stays 4 KiB
  // (tx_packet_size; it defaulted to rx_buffer_size).
  protocols_.push_back(lws_protocols{"tickcast", protocol_callback, 0, 256, 0, nullptr, 4096});
  protocols_.push_back(
      lws_protocols{"tickcast-malformed-http", malformed_http_callback, 0, 0, 0, nullptr, 0});
  protocols_.push_back(lws_protocols{nullptr, nullptr, 0, 0, 0, nullptr, 0});

  // No libwebsockets validity timers: lws 4.1 re-inserts a connection's validity timer
  // into its one sorted timer list (O(N)) at every ping and pong, which at 10,000
  // WebSockets took most of the loop's CPU. A policy with a zero hangup time turns them
  // off (the context default would ping every 300 s); the ws transport keeps its own
  // keepalive on set_timer() instead.
  retry_ = lws_retry_bo_t{};
  retry_.secs_since_valid_ping = 0;
  retry_.secs_since_valid_hangup = 0;
  loop_timer_.loop = this;

  event_loop_ = std::make_unique<ForeignLoop>(options_.event_lib);
  lws_context_creation_info info{};
  info.port = options_.port;
  info.iface = options_.host.c_str();
  info.protocols = protocols_.data();
  info.user = this;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6 |
                 LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG |
                 event_loop_->lws_option();
  info.foreign_loops = event_loop_->foreign_loops();
  info.listen_accept_role = "raw-skt";
  info.listen_accept_protocol = "tickcast-malformed-http";
  // lws arms this at each completed transaction, and complete_transaction() drops it again
  // at once for the loop's own idle deadline of the same length (--idle-timeout): one
  // setting, one mechanism. That deadline also bounds a next request trickled in before
  // on_http; after on_http its body has header_timeout (below).
  info.keepalive_timeout = static_cast<int>(options_.keepalive_timeout.count());
  // lws 4.1 closes a connection whose headers are not complete timeout_secs after it
  // opened, however slowly they trickle, and a socket that
  // sends nothing. It re-arms its body timeout per chunk, though, so a body trickled a byte
  // at a time lived forever; the header-table idle timeout (0 = none in 4.1.6, whatever its
  // docs say) is not re-armed by body bytes and closes it. Such a connection holds no
  // session, so it never takes a --max-clients slot meanwhile.
  const auto header_secs = static_cast<unsigned int>(
      std::max<long long>(1, static_cast<long long>(options_.header_timeout.count())));
  info.timeout_secs = header_secs;
  info.timeout_secs_ah_idle = header_secs;
  info.retry_and_idle_policy = &retry_;
  info.server_string = "tickcast";
  info.count_threads = 1;
  if (options_.tls()) {
    // Checked here first, so that a bad file is a clear error, not an lws log line.
    TlsCredentials::load(options_.tls_cert_file, options_.tls_key_file);
    info.options |=
        LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT;
    info.ssl_cert_filepath = options_.tls_cert_file.c_str();
    info.ssl_private_key_filepath = options_.tls_key_file.c_str();
    info.alpn = "h2,http/1.1";
  }
  if (!event_loop_->libev()) add_sweep(this, [this](auto) { probe_streams(); });
  context_ = lws_create_context(&info);
  if (!context_) {
    event_loop_.reset();
    throw std::runtime_error("cannot listen on " + options_.host + ":" +
                             std::to_string(options_.port) + (options_.tls() ? " with TLS" : ""));
  }
  event_loop_->pace_lws(context_);
  if (!sweeps_.empty()) schedule_sweep();
  lws_vhost* vhost = lws_get_vhost_by_name(context_, "default");
  port_ = vhost ? lws_get_vhost_listen_port(vhost) : options_.port;
  {
    std::lock_guard lock(mutex_);
    running_ = true;
    stopping_ = false;
  }
  std::lock_guard lock(mutex_);  // service_thread_id_ is read under it by run_sync
  thread_ = std::thread([this] {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) break;
      }
      if (lws_service(context_, 0) < 0) break;
    }
  });
  service_thread_id_ = thread_.get_id();
}

void Loop::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  lws_cancel_service(context_);
  if (thread_.joinable()) thread_.join();
  cancel(&loop_timer_.sul);
  cancel(&sweep_timer_.sul);
  event_loop_->stop_pacing();
  loop_timer_at_.reset();
  lws_context_destroy(context_);  // closes what is left; sessions get on_closed
  event_loop_.reset();            // after the context it served
  context_ = nullptr;
  std::lock_guard lock(mutex_);
  running_ = false;
  posted_.clear();
}

std::string Loop::reload_tls() {
  if (!options_.tls()) throw std::runtime_error("TLS is off (no --tls-cert/--tls-key)");
  const TlsCredentials fresh = TlsCredentials::load(options_.tls_cert_file, options_.tls_key_file);
  bool installed = false;
  run_sync([&] { installed = fresh.install(static_cast<SSL_CTX*>(ssl_ctx_)); });
  if (!installed) throw std::runtime_error("the listener's TLS context could not take the files");
  return fresh.describe();
}

void Loop::post(std::function<void()> task) {
  // The wake-up happens under the lock, so stop() cannot destroy the context in between.
  std::lock_guard lock(mutex_);
  if (!running_ || stopping_) return;
  posted_.push_back(std::move(task));
  lws_cancel_service(context_);
}

void Loop::run_sync(const std::function<void()>& task) {
  {
    std::unique_lock lock(mutex_);
    if (!running_ || stopping_ || std::this_thread::get_id() == service_thread_id_) {
      lock.unlock();
      task();
      return;
    }
  }
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  post([task, done] {
    task();
    done->set_value();
  });
  // A loop that stops before running the task drops it: once the service thread is gone,
  // run it here instead.
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    std::unique_lock lock(mutex_);
    if (!running_ && future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      lock.unlock();
      task();
      return;
    }
  }
}

void Loop::run_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(posted_);
  }
  for (auto& task : batch) task();
}

// The connection's exchange rides on the wsi (lws's opaque user pointer, which lws itself
// does not use on a server): the callbacks of every write and read find it without a hash
// lookup. by_wsi_ owns it, and answers for a wsi that may be gone (the loop's timers).
Loop::Exchange* Loop::live_exchange(lws* wsi) {
  return static_cast<Exchange*>(lws_get_opaque_user_data(wsi));
}

// getpeername once per connection, not once per keep-alive request (a long-poll's each).
std::string Loop::peer_of(lws* wsi) {
  Exchange* exchange = live_exchange(wsi);
  if (exchange && !exchange->peer.empty()) return exchange->peer;
  char peer[64] = "";
  std::string found = lws_get_peer_simple(wsi, peer, sizeof peer) ? peer : "";
  if (exchange) exchange->peer = found;
  return found;
}

Loop::Exchange& Loop::exchange_of(lws* wsi) {
  if (Exchange* known = live_exchange(wsi)) return *known;
  auto& slot = by_wsi_[wsi];
  if (!slot) {
    slot = std::make_unique<Exchange>();
    slot->wsi = wsi;
  }
  lws_set_opaque_user_data(wsi, slot.get());
  return *slot;
}

void Loop::forget(lws* wsi) {
  lws_set_opaque_user_data(wsi, nullptr);
  auto it = by_wsi_.find(wsi);
  if (it == by_wsi_.end()) return;
  std::unique_ptr<Exchange> exchange = std::move(it->second);
  by_wsi_.erase(it);
  by_id_.erase(exchange->id);
  if (exchange->session) exchange->session->on_closed();
}

bool Loop::origin_allowed(const Request& request) const {
  const std::string origin = request.header("origin");
  if (origin.empty()) return true;  // not a browser's cross-site request
  const std::string host = request.header("host");
  const auto scheme_end = origin.find("://");
  if (!host.empty() && scheme_end != std::string::npos &&
      origin.compare(scheme_end + 3, std::string::npos, host) == 0) {
    return true;  // same origin
  }
  for (const auto& allowed : options_.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

void Loop::add_cors_headers(const Request& request, Response& response) const {
  const std::string origin = request.header("origin");
  if (origin.empty() || !origin_allowed(request)) return;
  response.headers.emplace_back("access-control-allow-origin", origin);
  response.headers.emplace_back("vary", "Origin");
}

bool Loop::write_response(lws* wsi, const Response& response) {
  // One step: all of it on HTTP/1.1 (its one user is the refusal of a WebSocket upgrade).
  // On HTTP/2 a response ends in a later writable callback: use a ResponseWriter there.
  return ResponseWriter(response).write(wsi) == ResponseWriter::Step::done;
}

void Loop::respond(std::uint64_t id, Response response) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  Exchange& exchange = *it->second;
  if (!exchange.awaiting_response) return;
  exchange.awaiting_response = false;
  // Reading again (dispatch() stopped it): a client that left is noticed now, by its EOF.
  if (!is_http2_stream(exchange.wsi)) lws_rx_flow_control(exchange.wsi, 1);
  add_cors_headers(exchange.tx().request, response);
  exchange.tx().response = std::move(response);
  lws_callback_on_writable(exchange.wsi);
}

WebSocketEndpoint* Loop::websocket_endpoint_for(const std::string& path) const {
  for (const auto& [prefix, endpoint] : websocket_endpoints_) {
    // `/rooms/` itself belongs to the endpoint too: its empty room is a bad room.
    if (path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0) {
      return endpoint;
    }
  }
  return nullptr;
}

int Loop::on_confirm_upgrade(lws* wsi) {
  Request request;
  request.method = "GET";
  Response refusal;
  if (!read_request(wsi, request, /*websocket=*/true)) {
    refusal = failure(FailureCode::bad_request, "malformed upgrade request");
  } else if (auto host_error = host_header_error(wsi)) {
    refusal = failure(FailureCode::bad_request, *host_error);
  } else if (!origin_allowed(request)) {
    refusal = failure(FailureCode::unauthorized, "origin not allowed: " + request.header("origin"));
  } else if (WebSocketEndpoint* endpoint = websocket_endpoint_for(request.path)) {
    if (auto error = endpoint->check_upgrade(request)) {
      refusal = failure_response(*error, options_.failure_body);
    } else {
      return 0;
    }
  } else {
    refusal = failure(FailureCode::not_found, "no WebSocket endpoint at " + request.path);
  }
  refusal.headers.emplace_back("connection", "close");
  write_response(wsi, refusal);
  return 1;
}

int Loop::callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
      run_posted();
      // On libev lws_service() runs until the loop is broken (on poll it returns
      // after each round, and the service thread checks stopping_ itself).
      std::lock_guard lock(mutex_);
      if (stopping_ && event_loop_) event_loop_->break_loop();
      return 0;
    }

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return on_confirm_upgrade(wsi);

    case LWS_CALLBACK_ESTABLISHED: {
      Exchange& exchange = exchange_of(wsi);
      exchange.id = next_id_++;
      by_id_[exchange.id] = &exchange;
      Request request;
      request.method = "GET";
      read_request(wsi, request, true);
      WebSocketEndpoint* endpoint = websocket_endpoint_for(request.path);
      if (!endpoint) return -1;
      exchange.session = endpoint->open(wsi, request);
      return exchange.session ? 0 : -1;
    }

    case LWS_CALLBACK_RECEIVE: {
      Exchange* exchange = live_exchange(wsi);
      if (!exchange || !exchange->session) return -1;
      return exchange->session->on_receive(wsi, in, len) ? 0 : -1;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
      Exchange* exchange = live_exchange(wsi);
      if (!exchange || !exchange->session) return 0;
      return after_session(wsi, *exchange, exchange->session->on_writable(wsi));
    }

    case LWS_CALLBACK_RECEIVE_PONG: {
      Exchange* exchange = live_exchange(wsi);
      if (exchange && exchange->session) exchange->session->on_pong(wsi);
      return 0;
    }

    case LWS_CALLBACK_HTTP: {
      Exchange& exchange = exchange_of(wsi);
      return on_http(wsi, exchange);
    }

    case LWS_CALLBACK_HTTP_BODY: {
      Exchange& exchange = exchange_of(wsi);
      if (!exchange.reading_body) return 0;
      if (std::chrono::steady_clock::now() > exchange.body_deadline) return -1;  // slow body
      if (exchange.tx().request.body.size() + len > options_.max_body_bytes) {
        exchange.reading_body = false;
        exchange.close_after_response = true;
        exchange.tx().response =
            failure(FailureCode::too_large,
                    "request body over " + std::to_string(options_.max_body_bytes) + " bytes");
        lws_callback_on_writable(wsi);
        return 0;
      }
      exchange.tx().request.body.append(static_cast<const char*>(in), len);
      return 0;
    }

    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      Exchange& exchange = exchange_of(wsi);
      if (!exchange.reading_body) return 0;
      exchange.reading_body = false;
      exchange.timer_id = 0;  // the body deadline's; a stream sets its own
      return dispatch(wsi, exchange);
    }

    case LWS_CALLBACK_HTTP_WRITEABLE: {
      Exchange* exchange = live_exchange(wsi);
      if (!exchange) return 0;
      return on_http_writable(wsi, *exchange);
    }

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
      forget(wsi);
      return 0;

    default:
      return lws_callback_http_dummy(wsi, reason, nullptr, in, len);
  }
}

int Loop::after_session(lws* wsi, Exchange& exchange, After after) {
  switch (after) {
    case After::keep:
      return 0;
    case After::close:
      return -1;
    case After::complete: {
      Session* session = std::exchange(exchange.session, nullptr);
      unwatch_stream(exchange);
      by_id_.erase(exchange.id);
      session->on_closed();
      return complete_transaction(wsi, exchange);
    }
  }
  return -1;
}

int Loop::on_http_writable(lws* wsi, Exchange& exchange) {
  if (exchange.session) {
    // Written by write_now(); lws ends the transaction only from inside the callback.
    if (std::exchange(exchange.response_written, false)) {
      return after_session(wsi, exchange, After::complete);
    }
    return after_session(wsi, exchange, exchange.session->on_writable(wsi));
  }
  if (!exchange.transaction) return 0;
  Transaction& tx = *exchange.transaction;
  if (!tx.writer) {
    if (!tx.response) return 0;
    tx.writer.emplace(std::move(*tx.response));
    tx.response.reset();
  }
  switch (tx.writer->write(wsi)) {
    case ResponseWriter::Step::failed:
      return -1;
    case ResponseWriter::Step::more:
      return 0;
    case ResponseWriter::Step::done:
      break;
  }
  exchange.transaction.reset();
  if (exchange.close_after_response) return -1;
  by_id_.erase(exchange.id);
  return complete_transaction(wsi, exchange);
}

// lws_http_transaction_completed() arms lws's keep-alive idle timeout: an insert into its
// sorted timer list that walks every connection already in it. When a tick answers
// thousands of long-polls at once, each answer would walk all those before it: O(N^2) per
// tick. So that lws timeout is dropped again at once (O(1); the list stays short) and the
// idle deadline is kept in timers_ instead.
int Loop::complete_transaction(lws* wsi, Exchange& exchange) {
  if (lws_http_transaction_completed(wsi)) return -1;
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  exchange.idle = true;
  set_timer(wsi, options_.keepalive_timeout);
  return 0;
}

void Loop::write_now(lws* wsi) {
  Exchange* exchange = live_exchange(wsi);
  if (!exchange || !exchange->session) return;
  if (!exchange->session->writes_outside_callbacks() || lws_is_ssl(wsi) || is_http2_stream(wsi) ||
      lws_partial_buffered(wsi)) {
    lws_callback_on_writable(wsi);
    return;
  }
  switch (exchange->session->on_writable(wsi)) {
    case After::keep:
      return;
    case After::close:  // outside its callbacks a connection is closed on the next round
      close_now(wsi);
      return;
    case After::complete:
      exchange->response_written = true;
      unwatch_stream(*exchange);  // the client may send its next request now
      lws_callback_on_writable(wsi);
      return;
  }
}

std::chrono::steady_clock::duration Loop::timer_grid(std::chrono::steady_clock::duration after) {
  using namespace std::chrono_literals;
  if (after >= 10s) return 1s;
  if (after >= 2500ms) return 250ms;
  return kTimerResolution;
}

void Loop::set_timer(lws* wsi, std::chrono::steady_clock::duration after) {
  Exchange* known = live_exchange(wsi);  // not by_wsi_: a hash lookup per long-poll request
  if (!known) return;
  Exchange& exchange = *known;
  exchange.timer_id = next_timer_id_++;
  const auto grid = timer_grid(after).count();
  const auto due = (std::chrono::steady_clock::now() + after).time_since_epoch().count();
  const std::chrono::steady_clock::time_point on_grid(
      std::chrono::steady_clock::duration((due + grid - 1) / grid * grid));
  timers_.add(on_grid, TimerKey{wsi, exchange.timer_id});
  arm_loop_timer();
}

void Loop::cancel_timer(lws* wsi) {
  if (Exchange* known = live_exchange(wsi)) known->timer_id = 0;  // its key goes stale
}

// One lws timer for the whole loop, re-armed only when the earliest deadline moves earlier
// (or after it fired): its insert walks lws's list, which no longer holds a timer per
// connection, so it stays short.
void Loop::arm_loop_timer() {
  if (running_timers_) return;  // run_due_timers() arms once when it is done
  const auto next = timers_.next();
  if (!next || (loop_timer_at_ && *loop_timer_at_ <= *next)) return;
  const auto wait = std::max(std::chrono::steady_clock::duration::zero(),
                             *next - std::chrono::steady_clock::now());
  schedule(&loop_timer_.sul, &Loop::on_loop_timer,
           std::chrono::duration_cast<std::chrono::microseconds>(wait).count());
  loop_timer_at_ = *next;
}

void Loop::on_loop_timer(lws_sorted_usec_list_t* sul) {
  // sul is the first member of the standard-layout LoopTimer.
  reinterpret_cast<LoopTimer*>(sul)->loop->run_due_timers();
}

void Loop::run_due_timers() {
  loop_timer_at_.reset();
  running_timers_ = true;
  for (const TimerKey& key : timers_.take_due(std::chrono::steady_clock::now())) {
    auto it = by_wsi_.find(key.wsi);
    if (it == by_wsi_.end() || it->second->timer_id != key.id) continue;  // closed or re-set
    Exchange& exchange = *it->second;
    exchange.timer_id = 0;
    bool close = false;
    if (exchange.session) {
      close = exchange.session->on_timer(key.wsi) == After::close;
    } else {
      // A keep-alive connection idle for keepalive_timeout (--idle-timeout), whatever it
      // trickles of a next request before on_http, or a body not complete in time.
      close = exchange.idle || exchange.reading_body;
    }
    // Outside the connection's callbacks, lws closes it on its next service round.
    if (close) close_soon(key.wsi);
  }
  running_timers_ = false;
  arm_loop_timer();
}

int Loop::on_http(lws* wsi, Exchange& exchange) {
  if (exchange.id) by_id_.erase(exchange.id);
  exchange.id = next_id_++;
  by_id_[exchange.id] = &exchange;
  exchange.transaction = std::make_unique<Transaction>();
  Transaction& tx = *exchange.transaction;
  exchange.awaiting_response = false;
  exchange.close_after_response = false;
  exchange.reading_body = false;
  exchange.idle = false;
  exchange.timer_id = 0;

  if (!read_request(wsi, tx.request, false)) {
    exchange.close_after_response = true;
    tx.response = failure(FailureCode::bad_request, "malformed HTTP request");
    lws_callback_on_writable(wsi);
    return 0;
  }
  // Checked before any route, so every path answers it alike (RFC 9112 3.2).
  if (auto host_error = host_header_error(wsi)) {
    exchange.close_after_response = true;
    tx.response = failure(FailureCode::bad_request, *host_error);
    lws_callback_on_writable(wsi);
    return 0;
  }
  // A chunked body would be read as no body at all (and its bytes as the next request):
  // refuse it plainly instead. Every client we know sends a Content-Length.
  if (!tx.request.header("transfer-encoding").empty()) {
    exchange.close_after_response = true;
    tx.response = failure(FailureCode::bad_request,
                          "send the body with a Content-Length; Transfer-Encoding "
                          "(chunked) bodies are not accepted");
    lws_callback_on_writable(wsi);
    return 0;
  }
  const std::string length = tx.request.header("content-length");
  if (!length.empty()) {
    const std::optional<std::uint64_t> n = parse_content_length(length);
    if (!n) {
      exchange.close_after_response = true;
      tx.response = failure(FailureCode::bad_request, "bad Content-Length");
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (*n > options_.max_body_bytes) {
      exchange.close_after_response = true;
      tx.response =
          failure(FailureCode::too_large,
                  "request body over " + std::to_string(options_.max_body_bytes) + " bytes");
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (*n > 0) {
      exchange.reading_body = true;
      exchange.body_deadline = std::chrono::steady_clock::now() + options_.header_timeout;
      // body_deadline is checked per chunk; this closes a body that stops coming at all
      // (lws's own timeout was dropped after the previous response, see
      // complete_transaction()).
      set_timer(wsi, options_.header_timeout);
      return 0;  // dispatched at LWS_CALLBACK_HTTP_BODY_COMPLETION
    }
  }
  return dispatch(wsi, exchange);
}

int Loop::dispatch(lws* wsi, Exchange& exchange) {
  // The request is in, headers and body: lws's own timeout for reading it goes now, for
  // every route and stream alike (the answer, a stream's life and the idle time after have
  // the loop's deadlines). Held until the answer, it lengthened lws's one sorted timer list
  // by every request in progress, and each insert walks that list: 10,000 long-polls
  // answered from the ring in one pass took seconds (docs/benchmarks.md).
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  Request& request = exchange.tx().request;
  Response response;

  if (request.method == "OPTIONS") {
    if (!origin_allowed(request)) {
      response = failure(FailureCode::unauthorized, "origin not allowed");
    } else {
      response.status = 204;
      response.content_type = "text/plain";
      response.headers = {{"access-control-allow-methods", "GET, POST, OPTIONS"},
                          {"access-control-allow-headers", "Content-Type, Last-Event-ID"},
                          {"access-control-max-age", "600"}};
      add_cors_headers(request, response);
    }
    exchange.tx().response = std::move(response);
    lws_callback_on_writable(wsi);
    return 0;
  }

  // A state-changing request from a page of another origin is refused (CSRF), whatever
  // its content type.
  if (request.method != "GET" && request.method != "HEAD" && !origin_allowed(request)) {
    exchange.tx().response = failure(FailureCode::unauthorized, "origin not allowed");
    lws_callback_on_writable(wsi);
    return 0;
  }

  const auto segments = split_path(request.path);
  bool path_matched = false;
  std::string allowed_methods;
  const Route* chosen = nullptr;
  std::map<std::string, std::string> params;
  for (const Route& route : routes_) {
    params.clear();
    if (!match_route(route.segments, segments, params)) continue;
    path_matched = true;
    if (route.method == request.method) {
      chosen = &route;
      break;
    }
    if (!allowed_methods.empty()) allowed_methods += ", ";
    allowed_methods += route.method;
  }
  // libwebsockets folds "//" into "/" before we see the path, so `/api/rooms//commands`
  // arrives as `/api/rooms/commands`. A route of this method that matches with one
  // `{name}` segment empty takes it and answers the empty name in its own terms
  // (bad_room), instead of a 405 from a shorter route.
  for (auto it = routes_.begin(); !chosen && it != routes_.end(); ++it) {
    params.clear();
    if (it->method == request.method && match_route_folded(it->segments, segments, params)) {
      chosen = &*it;
    }
  }
  if (chosen) {
    const Route& route = *chosen;
    request.params = std::move(params);
    if (route.stream) {
      auto opened = route.stream->open(wsi, request);
      // A stream route has what it needs of the request once open() returns (a session,
      // or an answer such as a long-poll's from its ring), so lws's header table (about 5
      // KiB) goes now, not when the stream ends or the answer is written. Held, it is
      // memory for a stream's whole life, lws 4.1 drops a connection that holds one over
      // six minutes ("ah excessive hold"), and every release walks lws's list of held
      // tables: O(N^2) when thousands are held at once (10,000 parked polls answered per
      // tick took 61% of the server's CPU; 10,000 ring answers after a command raced a
      // tick took seconds).
      lws_http_headers_detach(wsi);
      if (auto* session = std::get_if<Session*>(&opened)) {
        exchange.session = *session;
        exchange.transaction.reset();  // the session copied what it needs
        watch_stream(wsi, exchange);
        return 0;
      }
      response = std::get<Response>(std::move(opened));
      add_cors_headers(request, response);
      exchange.tx().response = std::move(response);
      lws_callback_on_writable(wsi);
      return 0;
    }
    exchange.awaiting_response = true;
    // While the app answers, lws is told not to read: lws 4.1 does not read an HTTP/1
    // connection in mid-transaction, so a client that gives up and closes (or pipelines its
    // next request) left the socket readable and poll() returning at once, over and over: a
    // whole core while a command waited out a JetStream election (docs/cluster.md).
    if (!is_http2_stream(wsi)) lws_rx_flow_control(wsi, 0);
    route.handler(request, Responder(weak_from_this(), exchange.id));
    return 0;
  }

  if (path_matched) {
    response = failure(FailureCode::method_not_allowed,
                       request.method + " is not allowed here; use " + allowed_methods);
    response.headers.emplace_back("allow", allowed_methods);
  } else if ((request.method == "GET" || request.method == "HEAD") && !options_.web_root.empty()) {
    serve_static(request, response);
  } else {
    response = failure(FailureCode::not_found, "no such path: " + request.path);
  }
  add_cors_headers(request, response);
  exchange.tx().response = std::move(response);
  lws_callback_on_writable(wsi);
  return 0;
}

}  // namespace tickcast::http::internal
