#include "tickcast/ws/ws_transport.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "tickcast/core/protocol.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"

namespace tickcast::ws {

using http::internal::After;
using http::internal::Loop;
using http::internal::Outbox;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// One WebSocket connection. Lives on the loop thread only.
struct WsSession final : http::internal::Session {
  WsTransport::Impl* owner = nullptr;
  // Keeps the transport's state alive while the loop can still call this session.
  std::shared_ptr<WsTransport::Impl> keep_alive;
  lws* wsi = nullptr;
  std::uint64_t id = 0;
  std::string room;
  std::size_t room_index = 0;  // position in the room's vector, for O(1) removal
  bool joined = false;         // room broadcasts are skipped until the join reply arrives
  Outbox outbox;
  std::string rx;
  int close_code = 0;
  std::string close_reason;
  double tokens = 0;
  SteadyTime tokens_at;
  ClientRef client;

  explicit WsSession(const WsOptions& options) : outbox(options.max_queue, options.stuck_timeout) {}
  After on_writable(lws* wsi) override;
  bool on_receive(lws* wsi, const void* data, std::size_t len) override;
  void on_closed() override;
};

}  // namespace

class WsTransport::Impl final : public http::internal::WebSocketEndpoint,
                                public std::enable_shared_from_this<WsTransport::Impl> {
 public:
  Impl(http::Server& server, WsOptions options) : server(server), options(std::move(options)) {}

  // -- loop thread
  std::optional<Error> check_upgrade(const http::Request& request) override {
    const std::string room = request.path.substr(options.path_prefix.size());
    if (!valid_room_name(room)) {
      ++refused;
      return Error{ErrorCode::bad_room, "room names match [A-Za-z0-9_-]{1,64}"};
    }
    if (sessions.size() >= options.max_clients) {
      ++refused;
      return Error{ErrorCode::overloaded, "too many WebSocket clients; try again later"};
    }
    return std::nullopt;
  }

  http::internal::Session* open(lws* wsi, const http::Request& request) override;
  void closed(WsSession& session);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void enqueue(WsSession& session, const Message& message);
  void close_session(WsSession& session, int code, std::string reason);
  bool take_token(WsSession& session);

  http::Server& server;
  WsOptions options;
  Sink* sink = nullptr;
  std::unordered_map<std::uint64_t, std::unique_ptr<WsSession>> sessions;
  std::unordered_map<std::string, std::vector<WsSession*>> rooms;
  std::uint64_t next_id = 1;
  std::vector<unsigned char> write_buffer;

  std::mutex closed_mutex;
  std::condition_variable all_closed;

  std::atomic<std::uint64_t> clients{0}, sent{0}, dropped{0}, refused{0}, closed_slow{0};
  std::atomic<bool> accepting{false};
};

namespace {

// The reply channel the Hub gets for a WebSocket client.
class WsClient final : public Client {
 public:
  WsClient(std::weak_ptr<WsTransport::Impl> impl, std::weak_ptr<Loop> loop, std::uint64_t id)
      : impl_(std::move(impl)), loop_(std::move(loop)), id_(id) {}
  void send(std::vector<Message> messages) override {
    auto loop = loop_.lock();
    if (!loop) return;
    loop->post([impl = impl_, id = id_, messages = std::move(messages)]() mutable {
      if (auto strong = impl.lock()) strong->deliver(id, std::move(messages));
    });
  }
  std::string_view transport() const override { return "ws"; }

 private:
  std::weak_ptr<WsTransport::Impl> impl_;
  std::weak_ptr<Loop> loop_;
  std::uint64_t id_;
};

}  // namespace

http::internal::Session* WsTransport::Impl::open(lws* wsi, const http::Request& request) {
  if (!sink || !accepting) return nullptr;
  auto session = std::make_unique<WsSession>(options);
  session->owner = this;
  session->keep_alive = shared_from_this();
  session->wsi = wsi;
  session->id = next_id++;
  session->room = request.path.substr(options.path_prefix.size());
  session->tokens = options.command_burst;
  session->tokens_at = std::chrono::steady_clock::now();
  session->client =
      std::make_shared<WsClient>(weak_from_this(), server.loop().weak_from_this(), session->id);
  auto& members = rooms[session->room];
  session->room_index = members.size();
  members.push_back(session.get());
  WsSession* raw = session.get();
  sessions.emplace(raw->id, std::move(session));
  clients = sessions.size();
  sink->on_subscribe(raw->room, std::nullopt, raw->client);
  return raw;
}

void WsTransport::Impl::closed(WsSession& session) {
  auto room = rooms.find(session.room);
  if (room != rooms.end()) {
    auto& members = room->second;
    members[session.room_index] = members.back();
    members[session.room_index]->room_index = session.room_index;
    members.pop_back();
    if (members.empty()) rooms.erase(room);
  }
  sessions.erase(session.id);  // destroys `session`
  clients = sessions.size();
  if (sessions.empty()) {
    std::lock_guard lock(closed_mutex);
    all_closed.notify_all();
  }
}

void WsTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  WsSession& session = *it->second;
  session.joined = true;
  for (const Message& message : messages) enqueue(session, message);
}

