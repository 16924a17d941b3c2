#include "tickcast/sse/sse_transport.h"

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

  After on_writable(lws* wsi) override;
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
};

namespace {

bool write_http(lws* wsi, const char* data, std::size_t size) {
  // lws_write may use the LWS_PRE bytes before `data` (an HTTP/2 frame header); every write
  // on this loop is sequential, so a shared frame's headroom is scratch space.
  return lws_write(wsi, reinterpret_cast<unsigned char*>(const_cast<char*>(data)), size,
                   LWS_WRITE_HTTP) >= static_cast<int>(size);
}

After SseSession::on_writable(lws* wsi) {
  if (closing) return After::close;
  const auto now = std::chrono::steady_clock::now();
  // The usual case: one event queued, headers long sent: written from the room's frame.
  if (headers_sent && outbox.size() == 1) {
    const std::string& frame = *outbox.front().payload;
    if (!write_http(wsi, frame.data() + LWS_PRE, frame.size() - LWS_PRE)) return After::close;
    outbox.pop(now);
    heartbeat_due = false;
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
      out.append(reinterpret_cast<const char*>(headers), static_cast<std::size_t>(p - headers));
      out += "retry: " + std::to_string(owner->options.retry.count()) + "\n\n";
      headers_sent = true;
    }
    // Everything queued goes out in one write; a stream has no frames to keep apart.
    std::uint64_t written = 0;
    while (!outbox.empty()) {
      const std::string& frame = *outbox.front().payload;
      out.append(frame, LWS_PRE, std::string::npos);
      outbox.pop(now);
      ++written;
    }
    if (heartbeat_due && written == 0) out += ": keepalive\n\n";
    heartbeat_due = false;
    const std::size_t size = out.size() - LWS_PRE;
    if (size == 0) return After::keep;
    if (!write_http(wsi, out.data() + LWS_PRE, size)) return After::close;
    owner->fanout.counters.sent += written;
  }
  if (refused && outbox.empty()) {
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
  http::internal::bound_send_buffer(wsi, options.send_buffer_bytes);

  // The stream never times out on its own; the heartbeat notices a vanished client.
  // (lws_http_mark_sse is for h2 streams only; on h1 clearing the timeout is what counts.)
  // The heartbeat runs on the loop's coarse timer: an lws timer per stream would be an
  // O(N) insert into lws 4.1's sorted list at every heartbeat of every stream.
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  server.loop().set_timer(wsi, options.heartbeat);
  lws_callback_on_writable(wsi);  // headers and retry: at once
  sink->on_subscribe(room, resume_after, session.client);
  return &session;
}

SseTransport::SseTransport(http::Server& server, SseOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

SseTransport::~SseTransport() { stop(); }

void SseTransport::start(Sink& sink) {
  impl_->start(sink, [&] {
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
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
