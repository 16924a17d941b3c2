// WebSocket client pool on the libwebsockets client API.
//
// One lws context, one service thread. Other threads never touch a wsi: they queue
// work (connects, writes, closes) under a mutex and wake the loop with
// lws_cancel_service(); the loop picks the work up in LWS_CALLBACK_EVENT_WAIT_CANCELLED,
// asks for writable callbacks, and writes only in LWS_CALLBACK_CLIENT_WRITEABLE.
#include "tickcast/client/ws_client.h"

#include <libwebsockets.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace tickcast::client {

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_final(WsState s) { return s == WsState::failed || s == WsState::closed; }

struct ParsedUrl {
  std::string host;
  int port = 80;
  std::string path = "/";
  bool tls = false;  // wss://
};

std::optional<ParsedUrl> parse_ws_url(std::string_view url, std::string& error) {
  ParsedUrl out;
  std::string_view rest;
  if (url.substr(0, 5) == "ws://") {
    rest = url.substr(5);
  } else if (url.substr(0, 6) == "wss://") {
    rest = url.substr(6);
    out.tls = true;
    out.port = 443;
  } else {
    error = "unsupported URL (expected ws://host[:port]/path or wss://...)";
    return std::nullopt;
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "bad IPv6 address in URL";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "bad URL authority";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || out.port <= 0 ||
        out.port > 65535) {
      error = "bad port in URL";
      return std::nullopt;
    }
  }
  return out;
}

int lws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

