#include "tickcast/httplib/httplib_transport.h"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "tickcast/transport/outbox.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::httplib {

using Clock = std::chrono::steady_clock;

namespace {

// One open SSE stream or one parked long-poll. Guarded by Impl::mutex; each waits on its
// own condition variable in its own worker thread.
struct Stream {
  Stream(std::uint64_t id, std::string room, bool sse, const HttplibOptions& options)
      : id(id), room(std::move(room)), sse(sse), outbox(options.max_queue, options.stuck_timeout) {}
  const std::uint64_t id;
  const std::string room;
  const bool sse;
  std::condition_variable wake;
  bool joined = false;   // the sink's first answer has come
  bool closing = false;  // stop() or a stuck client: end the stream
  bool refused = false;  // SSE: the room refused the join; end once the error is written
  ClientRef client;      // what the sink knows this stream by (on_subscribe, on_unsubscribe)
  // SSE
  Outbox outbox;
  // long-poll
  std::optional<std::uint64_t> since;
  std::uint64_t next = 0;  // the `next` to answer when nothing comes
  bool timed_out = false;
  bool answered = false;
  int status = 200;
  std::string body;
  std::vector<Message> events;
};

std::optional<std::uint64_t> parse_unsigned(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Appends one event in the wire format: `id:` only for room events, so an error reply never
// moves the client's Last-Event-ID.
void append_event(std::string& out, const Message& message, const std::string& event_name) {
  if (message.kind != MessageKind::error) out += "id: " + std::to_string(message.seq) + '\n';
  out += "event: ";
  out += event_name;
  out += "\ndata: ";
  out += *message.payload;
  out += "\n\n";
}

}  // namespace

struct HttplibTransport::Impl : std::enable_shared_from_this<HttplibTransport::Impl> {
  explicit Impl(HttplibOptions options) : options(std::move(options)) {}

  void serve_sse(const ::httplib::Request& request, ::httplib::Response& response);
  void serve_poll(const ::httplib::Request& request, ::httplib::Response& response);
  // Registers a stream, or fills `response` with the refusal. Under `mutex`.
  std::shared_ptr<Stream> admit(const std::string& room, bool sse, const std::string& peer,
                                ::httplib::Response& response);
  void forget(const Stream& stream);
  void join(std::uint64_t id, JoinReply reply);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void enqueue(Stream& stream, const Message& message);
  void answer_events(Stream& stream);
  void answer(Stream& stream, int status, std::string body);

  const HttplibOptions options;
  std::mutex mutex;  // guards everything below but the atomics
  std::condition_variable all_closed;
  Sink* sink = nullptr;
  bool accepting = false;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<Stream>> streams;
  std::unordered_map<std::string, std::vector<Stream*>> rooms;
  std::atomic<std::uint64_t> clients{0}, sent{0}, dropped{0}, refused{0}, closed_slow{0};
  std::atomic<bool> accepting_now{false};
};

namespace {

// The reply channel of one stream or poll. May outlive both; sends then go nowhere.
class HttplibClient final : public Client {
 public:
  HttplibClient(std::weak_ptr<HttplibTransport::Impl> impl, std::uint64_t id, std::string name,
                std::string peer)
      : impl_(std::move(impl)), id_(id), name_(std::move(name)), peer_(std::move(peer)) {}
  void join(JoinReply reply) override {
    if (auto impl = impl_.lock()) impl->join(id_, std::move(reply));
  }
  void send(std::vector<Message> messages) override {
    if (auto impl = impl_.lock()) impl->deliver(id_, std::move(messages));
  }
  std::string_view transport() const override { return name_; }
  std::string_view peer() const override { return peer_; }

 private:
  std::weak_ptr<HttplibTransport::Impl> impl_;
  std::uint64_t id_;
  std::string name_;
  std::string peer_;
};

}  // namespace

std::shared_ptr<Stream> HttplibTransport::Impl::admit(const std::string& room, bool sse,
                                                      const std::string& peer,
                                                      ::httplib::Response& response) {
  if (!sink || !accepting) {
    detail::set_error(response, options.failure_body, FailureCode::overloaded,
                      "the server is not accepting clients now");
    return nullptr;
  }
  if (streams.size() >= options.max_clients) {
    ++refused;
    detail::set_error(response, options.failure_body, FailureCode::overloaded,
                      "too many clients; try again later");
    return nullptr;
  }
  auto stream = std::make_shared<Stream>(next_id++, room, sse, options);
  stream->client =
      std::make_shared<HttplibClient>(weak_from_this(), stream->id, options.name, peer);
  streams.emplace(stream->id, stream);
  rooms[room].push_back(stream.get());
  clients = streams.size();
  return stream;
}

// The stream leaves its room first: it is still registered, so stop() waits and the sink
// is still there.
void HttplibTransport::Impl::forget(const Stream& stream) {
  Sink* to = nullptr;
  {
    std::lock_guard lock(mutex);
    to = sink;
  }
  if (to) to->on_unsubscribe(stream.room, stream.client);
  std::lock_guard lock(mutex);
  if (auto room = rooms.find(stream.room); room != rooms.end()) {
    std::erase(room->second, &stream);
    if (room->second.empty()) rooms.erase(room);
  }
  streams.erase(stream.id);
  clients = streams.size();
  if (streams.empty()) all_closed.notify_all();
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
  std::shared_ptr<Stream> stream;
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
          while (!stream->outbox.empty()) {
            append_event(out, stream->outbox.front(), self->options.event_name);
            stream->outbox.pop(now);
            ++written;
          }
          if (stream->refused) {  // the refusal, then the end of the stream
            lock.unlock();
            if (!out.empty() && !sink.write(out.data(), out.size())) return false;
            self->sent += written;
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
        self->sent += written;
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
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mutex);
    stream = admit(room, false, request.remote_addr, response);
    if (!stream) return;
    stream->since = since;
    stream->next = since.value_or(0);
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
        answer_events(*stream);
        break;
      }
      const auto now = Clock::now();
      if (!stream->timed_out && now >= deadline) {
        stream->timed_out = true;
        if (stream->joined) answer_events(*stream);
        continue;
      }
      if (now >= give_up) {
        answer_events(*stream);
        break;
      }
      const auto until =
          std::min(stream->timed_out ? give_up : deadline, now + options.wake_interval);
      stream->wake.wait_until(lock, until);
    }
    response.status = stream->status;
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

