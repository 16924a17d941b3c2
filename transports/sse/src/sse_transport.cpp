#include "tickcast/sse/sse_transport.h"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "tickcast/core/protocol.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"

namespace tickcast::sse {

using http::internal::After;
using http::internal::Loop;
using http::internal::Outbox;

namespace {

// One open event stream. Lives on the loop thread only.
struct SseSession final : http::internal::Session {
  SseSession(const SseOptions& options) : outbox(options.max_queue, options.stuck_timeout) {}
  SseTransport::Impl* owner = nullptr;
  std::shared_ptr<SseTransport::Impl> keep_alive;  // the loop may call us after stop()
  lws* wsi = nullptr;
  std::uint64_t id = 0;
  std::string room;
  std::size_t room_index = 0;
  std::vector<std::pair<std::string, std::string>> cors;
  bool headers_sent = false;
  bool joined = false;
  bool heartbeat_due = false;
  bool closing = false;
  Outbox outbox;
  ClientRef client;

  After on_writable(lws* wsi) override;
  After on_timer(lws* wsi) override;
  void on_closed() override;
};

}  // namespace

class SseTransport::Impl final : public http::internal::StreamEndpoint,
                                 public std::enable_shared_from_this<SseTransport::Impl> {
 public:
  Impl(http::Server& server, SseOptions options) : server(server), options(std::move(options)) {}

  std::variant<http::internal::Session*, http::Response> open(
      lws* wsi, const http::Request& request) override;
  void closed(SseSession& session);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void enqueue(SseSession& session, const Message& message);

  http::Server& server;
  SseOptions options;
  Sink* sink = nullptr;
  std::unordered_map<std::uint64_t, std::unique_ptr<SseSession>> sessions;
  std::unordered_map<std::string, std::vector<SseSession*>> rooms;
  std::uint64_t next_id = 1;
  std::string write_buffer;

  std::mutex closed_mutex;
  std::condition_variable all_closed;
  std::atomic<std::uint64_t> clients{0}, sent{0}, dropped{0}, refused{0}, closed_slow{0};
  std::atomic<bool> accepting{false};
};

namespace {

class SseClient final : public Client {
 public:
  SseClient(std::weak_ptr<SseTransport::Impl> impl, std::weak_ptr<Loop> loop, std::uint64_t id)
      : impl_(std::move(impl)), loop_(std::move(loop)), id_(id) {}
  void send(std::vector<Message> messages) override {
    if (auto loop = loop_.lock()) {
      loop->post([impl = impl_, id = id_, messages = std::move(messages)]() mutable {
        if (auto strong = impl.lock()) strong->deliver(id, std::move(messages));
      });
    }
  }
  std::string_view transport() const override { return "sse"; }

 private:
  std::weak_ptr<SseTransport::Impl> impl_;
  std::weak_ptr<Loop> loop_;
  std::uint64_t id_;
};

std::optional<std::uint64_t> parse_seq(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Appends one event in the wire format: `id:` only for room events, so an error reply
// never moves the client's Last-Event-ID.
void append_event(std::string& out, const Message& message, const std::string& event_name) {
  if (message.kind != MessageKind::error) {
    out += "id: ";
    out += std::to_string(message.seq);
    out += '\n';
  }
  out += "event: ";
  out += event_name;
  out += "\ndata: ";
  out += *message.payload;
  out += "\n\n";
}

After SseSession::on_writable(lws* wsi) {
  if (closing) return After::close;
  std::string& out = owner->write_buffer;
  out.assign(LWS_PRE, '\0');
  if (!headers_sent) {
    unsigned char headers[1024];
    unsigned char* p = headers;
    unsigned char* end = headers + sizeof headers;
    if (lws_add_http_common_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN, &p,
                                    end)) {
      return After::close;
    }
    std::vector<std::pair<std::string, std::string>> extra{{"cache-control:", "no-cache"},
                                                           {"x-accel-buffering:", "no"}};
    for (const auto& [name, value] : cors) extra.emplace_back(name + ":", value);
    for (const auto& [name, value] : extra) {
      if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), &p, end)) {
        return After::close;
      }
    }
    if (lws_finalize_http_header(wsi, &p, end)) return After::close;
    out.append(reinterpret_cast<const char*>(headers), static_cast<std::size_t>(p - headers));
    out += "retry: " + std::to_string(owner->options.retry.count()) + "\n\n";
    headers_sent = true;
  }
  // Everything queued goes out in one write; a stream has no frames to keep apart.
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t written = 0;
  while (!outbox.empty()) {
    append_event(out, outbox.front(), owner->options.event_name);
    outbox.pop(now);
    ++written;
  }
  if (heartbeat_due && written == 0) out += ": keepalive\n\n";
  heartbeat_due = false;
  const std::size_t size = out.size() - LWS_PRE;
  if (size == 0) return After::keep;
  if (lws_write(wsi, reinterpret_cast<unsigned char*>(out.data()) + LWS_PRE, size, LWS_WRITE_HTTP) <
      static_cast<int>(size)) {
    return After::close;
  }
  owner->sent += written;
  return After::keep;
}