const lws_protocols kProtocols[] = {
    {"tickcast-wsclient", lws_callback, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

namespace detail {

struct Outgoing {
  std::string buffer;  // LWS_PRE bytes of headroom, then the payload
  bool binary = false;
};

struct ConnState {
  // Immutable after construction.
  std::string url;
  ParsedUrl target;
  std::string host_header;
  WsConnectOptions options;
  std::weak_ptr<PoolImpl> pool;

  // Shared with user threads, under mu.
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  WsState state = WsState::connecting;
  int http_status = 0;
  std::string error;
  std::optional<int> close_code;
  std::string close_reason;
  std::deque<WsMessage> inbox;
  std::uint64_t received = 0;
  std::deque<Outgoing> outbox;
  bool close_requested = false;
  int close_request_code = 1000;
  std::string close_request_reason;

  std::atomic<bool> service_queued{false};

  // Service thread only.
  lws* wsi = nullptr;
  bool finished = false;
  std::string rx;
  bool rx_binary = false;
};

struct PoolImpl {
  explicit PoolImpl(WsPoolOptions opts) : options(std::move(opts)) {}

  WsPoolOptions options;
  lws_context* ctx = nullptr;
  std::thread thread;

  // Requests from user threads, under mu.
  std::mutex mu;
  std::condition_variable cv;  // signals loop_done
  bool ctx_alive = false;
  bool loop_done = false;
  std::vector<std::shared_ptr<ConnState>> to_connect;
  std::vector<std::shared_ptr<ConnState>> to_service;

  std::atomic<bool> stopping{false};
  std::atomic<bool> force_exit{false};
  std::atomic<std::size_t> live_count{0};

  // Service thread only.
  bool stop_handled = false;
  std::unordered_map<ConnState*, std::shared_ptr<ConnState>> live;
  std::vector<std::shared_ptr<ConnState>> graveyard;  // freed outside callbacks

  void wake() {
    std::lock_guard lock(mu);
    if (ctx_alive) lws_cancel_service(ctx);
  }

  void request_service(const std::shared_ptr<ConnState>& cs) {
    if (cs->service_queued.exchange(true)) return;
    std::lock_guard lock(mu);
    to_service.push_back(cs);
    if (ctx_alive) lws_cancel_service(ctx);
  }

  void finish(ConnState& cs, WsState final_state, std::string error, int http_status) {
    if (cs.finished) return;
    cs.finished = true;
    {
      std::lock_guard lock(cs.mu);
      cs.state = final_state;
      if (cs.error.empty()) cs.error = std::move(error);
      if (http_status != 0) cs.http_status = http_status;
      cs.outbox.clear();
    }
    cs.cv.notify_all();
    if (cs.wsi != nullptr) lws_set_wsi_user(cs.wsi, nullptr);
    cs.wsi = nullptr;
    if (cs.options.on_state) cs.options.on_state(final_state);
    auto it = live.find(&cs);
    if (it != live.end()) {
      graveyard.push_back(std::move(it->second));
      live.erase(it);
      live_count.fetch_sub(1);
    }
  }

  void start_connect(const std::shared_ptr<ConnState>& cs) {
    live.emplace(cs.get(), cs);
    live_count.fetch_add(1);
    bool closed_early = false;
    {
      std::lock_guard lock(cs->mu);
      closed_early = cs->close_requested;
    }
    if (closed_early || stopping.load()) {
      finish(*cs, WsState::failed,
             closed_early ? "closed by the client before it opened" : "client pool shutting down",
             0);
      return;
    }
    lws_client_connect_info info{};
    info.context = ctx;
    info.address = cs->target.host.c_str();
    info.port = cs->target.port;
    info.path = cs->target.path.c_str();
    info.host = cs->host_header.c_str();
    // lws 4.1 would prefix info.origin with "http://"; the exact Origin goes out as a
    // header in LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER instead.
    info.origin = nullptr;
    info.protocol = cs->options.subprotocol.empty() ? nullptr : cs->options.subprotocol.c_str();
    info.local_protocol_name = kProtocols[0].name;
    info.ietf_version_or_minus_one = -1;
    if (cs->target.tls) {
      info.ssl_connection = LCCSCF_USE_SSL;
      if (cs->options.tls_insecure) {
        info.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                               LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
      }
      info.alpn = "http/1.1";  // a WebSocket upgrade is an HTTP/1.1 request
    }
    info.userdata = cs.get();
    lws* wsi = nullptr;
    info.pwsi = &wsi;
    // May call LWS_CALLBACK_CLIENT_CONNECTION_ERROR synchronously.
    lws* result = lws_client_connect_via_info(&info);
    if (result == nullptr) {
      finish(*cs, WsState::failed, "connect failed", 0);
    }
  }

  // Runs in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
  void drain() {
    std::vector<std::shared_ptr<ConnState>> connects;
    std::vector<std::shared_ptr<ConnState>> services;
    {
      std::lock_guard lock(mu);
      connects.swap(to_connect);
      services.swap(to_service);
    }
    for (auto& cs : connects) start_connect(cs);
    for (auto& cs : services) {
      cs->service_queued.store(false);
      if (!cs->finished && cs->wsi != nullptr) lws_callback_on_writable(cs->wsi);
    }
    if (stopping.load() && !stop_handled) {
      stop_handled = true;
      for (auto& [raw, cs] : live) {
        {
          std::lock_guard lock(cs->mu);
          cs->close_requested = true;
          cs->close_request_code = 1001;  // going away
          cs->close_request_reason.clear();
        }
        if (cs->wsi != nullptr) lws_callback_on_writable(cs->wsi);
      }
    }
  }

  void run() {
    while (!force_exit.load()) {
      if (stopping.load() && stop_handled && live.empty()) break;
      lws_service(ctx, 0);
      graveyard.clear();
    }
    {
      std::lock_guard lock(mu);
      ctx_alive = false;
    }
    // Closes whatever is left; its callbacks still find their ConnState in `live`.
    lws_context_destroy(ctx);
    ctx = nullptr;
    while (!live.empty())
      finish(*live.begin()->second, WsState::closed, "client pool destroyed", 0);
    graveyard.clear();
    std::vector<std::shared_ptr<ConnState>> never_started;
    {
      std::lock_guard lock(mu);
      never_started.swap(to_connect);
      to_service.clear();
      loop_done = true;
    }
    for (auto& cs : never_started) {
      {
        std::lock_guard lock(cs->mu);
        cs->state = WsState::failed;
        cs->error = "client pool destroyed";
      }
      cs->cv.notify_all();
    }
    cv.notify_all();
  }

  void shutdown() {
    if (!thread.joinable()) return;
    stopping.store(true);
    wake();
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, options.shutdown_grace, [&] { return loop_done; });
    }
    force_exit.store(true);
    wake();
    thread.join();
  }
};

}  // namespace detail

