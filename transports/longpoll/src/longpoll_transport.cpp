#include "tickcast/longpoll/longpoll_transport.h"

#include <algorithm>
#include <chrono>
#include <list>
#include <span>
#include <unordered_map>

#include "poll_query.h"
#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/loop_transport.h"
#include "tickcast/http/internal/response_writer.h"
#include "tickcast/transport/history.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::longpoll {

using http::internal::After;
using http::internal::Loop;

namespace {

// Payloads are JSON objects already: an answer is spliced together, not re-encoded.
std::string events_body(std::span<const Message> events, std::uint64_t next) {
  std::string body = "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) body += ',';
    body += *events[i].payload;
  }
  body += "],\"next\":" + std::to_string(next) + "}";
  return body;
}

// One parked (or answering) poll. Lives on the loop thread only. Its queue is unused: a
// parked poll takes the first event and answers.
struct PollSession final : http::internal::LoopSession {
  PollSession() : LoopSession(1, std::chrono::hours(1)) {}
  LongPollTransport::Impl* owner = nullptr;
  std::optional<std::uint64_t> since;
  std::vector<std::pair<std::string, std::string>> cors;
  bool answering = false;  // an answer is built; the connection is waiting to write it
  bool timed_out = false;  // the timeout passed before the room answered
  std::chrono::steady_clock::time_point deadline;
  http::Response answer;
  std::optional<http::internal::ResponseWriter> writer;  // the answer being written

  After on_writable(lws* wsi) override;
  // An answer is one write (on HTTP/1.1 without TLS: Loop::write_now).
  bool writes_outside_callbacks() const override { return answering; }
  After on_timer(lws* wsi) override;
  void on_closed() override;
};

}  // namespace

// Long-poll on the shared loop fan-out: the request (open), the framing (the answer body of
// one event, built once and shared by every parked poll of the room) and the write. A
// join reply is answered with its whole batch in one body.
class LongPollTransport::Impl final
    : public http::internal::StreamEndpoint,
      public http::internal::LoopTransport<LongPollTransport::Impl, PollSession> {
 public:
  Impl(http::Server& server, LongPollOptions options)
      : LoopTransport(server), options(std::move(options)) {}

  std::variant<http::internal::Session*, http::Response> open(
      lws* wsi, const http::Request& request) override;
  void answer(PollSession& session, http::Response response);
  void answer_events(PollSession& session, std::span<const Message> events);

  // LoopTransport
  void on_join(PollSession& session, JoinReply reply);
  void on_deliver(PollSession&, const std::vector<Message>&) {}  // errors have no place in a poll
  void close_gracefully(PollSession& session) {
    // Parked polls end now with what they have; clients poll again elsewhere.
    if (!session.answering) answer_events(session, {});
  }
  const void* endpoint() const { return static_cast<const http::internal::StreamEndpoint*>(this); }

  // FanoutHooks: the answer to a parked poll is the event alone.
  Payload frame(const Message& message) override {
    return make_payload(events_body({&message, 1}, message.seq));
  }
  void wake(PollSession& session) override {
    if (session.outbox.empty()) return;
    if (!session.answering) {
      http::Response response;
      response.body = *session.outbox.front().payload;
      ++fanout.counters.sent;
      answer(session, std::move(response));
    }
    session.outbox.clear();
  }

  // -- the ring: the transport's own recent events of each polled room
  void fan_out(const std::string& room, const Message& message);
  std::optional<http::Response> answer_from_ring(const std::string& room, std::uint64_t since,
                                                 const http::Request& request, bool& park);
  void start_ring(const std::string& room, std::uint64_t position, const std::string& peer);
  void ring_joined(const std::string& room, const Client* member, JoinReply reply);
  void drop_ring(const std::string& room, bool leave);
  void sweep_rings(Loop::SweepClock::time_point now);
  void on_stop();

  // Ring is one room's recent events (the lws minimal-examples model: a ring per room, a
  // position per client). Its `member` is the transport's own join of the room, so that the
  // app counts the room as joined while pollers use the ring.
  struct Ring {
    explicit Ring(std::size_t capacity) : history(capacity) {}
    History history;
    ClientRef member;
    bool ready = false;  // the member's join reply arrived: the history is the room's
    Loop::SweepClock::time_point used;
    std::list<std::string>::iterator in_order;  // its place in by_use
  };
  std::unordered_map<std::string, Ring> rings;
  std::list<std::string> by_use;  // rooms of the rings, least recently polled first

  LongPollOptions options;
};