// Payloads are JSON objects already: the answer is spliced together, not re-encoded.
void HttplibTransport::Impl::answer_events(Stream& stream) {
  std::string body = "{\"events\":[";
  for (std::size_t i = 0; i < stream.events.size(); ++i) {
    if (i) body += ',';
    body += *stream.events[i].payload;
  }
  const std::uint64_t next = stream.events.empty() ? stream.next : stream.events.back().seq;
  body += "],\"next\":" + std::to_string(next) + "}";
  sent += stream.events.size();
  stream.events.clear();
  answer(stream, 200, std::move(body));
}

void HttplibTransport::Impl::join(std::uint64_t id, JoinReply reply) {
  std::lock_guard lock(mutex);
  auto it = streams.find(id);
  if (it == streams.end()) return;
  Stream& stream = *it->second;
  if (stream.joined || stream.refused || stream.answered) return;
  if (stream.sse) {
    if (reply.refusal) {  // the room refused the join: it never joins; the error ends the stream
      stream.refused = true;
      for (const Message& m : reply.messages) enqueue(stream, m);
      stream.wake.notify_one();
      return;
    }
    stream.joined = true;
    for (const Message& m : reply.messages) enqueue(stream, m);
    return;
  }
  stream.joined = true;
  if (reply.refusal) {  // room refused (overloaded, rate_limited)
    answer(stream, http_status(reply.refusal->code),
           reply.messages.empty() ? encode_with(options.failure_body, *reply.refusal)
                                  : *reply.messages.front().payload);
    return;
  }
  // A `since` of another history (older, or ahead of the room: a position from before a
  // restart) is answered with the room's snapshot, like a `since` past the history.
  stream.next = reply.position;
  for (auto& m : reply.messages) {
    if (m.kind == MessageKind::error || stream.events.size() >= options.max_batch) continue;
    stream.events.push_back(std::move(m));
  }
  if (!stream.events.empty() || stream.timed_out) answer_events(stream);
}

// Replies outside the join: errors go to an SSE stream (without an id); a poll has no
// place for them.
void HttplibTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  std::lock_guard lock(mutex);
  auto it = streams.find(id);
  if (it == streams.end() || !it->second->sse || it->second->refused) return;
  for (const Message& m : messages) enqueue(*it->second, m);
}

void HttplibTransport::Impl::fan_out(const std::string& room, const Message& message) {
  std::lock_guard lock(mutex);
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  for (Stream* stream : it->second) {
    if (!stream->joined) continue;
    if (stream->sse) {
      enqueue(*stream, message);
    } else if (!stream->answered) {
      stream->events.push_back(message);
      answer_events(*stream);
    }
  }
}

void HttplibTransport::Impl::enqueue(Stream& stream, const Message& message) {
  if (stream.closing) return;
  switch (stream.outbox.push(message, Clock::now())) {
    case Outbox::Push::stuck:
      stream.closing = true;
      stream.outbox.clear();
      ++closed_slow;
      break;
    case Outbox::Push::queued_dropping_oldest_tick:
      ++dropped;
      break;
    case Outbox::Push::queued:
      break;
  }
  stream.wake.notify_one();
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
  for (auto& [id, stream] : impl_->streams) {
    stream->closing = true;
    stream->wake.notify_one();
  }
  impl_->all_closed.wait_for(lock, std::chrono::seconds(2), [&] { return impl_->streams.empty(); });
  impl_->sink = nullptr;
}

void HttplibTransport::publish(std::string_view room, const Message& message) {
  impl_->fan_out(std::string(room), message);
}

TransportStats HttplibTransport::stats() const {
  TransportStats s;
  s.clients = impl_->clients;
  s.messages_sent = impl_->sent;
  s.messages_dropped = impl_->dropped;
  s.clients_refused = impl_->refused;
  s.clients_closed_slow = impl_->closed_slow;
  s.accepting = impl_->accepting_now;
  return s;
}

}  // namespace tickcast::httplib