namespace {

using detail::ConnState;
using detail::PoolImpl;

void deliver(ConnState& cs, lws* wsi) {
  WsMessage msg{std::move(cs.rx), cs.rx_binary, now_us()};
  cs.rx.clear();
  (void)wsi;
  if (cs.options.on_message) {
    {
      std::lock_guard lock(cs.mu);
      ++cs.received;
    }
    cs.options.on_message(std::move(msg));
    return;
  }
  {
    std::lock_guard lock(cs.mu);
    ++cs.received;
    cs.inbox.push_back(std::move(msg));
  }
  cs.cv.notify_all();
}

int lws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  auto* pool = static_cast<PoolImpl*>(lws_context_user(lws_get_context(wsi)));
  auto* cs = static_cast<ConnState*>(user);
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      if (pool != nullptr) pool->drain();
      return 0;

    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (cs == nullptr) return 0;
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = (*p) + len;
      auto add = [&](const std::string& name, const std::string& value) {
        const std::string with_colon = name + ":";
        return lws_add_http_header_by_name(
                   wsi, reinterpret_cast<const unsigned char*>(with_colon.c_str()),
                   reinterpret_cast<const unsigned char*>(value.data()),
                   static_cast<int>(value.size()), p, end) == 0;
      };
      if (cs->options.origin && !add("Origin", *cs->options.origin)) return -1;
      for (const auto& [name, value] : cs->options.headers) {
        if (!add(name, value)) return -1;
      }
      return 0;
    }

    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      if (cs == nullptr) return 0;
      cs->wsi = wsi;
      bool want_write = false;
      {
        std::lock_guard lock(cs->mu);
        cs->state = WsState::open;
        want_write = !cs->outbox.empty() || cs->close_requested;
      }
      cs->cv.notify_all();
      if (cs->options.on_state) cs->options.on_state(WsState::open);
      if (want_write) lws_callback_on_writable(wsi);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (cs == nullptr) return 0;
      if (lws_is_first_fragment(wsi)) {
        cs->rx.clear();
        cs->rx_binary = lws_frame_is_binary(wsi) != 0;
      }
      if (cs->rx.size() + len > cs->options.max_message_bytes) {
        static constexpr char kReason[] = "message too large";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         reinterpret_cast<unsigned char*>(const_cast<char*>(kReason)),
                         sizeof(kReason) - 1);
        std::lock_guard lock(cs->mu);
        cs->error = "incoming message over max_message_bytes";
        return -1;
      }
      cs->rx.append(static_cast<const char*>(in), len);
      if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) deliver(*cs, wsi);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      if (cs == nullptr) return 0;
      detail::Outgoing out;
      bool more = false;
      {
        std::lock_guard lock(cs->mu);
        if (cs->close_requested) {
          std::string reason_text = cs->close_request_reason;
          const int code = cs->close_request_code;
          lws_close_reason(wsi, static_cast<lws_close_status>(code),
                           reinterpret_cast<unsigned char*>(reason_text.data()),
                           reason_text.size());
          return -1;
        }
        if (cs->outbox.empty()) return 0;
        out = std::move(cs->outbox.front());
        cs->outbox.pop_front();
        more = !cs->outbox.empty();
      }
      const std::size_t payload = out.buffer.size() - LWS_PRE;
      auto* data = reinterpret_cast<unsigned char*>(out.buffer.data()) + LWS_PRE;
      const int written =
          lws_write(wsi, data, payload, out.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
      if (written < static_cast<int>(payload)) {
        std::lock_guard lock(cs->mu);
        cs->error = "write failed";
        return -1;
      }
      if (more) lws_callback_on_writable(wsi);
      return 0;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      if (cs == nullptr) return 0;
      const auto* bytes = static_cast<const unsigned char*>(in);
      std::lock_guard lock(cs->mu);
      if (len >= 2) {
        cs->close_code = (bytes[0] << 8) | bytes[1];
        cs->close_reason.assign(reinterpret_cast<const char*>(bytes) + 2, len - 2);
      } else {
        cs->close_code = 1005;  // no status received
      }
      return 0;  // let lws echo the close
    }

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      if (cs == nullptr || pool == nullptr) return 0;
      const int status = static_cast<int>(lws_http_client_http_response(wsi));
      std::string text =
          in != nullptr ? std::string(static_cast<const char*>(in)) : "connection error";
      pool->finish(*cs, WsState::failed, std::move(text), status);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_CLOSED: {
      if (cs == nullptr || pool == nullptr) return 0;
      bool abnormal = false;
      {
        std::lock_guard lock(cs->mu);
        abnormal = !cs->close_code.has_value() && !cs->close_requested;
      }
      pool->finish(*cs, WsState::closed, abnormal ? "connection lost" : "", 0);
      return 0;
    }

    default:
      return 0;
  }
}

}  // namespace

std::string_view to_string(WsState state) {
  switch (state) {
    case WsState::connecting:
      return "connecting";
    case WsState::open:
      return "open";
    case WsState::failed:
      return "failed";
    case WsState::closed:
      return "closed";
  }
  return "unknown";
}

// ---- WsConnection ----

WsConnection& WsConnection::operator=(WsConnection&& other) noexcept {
  if (this != &other) {
    if (state_) close();
    state_ = std::move(other.state_);
  }
  return *this;
}

WsConnection::~WsConnection() {
  if (state_) close();
}

const std::string& WsConnection::url() const {
  static const std::string kEmpty;
  return state_ ? state_->url : kEmpty;
}

namespace {
bool enqueue(const std::shared_ptr<ConnState>& cs, std::string_view payload, bool binary) {
  if (!cs) return false;
  detail::Outgoing out;
  out.binary = binary;
  out.buffer.reserve(LWS_PRE + payload.size());
  out.buffer.assign(LWS_PRE, '\0');
  out.buffer.append(payload);
  {
    std::lock_guard lock(cs->mu);
    if (is_final(cs->state) || cs->close_requested) return false;
    cs->outbox.push_back(std::move(out));
  }
  if (auto pool = cs->pool.lock()) pool->request_service(cs);
  return true;
}
}  // namespace