namespace {

// RingMember is the ring's join of a room: its join reply seeds the ring; it gets no replies.
class RingMember final : public Client {
 public:
  RingMember(std::weak_ptr<LongPollTransport::Impl> impl, std::weak_ptr<Loop> loop,
             std::string room, std::string peer)
      : impl_(std::move(impl)),
        loop_(std::move(loop)),
        room_(std::move(room)),
        peer_(std::move(peer)) {}
  void join(JoinReply reply) override {
    if (auto loop = loop_.lock()) {
      loop->post([impl = impl_, room = room_, self = this, reply = std::move(reply)]() mutable {
        if (auto strong = impl.lock()) strong->ring_joined(room, self, std::move(reply));
      });
    }
  }
  void send(std::vector<Message>) override {}
  std::string_view transport() const override { return "longpoll"; }
  std::string_view peer() const override { return peer_; }

 private:
  std::weak_ptr<LongPollTransport::Impl> impl_;
  std::weak_ptr<Loop> loop_;
  std::string room_, peer_;
};

After PollSession::on_writable(lws* wsi) {
  if (!answering) return After::keep;
  if (!writer) {
    answer.headers.insert(answer.headers.end(), cors.begin(), cors.end());
    writer.emplace(std::move(answer));
  }
  // A batch of events can be long: on HTTP/2 it goes out in frames, one per callback.
  switch (writer->write(wsi)) {
    case http::internal::ResponseWriter::Step::failed:
      return After::close;
    case http::internal::ResponseWriter::Step::more:
      return After::keep;
    case http::internal::ResponseWriter::Step::done:
      break;
  }
  return After::complete;
}

// On the loop's coarse timer, not an lws timer: with N polls parked, each lws timer is an
// O(N) insert into lws 4.1's sorted list, and every poll arms one per request. A client that
// goes away meanwhile is noticed by the loop (Loop::watch_stream), not by this timer.
void arm_timer(lws* wsi, std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono_literals;
  const auto left = std::max(std::chrono::steady_clock::duration::zero(),
                             deadline - std::chrono::steady_clock::now());
  // A second ahead at most: the timer of an answered poll stays filed in the loop until it
  // falls due (Deadlines removes nothing early), so a 25 s one would keep 25 s of answered
  // polls there (10,000 a second: 4-6 MiB more at peak, measured). And a near deadline is
  // rounded up by 50 ms at most (Loop::timer_grid), a far one by up to a second.
  http::internal::loop_of(wsi).set_timer(wsi,
                                         std::min<std::chrono::steady_clock::duration>(left, 1s));
}

After PollSession::on_timer(lws* wsi) {
  if (answering) return After::keep;
  if (std::chrono::steady_clock::now() < deadline) {
    arm_timer(wsi, deadline);
    return After::keep;
  }
  timed_out = true;
  // The timeout: "events":[]. Before the room's first answer, wait for it instead, so a
  // backlog is never hidden behind a short timeout.
  if (joined && !answering) owner->answer_events(*this, {});
  return After::keep;
}

void PollSession::on_closed() { owner->closed(*this); }

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
  if (!accepting()) return server.failure(FailureCode::overloaded, "long-poll is shutting down");
  if (fanout.size() >= options.max_clients) {
    ++fanout.counters.refused;
    return server.failure(FailureCode::overloaded, "too many long-poll clients; try again later");
  }
  // Every poll carries the token, so an expired one is refused at the next poll (before
  // the ring: a poll it answers is checked too).
  if (auto access = http::authorize(server.options(), request, room, auth::Permission::subscribe);
      !access) {
    ++fanout.counters.refused;
    return http::failure_response(*access.refusal, server.options().failure_body);
  }

