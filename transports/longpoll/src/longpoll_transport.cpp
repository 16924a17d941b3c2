#include "tickcast/longpoll/longpoll_transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <span>

#include "poll_query.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/session_table.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::longpoll {

using http::internal::After;
using http::internal::Loop;

namespace {

// One parked (or answering) poll. Lives on the loop thread only.
struct PollSession final : http::internal::Session {
  LongPollTransport::Impl* owner = nullptr;
  std::shared_ptr<LongPollTransport::Impl> keep_alive;
  lws* wsi = nullptr;
  std::uint64_t id = 0;
  std::string room;
  std::size_t room_index = 0;
  std::optional<std::uint64_t> since;
  std::uint64_t next = 0;  // the `next` to answer when nothing comes
  std::vector<std::pair<std::string, std::string>> cors;
  bool joined = false;
  bool answering = false;  // an answer is built; the connection is waiting to write it
  bool timed_out = false;  // the timeout passed before the room answered
  std::chrono::steady_clock::time_point deadline;
  http::Response answer;
  ClientRef client;

  After on_writable(lws* wsi) override;
  After on_timer(lws* wsi) override;
  void on_closed() override;
};

}  // namespace

class LongPollTransport::Impl final : public http::internal::StreamEndpoint,
                                      public std::enable_shared_from_this<LongPollTransport::Impl> {
 public:
  Impl(http::Server& server, LongPollOptions options)
      : server(server), options(std::move(options)) {}

  std::variant<http::internal::Session*, http::Response> open(
      lws* wsi, const http::Request& request) override;
  void closed(PollSession& session);
  void join(std::uint64_t id, JoinReply reply);
  void deliver(std::uint64_t id, std::vector<Message> messages);
  void fan_out(const std::string& room, const Message& message);
  void answer(PollSession& session, http::Response response);
  void answer_events(PollSession& session, std::span<const Message> events);

  http::Server& server;
  LongPollOptions options;
  Sink* sink = nullptr;
  http::internal::SessionTable<PollSession> sessions;
  http::internal::Counters counters;
};

