#include "tickcast/sse/sse_transport.h"

#include <algorithm>
#include <map>

#include "last_event_id.h"
#include "tickcast/core/protocol.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/outbox.h"
#include "tickcast/http/internal/session_table.h"

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
  // The join was refused, or the token expired: end the stream once the error is out.
  bool end_after_flush = false;
  // Its entry in the transport's expiries, erased when the stream closes first.
  std::optional<std::multimap<auth::Clock::time_point, std::uint64_t>::iterator> expiry;
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
  void enqueue(SseSession& session, const Message& message, SteadyTime now);
  void expire(auth::Clock::time_point now);

  http::Server& server;
  SseOptions options;
  Sink* sink = nullptr;
  http::internal::SessionTable<SseSession> sessions;
  std::string write_buffer;
  http::internal::Counters counters;
  std::multimap<auth::Clock::time_point, std::uint64_t> expiries;  // token expiry -> session
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
  if (closing) {
    // On HTTP/2 closing the stream's wsi does not end the stream for the client (lws 4.1
    // leaves it open, and the browser waits): end it with an empty END_STREAM frame.
    if (headers_sent && http::internal::is_http2_stream(wsi)) {
      unsigned char end_stream[LWS_PRE + 1];
      if (lws_write(wsi, end_stream + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0) return After::close;
      return After::complete;
    }
    return After::close;
  }
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
    if (http::internal::is_http2_stream(wsi)) {
      // HTTP/2: the headers are their own HEADERS frame; the events follow as DATA.
      std::string frame(LWS_PRE, '\0');
      frame.append(reinterpret_cast<const char*>(headers), static_cast<std::size_t>(p - headers));
      const std::size_t size = frame.size() - LWS_PRE;
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(frame.data()) + LWS_PRE, size,
                    LWS_WRITE_HTTP_HEADERS) != static_cast<int>(size)) {
        return After::close;
      }
    } else {
      out.append(reinterpret_cast<const char*>(headers), static_cast<std::size_t>(p - headers));
    }
    out += "retry: " + std::to_string(owner->options.retry.count()) + "\n\n";
    headers_sent = true;
  }
  // Everything queued goes out in one write; a stream has no frames to keep apart. On
  // HTTP/2 a write is one DATA frame: at most 16 KiB and the peer's flow-control credit;
  // the rest waits for the next writable callback.
  std::size_t limit = std::string::npos;
  if (http::internal::is_http2_stream(wsi)) {
    limit = 16384;
    const lws_fileofs_t allowance = lws_get_peer_write_allowance(wsi);
    if (allowance >= 0) limit = std::min<std::size_t>(limit, static_cast<std::size_t>(allowance));
    if (limit < 2048) {  // wait for credit (lws calls back when the peer grants it)
      lws_callback_on_writable(wsi);
      return After::keep;
    }
  }
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t written = 0;
  while (!outbox.empty()) {
    const std::size_t before = out.size();
    append_event(out, outbox.front(), owner->options.event_name);
    if (written > 0 && out.size() - LWS_PRE > limit) {
      out.resize(before);  // next time
      lws_callback_on_writable(wsi);
      break;
    }
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
  // lws 4.1 on HTTP/2 leaves a partly written frame in the connection's buffer until a
  // stream asks to write again (see response_writer.cpp): one more (empty) callback
  // after a write longer than one 4 KiB TLS write flushes it.
  if (size > 4000 && http::internal::is_http2_stream(wsi)) lws_callback_on_writable(wsi);
  if (end_after_flush && outbox.empty()) {
    closing = true;  // the error is written: end the stream on the next writable
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
    return http::json_error(ErrorCode::bad_room, kBadRoomMessage);
  }
  if (!sink || !counters.accepting) {
    return http::json_error(ErrorCode::overloaded, "SSE is shutting down");
  }
  if (sessions.size() >= options.max_clients) {
    ++counters.refused;
    auto response =
        http::json_error(ErrorCode::overloaded, "too many SSE clients; try again later");
    response.headers.emplace_back("retry-after", "5");
    return response;
  }
  auto access = http::authorize(server.options(), request, room, auth::Permission::subscribe);
  if (!access) {
    ++counters.refused;
    return http::json_error(*access.refusal);
  }
  std::optional<std::uint64_t> resume_after;
  const std::string last_event_id_header = request.header("last-event-id");
  if (const std::string_view id = resume_id(last_event_id_header, request.query); !id.empty()) {
    // Only a seq we sent is a position; anything else is refused rather than silently
    // read as "from the start", so a broken client learns of it.
    resume_after = parse_last_event_id(id);
    if (!resume_after) {
      return http::json_error(ErrorCode::bad_request,
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
  if (access.grant) raw->expiry = expiries.emplace(access.grant->expires, raw->id);
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);
  raw->client = std::make_shared<http::internal::LoopClient<Impl>>(
      weak_from_this(), server.loop().weak_from_this(), raw->id, "sse", request.peer);

  // The stream never times out on its own; the heartbeat notices a vanished client.
  // On HTTP/2, lws_http_mark_sse also keeps the shared connection from idling out while
  // the stream is open; on h1 clearing the timeout is what counts.
  // The heartbeat runs on the loop's coarse timer: an lws timer per stream would be an
  // O(N) insert into lws 4.1's sorted list at every heartbeat of every stream.
  if (http::internal::is_http2_stream(wsi)) lws_http_mark_sse(wsi);
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  server.loop().set_timer(wsi, options.heartbeat);
  lws_callback_on_writable(wsi);  // headers and retry: at once
  sink->on_subscribe(room, resume_after, raw->client);
  return raw;
}

void SseTransport::Impl::closed(SseSession& session) {
  if (session.expiry) expiries.erase(*session.expiry);
  if (sink) sink->on_unsubscribe(session.room, session.client);
  sessions.remove(session);
}

// Called by the loop's once-a-second sweep: a stream whose token has expired gets an
// `unauthorized` "token expired" error event (no id), then ends. EventSource will retry
// with the same URL and get a 401, which ends it for good; the page asks for a new token.
void SseTransport::Impl::expire(auth::Clock::time_point now) {
  const auto steady_now = std::chrono::steady_clock::now();
  while (!expiries.empty() && expiries.begin()->first <= now) {
    const std::uint64_t id = expiries.begin()->second;
    expiries.erase(expiries.begin());
    SseSession* session = sessions.find(id);
    if (!session) continue;
    session->expiry.reset();
    if (session->closing) continue;
    session->outbox.clear();
    enqueue(*session,
            Message{0, make_payload(encode_error(Error{ErrorCode::unauthorized, "token expired"})),
                    false, MessageKind::error},
            steady_now);
    session->end_after_flush = true;
  }
}

void SseTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  SseSession* session = sessions.find(id);
  if (!session) return;
  const auto now = std::chrono::steady_clock::now();
  if (!session->joined && !session->end_after_flush && !messages.empty() &&
      messages.front().kind == MessageKind::error) {
    // The room refused the join (overloaded, rate_limited): the error event, then the end
    // of the stream; EventSource comes back after `retry`. It never joins the room.
    session->end_after_flush = true;
    enqueue(*session, messages.front(), now);
    return;
  }
  session->joined = true;
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
    if (impl_->server.options().auth) {
      impl_->server.loop().add_sweep(impl_.get(), [weak = std::weak_ptr<Impl>(impl_)](auto now) {
        if (auto impl = weak.lock()) impl->expire(now);
      });
    }
  });
}

void SseTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->counters.accepting = false;
    loop.remove_endpoint(impl_.get());
    loop.remove_sweep(impl_.get());
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