  // A `since` the ring holds: the answer comes from the ring, now, or the poll parks on it;
  // the app is not asked.
  bool park = false;
  if (since) {
    if (auto answer = answer_from_ring(room, *since, request, park)) return std::move(*answer);
  }

  auto fresh = std::make_unique<PollSession>();
  fresh->owner = this;
  fresh->room = room;
  fresh->since = since;
  fresh->position = since.value_or(0);
  fresh->joined = park;
  fresh->subscribed = !park;
  http::Response probe;
  server.loop().add_cors_headers(request, probe);
  fresh->cors = probe.headers;
  fresh->cors.emplace_back("cache-control", "no-store");
  PollSession* raw = &admit(std::move(fresh), wsi, "longpoll", request.peer);

  // A zero timeout still waits for the room's answer to `since`, then returns at once.
  raw->deadline = std::chrono::steady_clock::now() + timeout;
  arm_timer(wsi, raw->deadline);
  if (!park) sink->on_subscribe(room, since, raw->client);
  return raw;
}

// A poll is a client of its room from its request to its answer; between polls the room
// only counts it through its idle time (HubOptions::room_idle), which a poller that comes
// back keeps restarting.

// The loop's wake: in a fan-out the answer is written at once, as ws and sse write their
// frames (the transaction still ends in the writable callback: Loop::write_now). Written
// in that callback, the answers of a tick waited behind the reads of the next polls: at
// 10,000 polls p99 was 2.9x the floor's, 1.1x written at once (docs/benchmarks.md).
void LongPollTransport::Impl::answer(PollSession& session, http::Response response) {
  session.answering = true;
  session.answer = std::move(response);
  server.loop().cancel_timer(session.wsi);
  LoopTransport::wake(session);
}

void LongPollTransport::Impl::answer_events(PollSession& session, std::span<const Message> events) {
  http::Response response;
  response.body = events_body(events, events.empty() ? session.position : events.back().seq);
  fanout.counters.sent += events.size();
  answer(session, std::move(response));
}

void LongPollTransport::Impl::on_join(PollSession& session, JoinReply reply) {
  if (session.answering || session.joined) return;
  session.joined = true;
  if (reply.refusal) {  // room refused: its status, the app's error as the body
    http::Response refusal = http::failure_response(*reply.refusal, server.options().failure_body);
    if (!reply.messages.empty()) refusal.body = *reply.messages.front().payload;
    answer(session, std::move(refusal));
    return;
  }
  // A `since` of another history (older, or ahead of the room: a position from before a
  // restart) is answered with the room's snapshot, like a `since` past the history.
  session.position = reply.position;
  if (options.ring_capacity > 0 && !rings.count(session.room)) {
    start_ring(session.room, reply.position, std::string(session.client->peer()));
  }
  std::vector<Message> events;
  for (auto& m : reply.messages) {
    if (m.kind == MessageKind::error || events.size() >= options.max_batch) continue;
    events.push_back(std::move(m));
  }
  if (!events.empty() || session.timed_out) answer_events(session, events);
}

// Every event of the room goes to the parked polls (the shared fan-out) and into its ring.
void LongPollTransport::Impl::fan_out(const std::string& room, const Message& message) {
  LoopTransport::fan_out(room, message);
  const auto it = rings.find(room);
  if (it == rings.end() || !it->second.ready || message.kind != MessageKind::event) return;
  History& history = it->second.history;
  if (message.seq != history.last_seq() + 1) history.reset(message.seq - 1);  // a new history
  history.append(message);
}