void WsTransport::Impl::fan_out(const std::string& room, const Message& message) {
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  // Copy: enqueue may close a session, which edits the room's vector.
  const std::vector<WsSession*> members = it->second;
  for (WsSession* session : members) {
    if (session->joined && !session->close_code) enqueue(*session, message);
  }
}

void WsTransport::Impl::enqueue(WsSession& session, const Message& message) {
  if (session.close_code) return;
  switch (session.outbox.push(message, std::chrono::steady_clock::now())) {
    case Outbox::Push::stuck:
      close_session(session, 1008, "client too slow");
      return;
    case Outbox::Push::queued_dropping_oldest_tick:
      ++dropped;
      break;
    case Outbox::Push::queued:
      break;
  }
  lws_callback_on_writable(session.wsi);
}

void WsTransport::Impl::close_session(WsSession& session, int code, std::string reason) {
  if (session.close_code) return;
  session.close_code = code;
  session.close_reason = std::move(reason);
  session.outbox.clear();
  if (code == 1008) ++closed_slow;
  lws_callback_on_writable(session.wsi);
}

bool WsTransport::Impl::take_token(WsSession& session) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - session.tokens_at).count();
  session.tokens_at = now;
  session.tokens =
      std::min(options.command_burst, session.tokens + elapsed * options.commands_per_second);
  if (session.tokens < 1) return false;
  session.tokens -= 1;
  return true;
}

namespace {

bool close_with(lws* wsi, int code, std::string_view reason) {
  lws_close_reason(wsi, static_cast<lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(const_cast<char*>(reason.data())),
                   reason.size());
  return false;
}

After WsSession::on_writable(lws* wsi) {
  if (close_code) {
    close_with(wsi, close_code, close_reason);
    return After::close;
  }
  auto& buffer = owner->write_buffer;
  while (!outbox.empty() && !lws_send_pipe_choked(wsi)) {
    const std::string& payload = *outbox.front().payload;
    if (buffer.size() < LWS_PRE + payload.size()) buffer.resize(LWS_PRE + payload.size());
    std::memcpy(buffer.data() + LWS_PRE, payload.data(), payload.size());
    if (lws_write(wsi, buffer.data() + LWS_PRE, payload.size(), LWS_WRITE_TEXT) <
        static_cast<int>(payload.size())) {
      return After::close;
    }
    outbox.pop(std::chrono::steady_clock::now());
    ++owner->sent;
  }
  if (!outbox.empty()) lws_callback_on_writable(wsi);
  return After::keep;
}

bool WsSession::on_receive(lws* wsi, const void* data, std::size_t len) {
  if (close_code) return true;
  if (lws_frame_is_binary(wsi)) return close_with(wsi, 1003, "binary frames are not accepted");
  const std::size_t limit = owner->options.max_message_bytes;
  if (rx.size() + len + lws_remaining_packet_payload(wsi) > limit) {
    return close_with(wsi, 1009, "message over 4096 bytes");
  }
  rx.append(static_cast<const char*>(data), len);
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return true;
  std::string command = std::move(rx);
  rx.clear();
  if (!owner->take_token(*this)) {
    const auto decoded = decode_command(command);
    owner->enqueue(*this, Message{0,
                                  make_payload(encode_error(Error{ErrorCode::rate_limited,
                                                                  "too many commands; slow down"},
                                                            decoded.request_id)),
                                  false, MessageKind::error});
    return true;
  }
  if (owner->sink) owner->sink->on_message(room, std::move(command), client);
  return true;
}

void WsSession::on_closed() {
  auto keep = keep_alive;  // `this` is destroyed inside closed()
  keep->closed(*this);
}

}  // namespace

WsTransport::WsTransport(http::Server& server, WsOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

WsTransport::~WsTransport() { stop(); }

void WsTransport::start(Sink& sink) {
  impl_->server.loop().run_sync([&] {
    impl_->sink = &sink;
    impl_->accepting = true;
    impl_->server.loop().add_websocket_endpoint(impl_->options.path_prefix, impl_.get());
  });
}

void WsTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->accepting = false;
    loop.remove_endpoint(impl_.get());
    for (auto& [id, session] : impl_->sessions)
      impl_->close_session(*session, 1001, "server shutting down");
  });
  {
    std::unique_lock lock(impl_->closed_mutex);
    impl_->all_closed.wait_for(lock, std::chrono::seconds(2), [&] { return impl_->clients == 0; });
  }
  // Whatever did not close in time is dropped by the loop when the Server stops; from now
  // on nothing of ours is called.
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void WsTransport::publish(std::string_view room, const Message& message) {
  impl_->server.loop().post([weak = std::weak_ptr<Impl>(impl_), room = std::string(room), message] {
    if (auto impl = weak.lock()) impl->fan_out(room, message);
  });
}

TransportStats WsTransport::stats() const {
  TransportStats s;
  s.clients = impl_->clients;
  s.messages_sent = impl_->sent;
  s.messages_dropped = impl_->dropped;
  s.clients_refused = impl_->refused;
  s.clients_closed_slow = impl_->closed_slow;
  s.accepting = impl_->accepting;
  return s;
}

std::string WsTransport::url_template() const {
  const auto& options = impl_->server.options();
  return "ws://" + options.host + ":" + std::to_string(impl_->server.port()) +
         impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::ws