After SseSession::on_timer(lws* wsi) {
  heartbeat_due = true;
  lws_callback_on_writable(wsi);
  lws_set_timer_usecs(
      wsi, std::chrono::duration_cast<std::chrono::microseconds>(owner->options.heartbeat).count());
  return After::keep;
}

void SseSession::on_closed() {
  auto keep = keep_alive;  // `this` is destroyed inside closed()
  keep->closed(*this);
}

}  // namespace

std::variant<http::internal::Session*, http::Response> SseTransport::Impl::open(
    lws* wsi, const http::Request& request) {
  const std::string room = request.params.count("room") ? request.params.at("room") : "";
  if (!valid_room_name(room)) {
    return http::json_error(ErrorCode::bad_room, "room names match [A-Za-z0-9_-]{1,64}");
  }
  if (!sink || !accepting) {
    return http::json_error(ErrorCode::overloaded, "SSE is shutting down");
  }
  if (sessions.size() >= options.max_clients) {
    ++refused;
    auto response =
        http::json_error(ErrorCode::overloaded, "too many SSE clients; try again later");
    response.headers.emplace_back("retry-after", "5");
    return response;
  }
  std::optional<std::uint64_t> resume_after;
  std::string last_event_id = request.header("last-event-id");
  if (last_event_id.empty() && request.query.count("last_event_id")) {
    last_event_id = request.query.at("last_event_id");  // for clients that cannot set headers
  }
  if (!last_event_id.empty()) resume_after = parse_seq(last_event_id);

  auto session = std::make_unique<SseSession>(options);
  session->owner = this;
  session->keep_alive = shared_from_this();
  session->wsi = wsi;
  session->id = next_id++;
  session->room = room;
  http::Response probe;
  server.loop().add_cors_headers(request, probe);
  session->cors = probe.headers;
  session->client =
      std::make_shared<SseClient>(weak_from_this(), server.loop().weak_from_this(), session->id);
  auto& members = rooms[room];
  session->room_index = members.size();
  members.push_back(session.get());
  SseSession* raw = session.get();
  sessions.emplace(raw->id, std::move(session));
  clients = sessions.size();

  // The stream never times out on its own; the heartbeat notices a vanished client.
  // (lws_http_mark_sse is for h2 streams only; on h1 clearing the timeout is what counts.)
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  lws_set_timer_usecs(
      wsi, std::chrono::duration_cast<std::chrono::microseconds>(options.heartbeat).count());
  lws_callback_on_writable(wsi);  // headers and retry: at once
  sink->on_subscribe(room, resume_after, raw->client);
  return raw;
}

void SseTransport::Impl::closed(SseSession& session) {
  if (auto room = rooms.find(session.room); room != rooms.end()) {
    auto& members = room->second;
    members[session.room_index] = members.back();
    members[session.room_index]->room_index = session.room_index;
    members.pop_back();
    if (members.empty()) rooms.erase(room);
  }
  sessions.erase(session.id);
  clients = sessions.size();
  if (sessions.empty()) {
    std::lock_guard lock(closed_mutex);
    all_closed.notify_all();
  }
}

void SseTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  it->second->joined = true;
  for (const Message& m : messages) enqueue(*it->second, m);
}

void SseTransport::Impl::fan_out(const std::string& room, const Message& message) {
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  for (SseSession* session : it->second) {
    if (session->joined) enqueue(*session, message);
  }
}

void SseTransport::Impl::enqueue(SseSession& session, const Message& message) {
  if (session.closing) return;
  switch (session.outbox.push(message, std::chrono::steady_clock::now())) {
    case Outbox::Push::stuck:
      session.closing = true;
      session.outbox.clear();
      ++closed_slow;
      break;
    case Outbox::Push::queued_dropping_oldest_tick:
      ++dropped;
      break;
    case Outbox::Push::queued:
      break;
  }
  lws_callback_on_writable(session.wsi);
}

SseTransport::SseTransport(http::Server& server, SseOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

SseTransport::~SseTransport() { stop(); }

void SseTransport::start(Sink& sink) {
  impl_->server.loop().run_sync([&] {
    impl_->sink = &sink;
    impl_->accepting = true;
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
  });
}

void SseTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->accepting = false;
    loop.remove_endpoint(impl_.get());
    for (auto& [id, session] : impl_->sessions) {
      session->closing = true;
      lws_callback_on_writable(session->wsi);
    }
  });
  {
    std::unique_lock lock(impl_->closed_mutex);
    impl_->all_closed.wait_for(lock, std::chrono::seconds(2), [&] { return impl_->clients == 0; });
  }
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void SseTransport::publish(std::string_view room, const Message& message) {
  impl_->server.loop().post([weak = std::weak_ptr<Impl>(impl_), room = std::string(room), message] {
    if (auto impl = weak.lock()) impl->fan_out(room, message);
  });
}

TransportStats SseTransport::stats() const {
  TransportStats s;
  s.clients = impl_->clients;
  s.messages_sent = impl_->sent;
  s.messages_dropped = impl_->dropped;
  s.clients_refused = impl_->refused;
  s.clients_closed_slow = impl_->closed_slow;
  s.accepting = impl_->accepting;
  return s;
}

std::string SseTransport::url_template() const {
  return impl_->server.base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::sse