bool WsConnection::send_text(std::string_view text) { return enqueue(state_, text, false); }

bool WsConnection::send_binary(std::string_view bytes) { return enqueue(state_, bytes, true); }

void WsConnection::close(int code, std::string reason) {
  if (!state_) return;
  if (reason.size() > 123) reason.resize(123);
  {
    std::lock_guard lock(state_->mu);
    if (is_final(state_->state) || state_->close_requested) return;
    state_->close_requested = true;
    state_->close_request_code = code;
    state_->close_request_reason = std::move(reason);
  }
  if (auto pool = state_->pool.lock()) pool->request_service(state_);
}

WsState WsConnection::state() const {
  if (!state_) return WsState::failed;
  std::lock_guard lock(state_->mu);
  return state_->state;
}

bool WsConnection::wait_open(std::chrono::milliseconds timeout) const {
  if (!state_) return false;
  std::unique_lock lock(state_->mu);
  state_->cv.wait_for(lock, timeout, [&] { return state_->state != WsState::connecting; });
  return state_->state == WsState::open;
}

bool WsConnection::wait_closed(std::chrono::milliseconds timeout) const {
  if (!state_) return true;
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return is_final(state_->state); });
}

std::optional<WsMessage> WsConnection::next(std::chrono::milliseconds timeout) {
  if (!state_) return std::nullopt;
  std::unique_lock lock(state_->mu);
  state_->cv.wait_for(lock, timeout,
                      [&] { return !state_->inbox.empty() || is_final(state_->state); });
  if (state_->inbox.empty()) return std::nullopt;
  WsMessage msg = std::move(state_->inbox.front());
  state_->inbox.pop_front();
  return msg;
}

std::optional<std::string> WsConnection::next_message(std::chrono::milliseconds timeout) {
  auto msg = next(timeout);
  if (!msg) return std::nullopt;
  return std::move(msg->data);
}

std::uint64_t WsConnection::messages_received() const {
  if (!state_) return 0;
  std::lock_guard lock(state_->mu);
  return state_->received;
}

int WsConnection::http_status() const {
  if (!state_) return 0;
  std::lock_guard lock(state_->mu);
  return state_->http_status;
}

std::string WsConnection::error() const {
  if (!state_) return "invalid connection handle";
  std::lock_guard lock(state_->mu);
  return state_->error;
}

std::optional<int> WsConnection::close_code() const {
  if (!state_) return std::nullopt;
  std::lock_guard lock(state_->mu);
  return state_->close_code;
}

std::string WsConnection::close_reason() const {
  if (!state_) return {};
  std::lock_guard lock(state_->mu);
  return state_->close_reason;
}

// ---- WsClientPool ----

WsClientPool::WsClientPool(WsPoolOptions options)
    : impl_(std::make_shared<PoolImpl>(std::move(options))) {
  lws_context_creation_info info{};
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.gid = -1;
  info.uid = -1;
  info.user = impl_.get();
  // wss:// connections verify the server against the system's CAs, or tls_ca_file.
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  if (!impl_->options.tls_ca_file.empty())
    info.client_ssl_ca_filepath = impl_->options.tls_ca_file.c_str();
  impl_->ctx = lws_create_context(&info);
  if (impl_->ctx == nullptr)
    throw std::runtime_error("libwebsockets: cannot create client context");
  impl_->ctx_alive = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

WsClientPool::~WsClientPool() { impl_->shutdown(); }

WsConnection WsClientPool::connect(std::string_view url, WsConnectOptions options) {
  auto cs = std::make_shared<ConnState>();
  cs->url = std::string(url);
  cs->options = std::move(options);
  cs->pool = impl_;
  std::string error;
  auto target = parse_ws_url(url, error);
  if (!target) {
    cs->state = WsState::failed;
    cs->error = std::move(error);
    return WsConnection(std::move(cs));
  }
  cs->target = std::move(*target);
  cs->host_header = cs->target.host.find(':') != std::string::npos
                        ? "[" + cs->target.host + "]:" + std::to_string(cs->target.port)
                        : cs->target.host + ":" + std::to_string(cs->target.port);
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->ctx_alive || impl_->stopping.load()) {
      cs->state = WsState::failed;
      cs->error = "client pool shutting down";
      return WsConnection(std::move(cs));
    }
    impl_->to_connect.push_back(cs);
    lws_cancel_service(impl_->ctx);
  }
  return WsConnection(std::move(cs));
}

std::size_t WsClientPool::open_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live_count.load() + impl_->to_connect.size();
}

void WsClientPool::set_library_log_mask(int mask) { lws_set_log_level(mask, nullptr); }

}  // namespace tickcast::client
