#pragma once
// An event-driven WebSocket client on libwebsockets, for tickcast-client, the
// integration tests and the benchmark. One WsClientPool owns one lws context and one
// service thread and carries many connections (thousands); each WsConnection is a
// handle with thread-safe send/close and observable state with deadlines.
//
// libwebsockets is an implementation detail: this header does not include it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tickcast::client {

namespace detail {
struct ConnState;
struct PoolImpl;
}  // namespace detail

/// WsState is where a connection is in its life. failed and closed are final.
enum class WsState {
  connecting,  ///< TCP connect or HTTP upgrade in progress
  open,        ///< upgrade done; messages flow
  failed,      ///< never opened: bad URL, refused connection, upgrade refused
  closed,      ///< was open, now closed (by either side or by the pool's shutdown)
};

/// to_string names a WsState ("connecting", "open", "failed", "closed").
std::string_view to_string(WsState state);

/// WsMessage is one complete (reassembled) message received from the server.
struct WsMessage {
  std::string data;
  bool binary = false;
  std::int64_t received_us = 0;  ///< system clock, µs since the epoch, at receipt
};

/// WsConnectOptions configures one connection. Defaults suit a browser-like client.
struct WsConnectOptions {
  /// origin is the Origin header; std::nullopt sends none.
  std::optional<std::string> origin;
  /// headers are extra request headers, as {name, value} without the colon.
  std::vector<std::pair<std::string, std::string>> headers;
  /// subprotocol is sent as Sec-WebSocket-Protocol when not empty.
  std::string subprotocol;
  /// max_message_bytes: a larger incoming message closes the connection with 1009.
  std::size_t max_message_bytes = std::size_t{16} << 20;
  /// on_message, when set, receives every message on the service thread instead of the
  /// queue read by next()/next_message(). It must not block.
  std::function<void(WsMessage&&)> on_message;
  /// on_state, when set, is called on the service thread after each state change.
  std::function<void(WsState)> on_state;
  /// tls_insecure: for wss://, accept any server certificate (self-signed, wrong name,
  /// expired). For tests and local use only.
  bool tls_insecure = false;
};

/// WsConnection is a handle to one client connection of a WsClientPool.
///
/// Threads: every member is safe to call from any thread, concurrently. Writes are
/// queued and performed on the pool's service thread. Dropping the handle closes the
/// connection (code 1000) if it is still open. A handle may outlive its pool; it then
/// reports the final state and sends nothing.
class WsConnection {
 public:
  WsConnection() = default;
  WsConnection(WsConnection&&) noexcept = default;
  WsConnection& operator=(WsConnection&& other) noexcept;
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;
  ~WsConnection();

  /// valid tells whether this handle refers to a connection (not moved-from/default).
  bool valid() const { return state_ != nullptr; }
  /// url is the URL passed to connect().
  const std::string& url() const;

  /// send_text queues a copy of a text message (any size; sent as one frame). Returns false when
  /// the connection has failed, closed, or close() was called. Messages queued while
  /// connecting are sent once it opens.
  bool send_text(std::string_view text);
  /// send_binary queues a binary message; as send_text.
  bool send_binary(std::string_view bytes);
  /// close starts a clean close with `code` and `reason` (at most 123 bytes).
  void close(int code = 1000, std::string reason = {});

  /// state is the current state.
  WsState state() const;
  /// wait_open waits until open; false on timeout or when it failed/closed first.
  bool wait_open(std::chrono::milliseconds timeout) const;
  /// wait_closed waits until failed or closed; false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout) const;

  /// next waits up to `timeout` for the next queued message (text or binary).
  std::optional<WsMessage> next(std::chrono::milliseconds timeout);
  /// next_message is next() returning only the payload.
  std::optional<std::string> next_message(std::chrono::milliseconds timeout);
  /// messages_received counts complete messages received so far (queued or not).
  std::uint64_t messages_received() const;

  /// http_status is the HTTP status of a refused upgrade (e.g. 403, 404), else 0.
  int http_status() const;
  /// error describes why the connection failed or closed abnormally; empty otherwise.
  std::string error() const;
  /// close_code is the code of the server's close frame, when the server closed
  /// (1005 when its frame carried no code); std::nullopt otherwise.
  std::optional<int> close_code() const;
  /// close_reason is the reason text of the server's close frame.
  std::string close_reason() const;

 private:
  friend class WsClientPool;
  explicit WsConnection(std::shared_ptr<detail::ConnState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::ConnState> state_;
};

/// WsPoolOptions configures a WsClientPool.
struct WsPoolOptions {
  /// shutdown_grace: on destruction, how long open connections get to close cleanly.
  std::chrono::milliseconds shutdown_grace{500};
  /// tls_ca_file: PEM file of the CAs that wss:// servers are checked against; empty: the
  /// system's.
  std::string tls_ca_file;
};

/// WsClientPool owns one libwebsockets client context and its service thread, and
/// opens any number of connections on it. The number of sockets is bounded by the
/// process's RLIMIT_NOFILE at construction: raise it first for thousands of clients.
///
/// Threads: connect() is safe from any thread, including callbacks. The destructor
/// closes every connection, waits up to shutdown_grace, then joins the service thread;
/// it must not run on the service thread (i.e. not from a callback).
class WsClientPool {
 public:
  explicit WsClientPool(WsPoolOptions options = {});
  ~WsClientPool();
  WsClientPool(const WsClientPool&) = delete;
  WsClientPool& operator=(const WsClientPool&) = delete;

  /// connect starts connecting to `url` (`ws://host[:port]/path` or `wss://...`) and
  /// returns at once.
  /// A bad URL gives a connection already in state failed, with error() set.
  WsConnection connect(std::string_view url, WsConnectOptions options = {});

  /// open_connections counts connections not yet failed or closed.
  std::size_t open_connections() const;

  /// set_library_log_mask sets libwebsockets' process-wide log mask (LLL_* bits;
  /// 0 silences it, 1 = errors only). Affects every lws user in the process.
  static void set_library_log_mask(int mask);

 private:
  std::shared_ptr<detail::PoolImpl> impl_;
};

}  // namespace tickcast::client