std::optional<http::Response> LongPollTransport::Impl::answer_from_ring(
    const std::string& room, std::uint64_t since, const http::Request& request, bool& park) {
  const auto it = rings.find(room);
  if (it == rings.end() || !it->second.ready) return std::nullopt;
  Ring& ring = it->second;
  auto missed = ring.history.after(since);
  if (!missed) return std::nullopt;  // not a position the ring holds: the app answers
  ring.used = Loop::SweepClock::now();
  by_use.splice(by_use.end(), by_use, ring.in_order);
  if (missed->empty()) {
    park = true;
    return std::nullopt;
  }
  if (missed->size() > options.max_batch) missed->resize(options.max_batch);
  fanout.counters.sent += missed->size();
  http::Response response;
  response.body = events_body(*missed, missed->back().seq);
  server.loop().add_cors_headers(request, response);
  response.headers.emplace_back("cache-control", "no-store");
  return response;
}

void LongPollTransport::Impl::start_ring(const std::string& room, std::uint64_t position,
                                         const std::string& peer) {
  auto [it, inserted] = rings.try_emplace(room, options.ring_capacity);
  Ring& ring = it->second;
  ring.used = Loop::SweepClock::now();
  ring.in_order = by_use.insert(by_use.end(), room);
  ring.member =
      std::make_shared<RingMember>(weak_from_this(), server.loop().weak_from_this(), room, peer);
  sink->on_subscribe(room, position, ring.member);
}

// The member's join reply: the room's events after the position it asked from (or a
// snapshot, when the room moved to another history), and from then on every publish.
void LongPollTransport::Impl::ring_joined(const std::string& room, const Client* member,
                                          JoinReply reply) {
  const auto it = rings.find(room);
  if (it == rings.end() || it->second.member.get() != member) return;  // dropped since
  if (reply.refusal) {
    drop_ring(room, /*leave=*/false);
    return;
  }
  Ring& ring = it->second;
  const bool backlog = !reply.messages.empty() && reply.messages.front().kind == MessageKind::event;
  ring.history.reset(backlog ? reply.messages.front().seq - 1 : reply.position);
  if (backlog) {
    for (const Message& m : reply.messages) ring.history.append(m);
  }
  ring.ready = true;
}

void LongPollTransport::Impl::drop_ring(const std::string& room, bool leave) {
  const auto it = rings.find(room);
  if (it == rings.end()) return;
  if (leave && sink) sink->on_unsubscribe(room, it->second.member);
  by_use.erase(it->second.in_order);
  rings.erase(it);
}

// Once a second: rings nobody polled for ring_linger go, and with them their join of the room
// (so that the app may evict it). Least recently polled first: only the expired are looked at.
void LongPollTransport::Impl::sweep_rings(Loop::SweepClock::time_point now) {
  while (!by_use.empty()) {
    const auto it = rings.find(by_use.front());
    if (it == rings.end() || now - it->second.used < options.ring_linger) return;
    drop_ring(by_use.front(), /*leave=*/true);
  }
}

void LongPollTransport::Impl::on_stop() {
  server.loop().remove_sweep(this);
  while (!by_use.empty()) drop_ring(by_use.front(), /*leave=*/true);
}

LongPollTransport::LongPollTransport(http::Server& server, LongPollOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

LongPollTransport::~LongPollTransport() { stop(); }

void LongPollTransport::start(Sink& sink) {
  impl_->start(sink, [&] {
    impl_->server.loop().add_stream_endpoint("GET", impl_->options.path_prefix + "{room}",
                                             impl_.get());
    impl_->server.loop().add_sweep(impl_.get(), [weak = std::weak_ptr<Impl>(impl_)](auto now) {
      if (auto impl = weak.lock()) impl->sweep_rings(now);
    });
  });
}

void LongPollTransport::stop() { impl_->stop(); }

void LongPollTransport::publish(std::string_view room, const Message& message) {
  impl_->publish(room, message);
}

TransportStats LongPollTransport::stats() const { return impl_->stats(); }

void LongPollTransport::forget_room(std::string_view room) {
  impl_->server.loop().post([weak = std::weak_ptr<Impl>(impl_), room = std::string(room)] {
    if (auto impl = weak.lock()) impl->drop_ring(room, /*leave=*/false);
  });
}

std::string LongPollTransport::url_template() const {
  return impl_->server.base_url() + impl_->options.path_prefix + "{room}";
}

}  // namespace tickcast::longpoll
