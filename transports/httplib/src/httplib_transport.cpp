#include "tickcast/httplib/httplib_transport.h"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <span>
#include <vector>

#include "common.h"
#include "tickcast/transport/fanout.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::httplib {

using Clock = std::chrono::steady_clock;

namespace {

// One open SSE stream or one parked long-poll: the fan-out's session plus what its worker
// thread waits on. Guarded by Impl::mutex; each waits on its own condition variable in its
// own worker thread.
struct Stream final : FanoutSession {
  Stream(bool sse, const HttplibOptions& options)
      : FanoutSession(options.max_queue, options.stuck_timeout), sse(sse) {}
  const bool sse;
  std::condition_variable wake;
  // long-poll
  bool timed_out = false;
  bool answered = false;
  int status = 200;
  std::string body;
};

std::optional<std::uint64_t> parse_unsigned(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Payloads are JSON objects already: a poll's answer is spliced together, not re-encoded.
std::string events_body(std::span<const Message> events, std::uint64_t next) {
  std::string body = "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) body += ',';
    body += *events[i].payload;
  }
  body += "],\"next\":" + std::to_string(next) + "}";
  return body;
}

}  // namespace

// The shared fan-out, twice: SSE streams and parked polls frame an event differently (an
// SSE block, a poll's answer body), each once per event for all of its kind in the room.
// Everything runs under `mutex`; a transport writes only its framing and its worker loops.
struct HttplibTransport::Impl : std::enable_shared_from_this<HttplibTransport::Impl> {
  explicit Impl(HttplibOptions options)
      : options(std::move(options)), streams(sse_hooks), polls(poll_hooks) {}

  void serve_sse(const ::httplib::Request& request, ::httplib::Response& response);
  void serve_poll(const ::httplib::Request& request, ::httplib::Response& response);
  // Registers a stream, or fills `response` with the refusal. Under `mutex`.
  Stream* admit(const std::string& room, bool sse, const std::string& peer,
                ::httplib::Response& response);
  void forget(Stream& stream);
  void join(std::uint64_t id, bool sse, JoinReply reply);
  void deliver(std::uint64_t id, bool sse, const std::vector<Message>& messages);
  void fan_out(const std::string& room, const Message& message);
  void answer_events(Stream& stream, std::span<const Message> events);
  void answer(Stream& stream, int status, std::string body);
  Fanout<Stream>& fanout_of(bool sse) { return sse ? streams : polls; }

  // SSE: the block of one event, written by the stream's worker.
  struct SseHooks final : FanoutHooks<Stream> {
    explicit SseHooks(Impl& impl) : impl(impl) {}
    Payload frame(const Message& message) override {
      std::string out;
      if (message.kind != MessageKind::error) out += "id: " + std::to_string(message.seq) + '\n';
      out += "event: ";
      out += impl.options.event_name;
      out += "\ndata: ";
      out += *message.payload;
      out += "\n\n";
      return make_payload(std::move(out));
    }
    void wake(Stream& stream) override { stream.wake.notify_one(); }
    void close_stuck(Stream& stream) override { stream.wake.notify_one(); }
    Impl& impl;
  };
  // Long-poll: a parked poll answers with the first event's body.
  struct PollHooks final : FanoutHooks<Stream> {
    explicit PollHooks(Impl& impl) : impl(impl) {}
    Payload frame(const Message& message) override {
      return make_payload(events_body({&message, 1}, message.seq));
    }
    void wake(Stream& stream) override {
      if (!stream.outbox.empty() && !stream.answered) {
        ++impl.polls.counters.sent;
        impl.answer(stream, 200, *stream.outbox.front().payload);
      }
      stream.outbox.clear();
    }
    void close_stuck(Stream& stream) override { stream.wake.notify_one(); }
    Impl& impl;
  };

  const HttplibOptions options;
  std::mutex mutex;  // guards everything below but the atomics
  Sink* sink = nullptr;
  bool accepting = false;
  SseHooks sse_hooks{*this};
  PollHooks poll_hooks{*this};
  Fanout<Stream> streams;  // SSE
  Fanout<Stream> polls;    // long-poll
  std::atomic<bool> accepting_now{false};
};