namespace {

After PollSession::on_writable(lws* wsi) {
  if (!answering) return After::keep;
  answer.headers.insert(answer.headers.end(), cors.begin(), cors.end());
  if (!Loop::write_response(wsi, answer)) return After::close;
  return After::complete;
}

// Nothing is written to a parked poll, so a client that vanished shows only as a socket
// that reads EOF or an error; it is probed this often.
constexpr std::chrono::milliseconds kProbeInterval{1000};

bool peer_gone(lws* wsi) {
  char byte;
  const ssize_t n = ::recv(lws_get_socket_fd(wsi), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// On the loop's coarse timer, not an lws timer: with N polls parked, each lws timer is an
// O(N) insert into lws 4.1's sorted list, and every poll arms one per request.
void arm_timer(lws* wsi, std::chrono::steady_clock::time_point deadline) {
  const auto now = std::chrono::steady_clock::now();
  const auto wait =
      std::max(std::chrono::steady_clock::duration::zero(),
               std::min<std::chrono::steady_clock::duration>(deadline - now, kProbeInterval));
  http::internal::loop_of(wsi).set_timer(wsi, wait);
}

After PollSession::on_timer(lws* wsi) {
  if (answering) return After::keep;
  if (std::chrono::steady_clock::now() < deadline) {
    if (peer_gone(wsi)) return After::close;
    arm_timer(wsi, deadline);
    return After::keep;
  }
  timed_out = true;
  // The timeout: "events":[]. Before the room's first answer, wait for it instead, so a
  // backlog is never hidden behind a short timeout.
  if (joined && !answering) owner->answer_events(*this, {});
  return After::keep;
}

void PollSession::on_closed() {
  auto keep = keep_alive;
  keep->closed(*this);
}

}  // namespace

std::variant<http::internal::Session*, http::Response> LongPollTransport::Impl::open(
    lws* wsi, const http::Request& request) {
  const std::string room = request.params.count("room") ? request.params.at("room") : "";
  if (!valid_room_name(room)) {
    return server.failure(FailureCode::bad_room, std::string(kBadRoomMessage));
  }
  const PollQuery query =
      read_poll_query(request.query, options.default_timeout, options.max_timeout);
  if (query.error) return http::failure_response(*query.error, server.options().failure_body);
  const std::optional<std::uint64_t> since = query.since;
  const std::chrono::milliseconds timeout = query.timeout;
  if (!sink || !counters.accepting)
    return server.failure(FailureCode::overloaded, "long-poll is shutting down");
  if (sessions.size() >= options.max_clients) {
    ++counters.refused;
    return server.failure(FailureCode::overloaded, "too many long-poll clients; try again later");
  }

  auto fresh = std::make_unique<PollSession>();
  fresh->owner = this;
  fresh->keep_alive = shared_from_this();
  fresh->wsi = wsi;
  fresh->room = room;
  fresh->since = since;
  fresh->next = since.value_or(0);
  http::Response probe;
  server.loop().add_cors_headers(request, probe);
  fresh->cors = probe.headers;
  fresh->cors.emplace_back("cache-control", "no-store");
  PollSession* raw = &sessions.add(std::move(fresh));
  raw->client = std::make_shared<http::internal::LoopClient<Impl>>(
      weak_from_this(), server.loop().weak_from_this(), raw->id, "longpoll", request.peer);

  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  // A zero timeout still waits for the room's answer to `since`, then returns at once.
  raw->deadline = std::chrono::steady_clock::now() + timeout;
  arm_timer(wsi, raw->deadline);
  sink->on_subscribe(room, since, raw->client);
  return raw;
}

// A poll is a client of its room from its request to its answer; between polls the room
// only counts it through its idle time (HubOptions::room_idle), which a poller that comes
// back keeps restarting.
void LongPollTransport::Impl::closed(PollSession& session) {
  if (sink) sink->on_unsubscribe(session.room, session.client);
  sessions.remove(session);
}

void LongPollTransport::Impl::answer(PollSession& session, http::Response response) {
  session.answering = true;
  session.answer = std::move(response);
  server.loop().cancel_timer(session.wsi);
  lws_callback_on_writable(session.wsi);
}

namespace {
// Payloads are JSON objects already: the answer is spliced together, not re-encoded.
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

void LongPollTransport::Impl::answer_events(PollSession& session, std::span<const Message> events) {
  http::Response response;
  response.body = events_body(events, events.empty() ? session.next : events.back().seq);
  counters.sent += events.size();
  answer(session, std::move(response));
}

void LongPollTransport::Impl::join(std::uint64_t id, JoinReply reply) {
  PollSession* found = sessions.find(id);
  if (!found || found->answering || found->joined) return;
  PollSession& session = *found;
  session.joined = true;
  if (reply.refusal) {  // room refused: its status, the app's error as the body
    http::Response refusal = http::failure_response(*reply.refusal, server.options().failure_body);
    if (!reply.messages.empty()) refusal.body = *reply.messages.front().payload;
    answer(session, std::move(refusal));
    return;
  }
  // A `since` of another history (older, or ahead of the room: a position from before a
  // restart) is answered with the room's snapshot, like a `since` past the history.
  session.next = reply.position;
  std::vector<Message> events;
  for (auto& m : reply.messages) {
    if (m.kind == MessageKind::error || events.size() >= options.max_batch) continue;
    events.push_back(std::move(m));
  }
  if (!events.empty() || session.timed_out) answer_events(session, events);
}

// Replies outside a join (errors) have no place in a poll's answer.
void LongPollTransport::Impl::deliver(std::uint64_t id, std::vector<Message> messages) {
  (void)id, (void)messages;
}

// A parked poll holds nothing (a backlog is answered at once), so every parked poll of the
// room gets the same answer: it is built once per event, not once per client.
void LongPollTransport::Impl::fan_out(const std::string& room, const Message& message) {
  http::Response response;
  // answer() leaves the room's vector as it is, so walking it is safe.
  for (PollSession* session : sessions.members(room)) {
    if (!session->joined || session->answering) continue;
    if (response.body.empty()) response.body = events_body({&message, 1}, message.seq);
    ++counters.sent;
    answer(*session, response);
  }
}

LongPollTransport::LongPollTransport(http::Server& server, LongPollOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

LongPollTransport::~LongPollTransport() { stop(); }

void LongPollTransport::start(Sink& sink) {
  impl_->server.loop().run_sync([&] {
    impl_->sink = &sink;
    impl_->counters.accepting = true;
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
  });
}

void LongPollTransport::stop() {
  if (!impl_->sink) return;
  Loop& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->counters.accepting = false;
    loop.remove_endpoint(impl_.get());
    // Parked polls end now with what they have; clients poll again elsewhere.
    for (PollSession* session : impl_->sessions.all()) {
      if (!session->answering) impl_->answer_events(*session, {});
    }
  });
  impl_->sessions.wait_empty(std::chrono::seconds(2));
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void LongPollTransport::publish(std::string_view room, const Message& message) {
  http::internal::post_fan_out(impl_->server.loop(), impl_, room, message);
}

TransportStats LongPollTransport::stats() const {
  return impl_->counters.stats(impl_->sessions.size());
}

std::string LongPollTransport::url_template() const {
  return impl_->server.base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::longpoll
