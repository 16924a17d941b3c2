#include "tickcast/sse/sse_transport.h"

#include <algorithm>
#include <map>

#include "last_event_id.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/loop_transport.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::sse {

using http::internal::After;
using http::internal::Loop;

namespace {

// One open event stream. Lives on the loop thread only.
struct SseSession final : http::internal::LoopSession {
  explicit SseSession(const SseOptions& options)
      : LoopSession(options.max_queue, options.stuck_timeout) {}
  SseTransport::Impl* owner = nullptr;
  std::vector<std::pair<std::string, std::string>> cors;
  bool headers_sent = false;
  bool heartbeat_due = false;
  std::chrono::steady_clock::time_point written_at;  // the last write: the heartbeat's clock
  // Its entry in the transport's expiries, erased when the stream closes first.
  std::optional<std::multimap<auth::Clock::time_point, std::uint64_t>::iterator> expiry;

  After on_writable(lws* wsi) override;
  bool writes_outside_callbacks() const override { return headers_sent && !refused && !closing; }
  After on_timer(lws* wsi) override;
  void on_closed() override;
};

}  // namespace

// SSE on the shared loop fan-out: the handshake (open), the framing (one block per event,
// with LWS_PRE headroom, shared by every stream of the room) and the write.
class SseTransport::Impl final
    : public http::internal::StreamEndpoint,
      public http::internal::LoopTransport<SseTransport::Impl, SseSession> {
 public:
  Impl(http::Server& server, SseOptions options)
      : LoopTransport(server), options(std::move(options)) {}

  std::variant<http::internal::Session*, http::Response> open(
      lws* wsi, const http::Request& request) override;

  // LoopTransport
  void on_join(SseSession& session, const JoinReply& reply) {
    // A refusal (overloaded, rate_limited): the error event, then the end of the stream;
    // EventSource comes back after `retry`. It never joins the room.
    fanout.join(session, reply, std::chrono::steady_clock::now());
  }
  void on_deliver(SseSession& session, const std::vector<Message>& messages) {
    fanout.deliver(session, messages, std::chrono::steady_clock::now());
  }
  void close_gracefully(SseSession& session) {
    session.closing = true;
    lws_callback_on_writable(session.wsi);
  }
  const void* endpoint() const { return static_cast<const http::internal::StreamEndpoint*>(this); }
  void on_stop() { server.loop().remove_sweep(this); }
  // The stream leaves the expiries first, then the room (LoopTransport::closed).
  void closed(SseSession& session) {
    if (session.expiry) expiries.erase(*session.expiry);
    LoopTransport::closed(session);
  }
  void expire(auth::Clock::time_point now);

  // FanoutHooks: `id:` only for room events, so an error reply never moves the client's
  // Last-Event-ID. The block starts with LWS_PRE bytes of headroom, so that a stream with
  // just this block queued writes it straight from the shared buffer.
  Payload frame(const Message& message) override {
    std::string out(LWS_PRE, '\0');
    if (message.kind != MessageKind::error) {
      out += "id: ";
      out += std::to_string(message.seq);
      out += '\n';
    }
    out += "event: ";
    out += options.event_name;
    out += "\ndata: ";
    out += *message.payload;
    out += "\n\n";
    return make_payload(std::move(out));
  }

  SseOptions options;
  std::string write_buffer;
  std::multimap<auth::Clock::time_point, std::uint64_t> expiries;  // token expiry -> session
};