namespace {

// The reply channel of one stream or poll. May outlive both; sends then go nowhere.
class HttplibClient final : public Client {
 public:
  HttplibClient(std::weak_ptr<HttplibTransport::Impl> impl, std::uint64_t id, bool sse,
                std::string name, std::string peer)
      : impl_(std::move(impl)),
        id_(id),
        sse_(sse),
        name_(std::move(name)),
        peer_(std::move(peer)) {}
  void join(JoinReply reply) override {
    if (auto impl = impl_.lock()) impl->join(id_, sse_, std::move(reply));
  }
  void send(std::vector<Message> messages) override {
    if (auto impl = impl_.lock()) impl->deliver(id_, sse_, messages);
  }
  std::string_view transport() const override { return name_; }
  std::string_view peer() const override { return peer_; }

 private:
  std::weak_ptr<HttplibTransport::Impl> impl_;
  std::uint64_t id_;
  bool sse_;
  std::string name_;
  std::string peer_;
};

}  // namespace

Stream* HttplibTransport::Impl::admit(const std::string& room, bool sse, const std::string& peer,
                                      ::httplib::Response& response) {
  if (!sink || !accepting) {
    detail::set_error(response, options.failure_body, FailureCode::overloaded,
                      "the server is not accepting clients now");
    return nullptr;
  }
  if (streams.size() + polls.size() >= options.max_clients) {
    ++fanout_of(sse).counters.refused;
    detail::set_error(response, options.failure_body, FailureCode::overloaded,
                      "too many clients; try again later");
    return nullptr;
  }
  auto fresh = std::make_unique<Stream>(sse, options);
  fresh->room = room;
  Stream& stream = fanout_of(sse).add(std::move(fresh));
  stream.client =
      std::make_shared<HttplibClient>(weak_from_this(), stream.id, sse, options.name, peer);
  return &stream;
}

// The stream leaves its room first: it is still registered, so stop() waits and the sink
// is still there.
void HttplibTransport::Impl::forget(Stream& stream) {
  Sink* to = nullptr;
  {
    std::lock_guard lock(mutex);
    to = sink;
  }
  if (to) to->on_unsubscribe(stream.room, stream.client);
  std::lock_guard lock(mutex);
  fanout_of(stream.sse).remove(stream);
}

void HttplibTransport::Impl::serve_sse(const ::httplib::Request& request,
                                       ::httplib::Response& response) {
  if (detail::host_missing(request, response, options.failure_body)) return;
  const std::string room = request.matches[1];
  if (!valid_room_name(room)) {
    detail::set_error(response, options.failure_body, FailureCode::bad_room,
                      std::string(kBadRoomMessage));
    return;
  }
  std::optional<std::uint64_t> resume_after;
  std::string last_event_id = request.get_header_value("Last-Event-ID");
  if (last_event_id.empty()) last_event_id = request.get_param_value("last_event_id");
  if (!last_event_id.empty()) {
    resume_after = parse_unsigned(last_event_id);
    if (!resume_after) {
      detail::set_error(response, options.failure_body, FailureCode::bad_request,
                        "Last-Event-ID must be a seq (a non-negative integer)");
      return;
    }
  }

  Sink* to = nullptr;
  Stream* stream = nullptr;
  {
    std::lock_guard lock(mutex);
    stream = admit(room, true, request.remote_addr, response);
    if (!stream) return;
    to = sink;
  }
  // The stream is registered, so stop() waits for it: the sink outlives this call.
  to->on_subscribe(room, resume_after, stream->client);

  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");
  auto self = shared_from_this();
  auto next_heartbeat = std::make_shared<Clock::time_point>(Clock::now() + options.heartbeat);
  auto first = std::make_shared<bool>(true);
  response.set_chunked_content_provider(
      "text/event-stream",
      [self, stream, next_heartbeat, first](std::size_t, ::httplib::DataSink& sink) {
        std::string out;
        std::uint64_t written = 0;
        {
          std::unique_lock lock(self->mutex);
          if (*first) {
            out = "retry: " + std::to_string(self->options.retry.count()) + "\n\n";
            *first = false;
          } else {
            const auto until =
                std::min(*next_heartbeat, Clock::now() + self->options.wake_interval);
            stream->wake.wait_until(lock, until,
                                    [&] { return stream->closing || !stream->outbox.empty(); });
          }
          if (stream->closing) {
            lock.unlock();
            sink.done();
            return true;
          }
          const auto now = Clock::now();
          while (!stream->outbox.empty()) {  // the room's frames, in one write
            out += *stream->outbox.front().payload;
            stream->outbox.pop(now);
            ++written;
          }
          if (stream->refused) {  // the refusal, then the end of the stream
            lock.unlock();
            if (!out.empty() && !sink.write(out.data(), out.size())) return false;
            self->streams.counters.sent += written;
            sink.done();
            return true;
          }
          if (out.empty() && now >= *next_heartbeat) out = ": keepalive\n\n";
          if (!out.empty()) *next_heartbeat = now + self->options.heartbeat;
        }
        // Nothing to write: return, so cpp-httplib checks whether it is stopping, and end the
        // stream if the client has gone (is_writable also checks that the socket is alive).
        if (out.empty()) return sink.is_writable();
        if (!sink.write(out.data(), out.size())) return false;
        self->streams.counters.sent += written;
        return true;
      },
      [self, stream](bool) { self->forget(*stream); });
}

