#include "tickcast/sse/sse_transport.h"

#include "last_event_id.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"
#include "tickcast/http/internal/session_table.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::sse {

using http::internal::After;
using http::internal::Loop;
using http::internal::Outbox;
using SteadyTime = std::chrono::steady_clock::time_point;

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
  bool end_after_flush = false;  // the join was refused: end the stream once the error is out
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
  void join(std::uint64_t id, JoinReply reply);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void enqueue(SseSession& session, const Message& message, SteadyTime now);

  http::Server& server;
  SseOptions options;
  Sink* sink = nullptr;
  http::internal::SessionTable<SseSession> sessions;
  std::string write_buffer;
  http::internal::Counters counters;
};

namespace {

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
  owner->counters.sent += written;
  if (end_after_flush && outbox.empty()) {
    closing = true;  // the refusal is written: end the stream on the next writable
    lws_callback_on_writable(wsi);
  }
  return After::keep;
}

After SseSession::on_timer(lws* wsi) {
  heartbeat_due = true;
  lws_callback_on_writable(wsi);
  owner->server.loop().set_timer(wsi, owner->options.heartbeat);
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
    return server.failure(FailureCode::bad_room, std::string(kBadRoomMessage));
  }
  if (!sink || !counters.accepting) {
    return server.failure(FailureCode::overloaded, "SSE is shutting down");
  }
  if (sessions.size() >= options.max_clients) {
    ++counters.refused;
    return server.failure(FailureCode::overloaded, "too many SSE clients; try again later");
  }
  std::optional<std::uint64_t> resume_after;
  const std::string last_event_id_header = request.header("last-event-id");
  if (const std::string_view id = resume_id(last_event_id_header, request.query); !id.empty()) {
    // Only a seq we sent is a position; anything else is refused rather than silently
    // read as "from the start", so a broken client learns of it.
    resume_after = parse_last_event_id(id);
    if (!resume_after) {
      return server.failure(FailureCode::bad_request,
                            "Last-Event-ID must be a seq (a non-negative integer)");
    }
  }

  auto fresh = std::make_unique<SseSession>(options);
  fresh->owner = this;
  fresh->keep_alive = shared_from_this();
  fresh->wsi = wsi;
  fresh->room = room;
  http::Response probe;
  server.loop().add_cors_headers(request, probe);
  fresh->cors = probe.headers;
  SseSession* raw = &sessions.add(std::move(fresh));
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);
  raw->client = std::make_shared<http::internal::LoopClient<Impl>>(
      weak_from_this(), server.loop().weak_from_this(), raw->id, "sse", request.peer);

  // The stream never times out on its own; the heartbeat notices a vanished client.
  // (lws_http_mark_sse is for h2 streams only; on h1 clearing the timeout is what counts.)
  // The heartbeat runs on the loop's coarse timer: an lws timer per stream would be an
  // O(N) insert into lws 4.1's sorted list at every heartbeat of every stream.
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  server.loop().set_timer(wsi, options.heartbeat);
  lws_callback_on_writable(wsi);  // headers and retry: at once
  sink->on_subscribe(room, resume_after, raw->client);
  return raw;
}

void SseTransport::Impl::closed(SseSession& session) {
  if (sink) sink->on_unsubscribe(session.room, session.client);
  sessions.remove(session);
}

void SseTransport::Impl::join(std::uint64_t id, JoinReply reply) {
  SseSession* session = sessions.find(id);
  if (!session || session->joined || session->end_after_flush) return;
  const auto now = std::chrono::steady_clock::now();
  if (reply.refusal) {
    // The room refused the join (overloaded, rate_limited): the error event, then the end
    // of the stream; EventSource comes back after `retry`. It never joins the room.
    session->end_after_flush = true;
    for (const Message& m : reply.messages) enqueue(*session, m, now);
    lws_callback_on_writable(session->wsi);
    return;
  }
  session->joined = true;
  for (const Message& m : reply.messages) enqueue(*session, m, now);
}

void SseTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  SseSession* session = sessions.find(id);
  if (!session) return;
  const auto now = std::chrono::steady_clock::now();
  for (const Message& m : messages) enqueue(*session, m, now);
}

void SseTransport::Impl::fan_out(const std::string& room, const Message& message) {
  const auto now = std::chrono::steady_clock::now();  // once per event, not per client
  for (SseSession* session : sessions.members(room)) {
    if (session->joined) enqueue(*session, message, now);
  }
}

void SseTransport::Impl::enqueue(SseSession& session, const Message& message, SteadyTime now) {
  if (session.closing) return;
  switch (session.outbox.push(message, now)) {
    case Outbox::Push::stuck:
      // Its socket is choked: drop the connection now rather than from a WRITEABLE callback.
      session.closing = true;
      session.outbox.clear();
      ++counters.closed_slow;
      http::internal::close_now(session.wsi);
      return;
    case Outbox::Push::queued_dropping_oldest_tick:
      ++counters.dropped;
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
    impl_->counters.accepting = true;
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
  });
}

void SseTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->counters.accepting = false;
    loop.remove_endpoint(impl_.get());
    for (SseSession* session : impl_->sessions.all()) {
      session->closing = true;
      lws_callback_on_writable(session->wsi);
    }
  });
  impl_->sessions.wait_empty(std::chrono::seconds(2));
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void SseTransport::publish(std::string_view room, const Message& message) {
  http::internal::post_fan_out(impl_->server.loop(), impl_, room, message);
}

TransportStats SseTransport::stats() const { return impl_->counters.stats(impl_->sessions.size()); }

std::string SseTransport::url_template() const {
  return impl_->server.base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::sse