namespace {

bool write_http(lws* wsi, const char* data, std::size_t size) {
  // lws_write may use the LWS_PRE bytes before `data` (an HTTP/2 frame header); every write
  // on this loop is sequential, so a shared frame's headroom is scratch space.
  return lws_write(wsi, reinterpret_cast<unsigned char*>(const_cast<char*>(data)), size,
                   LWS_WRITE_HTTP) >= static_cast<int>(size);
}

After SseSession::on_writable(lws* wsi) {
  const bool h2 = http::internal::is_http2_stream(wsi);
  if (closing) {
    // On HTTP/2 closing the stream's wsi does not end the stream for the client (lws 4.1
    // leaves it open, and the browser waits): end it with an empty END_STREAM frame.
    if (headers_sent && h2) {
      unsigned char end_stream[LWS_PRE + 1];
      if (lws_write(wsi, end_stream + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0) return After::close;
      return After::complete;
    }
    return After::close;
  }
  const auto now = std::chrono::steady_clock::now();
  // The usual case on HTTP/1.1: one event queued, headers long sent: written from the
  // room's frame.
  if (!h2 && headers_sent && outbox.size() == 1) {
    const std::string& frame = *outbox.front().payload;
    if (!write_http(wsi, frame.data() + LWS_PRE, frame.size() - LWS_PRE)) return After::close;
    outbox.pop(now);
    heartbeat_due = false;
    written_at = now;
    ++owner->fanout.counters.sent;
  } else {
    std::string& out = owner->write_buffer;
    out.assign(LWS_PRE, '\0');
    if (!headers_sent) {
      unsigned char headers[1024];
      unsigned char* p = headers;
      unsigned char* end = headers + sizeof headers;
      if (lws_add_http_common_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN,
                                      &p, end)) {
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
      if (h2) {
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
    if (h2) {
      limit = 16384;
      const lws_fileofs_t allowance = lws_get_peer_write_allowance(wsi);
      if (allowance >= 0) limit = std::min<std::size_t>(limit, static_cast<std::size_t>(allowance));
      if (limit < 2048) {  // wait for credit (lws calls back when the peer grants it)
        lws_callback_on_writable(wsi);
        return After::keep;
      }
    }
    std::uint64_t written = 0;
    while (!outbox.empty()) {
      const std::string& frame = *outbox.front().payload;
      const std::size_t before = out.size();
      out.append(frame, LWS_PRE, std::string::npos);
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
    if (!write_http(wsi, out.data() + LWS_PRE, size)) return After::close;
    written_at = now;
    owner->fanout.counters.sent += written;
    // lws 4.1 on HTTP/2 leaves a partly written frame in the connection's buffer until a
    // stream asks to write again (see response_writer.cpp): one more (empty) callback
    // after a write longer than one 4 KiB TLS write flushes it.
    if (size > 4000 && h2) lws_callback_on_writable(wsi);
  }
  if (refused && outbox.empty()) {
    closing = true;  // the refusal is written: end the stream on the next writable
    lws_callback_on_writable(wsi);
  }
  return After::keep;
}

After SseSession::on_timer(lws* wsi) {
  // A heartbeat is for a quiet stream: one that had an event lately is alive to proxies,
  // and its writes notice a vanished client. The heartbeat moves to a full period after
  // that write, so a ticking room's streams get none.
  const auto quiet = std::chrono::steady_clock::now() - written_at;
  if (quiet < owner->options.heartbeat) {
    owner->server.loop().set_timer(wsi, owner->options.heartbeat - quiet);
    return After::keep;
  }
  heartbeat_due = true;
  owner->server.loop().set_timer(wsi, owner->options.heartbeat);
  // Written at once where it can be, as a fan-out's events are: every stream's heartbeat
  // falls in the same grid slot, and a writable callback for each would cost 10,000
  // POLLOUT round trips (two epoll_ctl each on libev).
  owner->server.loop().write_now(wsi);
  return After::keep;
}

void SseSession::on_closed() { owner->closed(*this); }

}  // namespace

std::variant<http::internal::Session*, http::Response> SseTransport::Impl::open(
    lws* wsi, const http::Request& request) {
  const std::string room = request.params.count("room") ? request.params.at("room") : "";
  if (!valid_room_name(room)) {
    return server.failure(FailureCode::bad_room, std::string(kBadRoomMessage));
  }
  if (!accepting()) return server.failure(FailureCode::overloaded, "SSE is shutting down");
  if (fanout.size() >= options.max_clients) {
    ++fanout.counters.refused;
    return server.failure(FailureCode::overloaded, "too many SSE clients; try again later");
  }
  auto access = http::authorize(server.options(), request, room, auth::Permission::subscribe);
  if (!access) {
    ++fanout.counters.refused;
    return http::failure_response(*access.refusal, server.options().failure_body);
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
  fresh->room = room;
  http::Response probe;
  server.loop().add_cors_headers(request, probe);
  fresh->cors = probe.headers;
  SseSession& session = admit(std::move(fresh), wsi, "sse", request.peer);
  if (access.grant) session.expiry = expiries.emplace(access.grant->expires, session.id);
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);

  // The stream never times out on its own (the loop dropped lws's timeout at dispatch);
  // the heartbeat notices a vanished client. On HTTP/2, lws_http_mark_sse also keeps the
  // shared connection from idling out while the stream is open.
  // The heartbeat runs on the loop's coarse timer: an lws timer per stream would be an
  // O(N) insert into lws 4.1's sorted list at every heartbeat of every stream.
  if (http::internal::is_http2_stream(wsi)) lws_http_mark_sse(wsi);
  server.loop().set_timer(wsi, options.heartbeat);
  lws_callback_on_writable(wsi);  // headers and retry: at once
  sink->on_subscribe(room, resume_after, session.client);
  return &session;
}

SseTransport::SseTransport(http::Server& server, SseOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

SseTransport::~SseTransport() { stop(); }

// Called by the loop's once-a-second sweep: a stream whose token has expired gets an
// `unauthorized` "token expired" error event (no id), then ends. EventSource will retry
// with the same URL and get a 401, which ends it for good; the page asks for a new token.
void SseTransport::Impl::expire(auth::Clock::time_point now) {
  const auto steady_now = std::chrono::steady_clock::now();
  while (!expiries.empty() && expiries.begin()->first <= now) {
    const std::uint64_t id = expiries.begin()->second;
    expiries.erase(expiries.begin());
    SseSession* session = fanout.find(id);
    if (!session) continue;
    session->expiry.reset();
    if (session->closing) continue;
    session->outbox.clear();
    const Failure expired{FailureCode::unauthorized, "token expired"};
    const std::string body =
        sink ? sink->encode_failure(expired, {}) : generic_failure_body(expired);
    fanout.deliver(*session, {Message{0, make_payload(body), false, MessageKind::error}},
                   steady_now);
    session->refused = true;  // ends the stream once the error is written
  }
}

void SseTransport::start(Sink& sink) {
  impl_->start(sink, [&] {
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
    if (impl_->server.options().auth) {
      impl_->server.loop().add_sweep(impl_.get(), [weak = std::weak_ptr<Impl>(impl_)](auto now) {
        if (auto impl = weak.lock()) impl->expire(now);
      });
    }
  });
}

void SseTransport::stop() { impl_->stop(); }

void SseTransport::publish(std::string_view room, const Message& message) {
  impl_->publish(room, message);
}

TransportStats SseTransport::stats() const { return impl_->stats(); }

std::string SseTransport::url_template() const {
  return impl_->server.base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::sse