void HttplibTransport::Impl::serve_poll(const ::httplib::Request& request,
                                        ::httplib::Response& response) {
  if (detail::host_missing(request, response, options.failure_body)) return;
  const std::string room = request.matches[1];
  if (!valid_room_name(room)) {
    detail::set_error(response, options.failure_body, FailureCode::bad_room,
                      std::string(kBadRoomMessage));
    return;
  }
  std::optional<std::uint64_t> since;
  if (request.has_param("since")) {
    since = parse_unsigned(request.get_param_value("since"));
    if (!since) {
      detail::set_error(response, options.failure_body, FailureCode::bad_request,
                        "since must be a non-negative integer");
      return;
    }
  }
  auto timeout = options.default_timeout;
  if (request.has_param("timeout_ms")) {
    const auto value = parse_unsigned(request.get_param_value("timeout_ms"));
    if (!value || *value > static_cast<std::uint64_t>(options.max_timeout.count())) {
      detail::set_error(
          response, options.failure_body, FailureCode::bad_request,
          "timeout_ms must be an integer in 0.." + std::to_string(options.max_timeout.count()));
      return;
    }
    timeout = std::chrono::milliseconds(*value);
  }

  Sink* to = nullptr;
  Stream* stream = nullptr;
  {
    std::lock_guard lock(mutex);
    stream = admit(room, false, request.remote_addr, response);
    if (!stream) return;
    stream->position = since.value_or(0);
    to = sink;
  }
  to->on_subscribe(room, since, stream->client);

  const auto deadline = Clock::now() + timeout;
  // A zero timeout still waits for the room's answer to `since` (never hides a backlog),
  // but not forever: a sink that never answers gets an empty answer after this.
  const auto give_up = deadline + options.max_timeout;
  {
    std::unique_lock lock(mutex);
    while (!stream->answered) {
      if (stream->closing) {
        answer_events(*stream, {});
        break;
      }
      const auto now = Clock::now();
      if (!stream->timed_out && now >= deadline) {
        stream->timed_out = true;
        if (stream->joined) answer_events(*stream, {});
        continue;
      }
      if (now >= give_up) {
        answer_events(*stream, {});
        break;
      }
      const auto until =
          std::min(stream->timed_out ? give_up : deadline, now + options.wake_interval);
      stream->wake.wait_until(lock, until);
    }
    response.status = stream->status;
    // NOLINTNEXTLINE(performance-move-const-arg): cpp-httplib 0.15+ has set_content(std::string&&)
    response.set_content(std::move(stream->body), "application/json");
  }
  response.set_header("Cache-Control", "no-store");
  forget(*stream);
}

void HttplibTransport::Impl::answer(Stream& stream, int status, std::string body) {
  stream.answered = true;
  stream.status = status;
  stream.body = std::move(body);
  stream.wake.notify_one();
}

void HttplibTransport::Impl::answer_events(Stream& stream, std::span<const Message> events) {
  polls.counters.sent += events.size();
  answer(stream, 200, events_body(events, events.empty() ? stream.position : events.back().seq));
}

void HttplibTransport::Impl::join(std::uint64_t id, bool sse, JoinReply reply) {
  std::lock_guard lock(mutex);
  Stream* stream = fanout_of(sse).find(id);
  if (!stream) return;
  if (sse) {  // a refusal: the error ends the stream; the stream never joins
    streams.join(*stream, reply, Clock::now());
    return;
  }
  if (stream->joined || stream->answered) return;
  stream->joined = true;
  if (reply.refusal) {  // room refused (overloaded, rate_limited)
    answer(*stream, http_status(reply.refusal->code),
           reply.messages.empty() ? encode_with(options.failure_body, *reply.refusal)
                                  : *reply.messages.front().payload);
    return;
  }
  // A `since` of another history (older, or ahead of the room: a position from before a
  // restart) is answered with the room's snapshot, like a `since` past the history.
  stream->position = reply.position;
  std::vector<Message> events;
  for (auto& m : reply.messages) {
    if (m.kind == MessageKind::error || events.size() >= options.max_batch) continue;
    events.push_back(std::move(m));
  }
  if (!events.empty() || stream->timed_out) answer_events(*stream, events);
}

// Replies outside the join: errors go to an SSE stream (without an id); a poll has no
// place for them.
void HttplibTransport::Impl::deliver(std::uint64_t id, bool sse,
                                     const std::vector<Message>& messages) {
  std::lock_guard lock(mutex);
  Stream* stream = sse ? streams.find(id) : nullptr;
  if (stream && !stream->refused) streams.deliver(*stream, messages, Clock::now());
}

void HttplibTransport::Impl::fan_out(const std::string& room, const Message& message) {
  std::lock_guard lock(mutex);
  const auto now = Clock::now();
  streams.publish(room, message, now);
  polls.publish(room, message, now);
}

HttplibTransport::HttplibTransport(::httplib::Server& server, HttplibOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {
  std::weak_ptr<Impl> weak = impl_;
  auto unavailable = [encoder = impl_->options.failure_body](::httplib::Response& response) {
    detail::set_error(response, encoder, FailureCode::overloaded, "this transport has shut down");
  };
  if (!impl_->options.sse_prefix.empty()) {
    server.Get(
        detail::regex_escape(impl_->options.sse_prefix) + "([^/]*)",
        [weak, unavailable](const ::httplib::Request& request, ::httplib::Response& response) {
          if (auto impl = weak.lock()) {
            impl->serve_sse(request, response);
          } else {
            unavailable(response);
          }
        });
  }
  if (!impl_->options.poll_prefix.empty()) {
    server.Get(
        detail::regex_escape(impl_->options.poll_prefix) + "([^/]*)",
        [weak, unavailable](const ::httplib::Request& request, ::httplib::Response& response) {
          if (auto impl = weak.lock()) {
            impl->serve_poll(request, response);
          } else {
            unavailable(response);
          }
        });
  }
}

HttplibTransport::~HttplibTransport() { stop(); }

std::string_view HttplibTransport::name() const { return impl_->options.name; }

void HttplibTransport::start(Sink& sink) {
  std::lock_guard lock(impl_->mutex);
  impl_->sink = &sink;
  impl_->accepting = true;
  impl_->accepting_now = true;
}

void HttplibTransport::stop() {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->sink) return;
  impl_->accepting = false;
  impl_->accepting_now = false;
  for (auto* fanout : {&impl_->streams, &impl_->polls}) {
    for (Stream* stream : fanout->all()) {
      stream->closing = true;
      stream->wake.notify_one();
    }
  }
  lock.unlock();
  impl_->streams.wait_empty(std::chrono::seconds(2));
  impl_->polls.wait_empty(std::chrono::seconds(1));
  lock.lock();
  impl_->sink = nullptr;
}

void HttplibTransport::publish(std::string_view room, const Message& message) {
  impl_->fan_out(std::string(room), message);
}

TransportStats HttplibTransport::stats() const {
  TransportStats s = impl_->streams.counters.stats(impl_->streams.size() + impl_->polls.size());
  const TransportStats polls = impl_->polls.counters.stats(0);
  s.messages_sent += polls.messages_sent;
  s.messages_dropped += polls.messages_dropped;
  s.clients_refused += polls.clients_refused;
  s.clients_closed_slow += polls.clients_closed_slow;
  s.accepting = impl_->accepting_now;
  return s;
}

void require_host(::httplib::Server& server, FailureEncoder failure_body) {
  server.set_pre_routing_handler(
      [encoder = std::move(failure_body)](const ::httplib::Request& request,
                                          ::httplib::Response& response) {
        return detail::host_missing(request, response, encoder)
                   ? ::httplib::Server::HandlerResponse::Handled
                   : ::httplib::Server::HandlerResponse::Unhandled;
      });
}

}  // namespace tickcast::httplib
