#pragma once
// The one fan-out every transport shares, in the spirit of spdlog's base_sink and
// centrifuge's Transport: the rooms (sessions by room), join gating, the bounded queue
// (sheds ticks, keeps state changes, closes the stuck), framing once per event, and the
// counters live here; a transport supplies only its hooks: how an event is framed, how a
// session is woken to write, how a stuck one is closed.

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tickcast/transport/outbox.h"
#include "tickcast/transport/session_table.h"
#include "tickcast/transport/transport.h"

namespace tickcast {

/// FanoutSession is the fan-out's part of one connection; a transport's session derives
/// from it and adds its own (a socket, a parser, ...).
/// Threads: owned by the thread that runs its Fanout.
struct FanoutSession {
  FanoutSession(std::size_t max_queue, std::chrono::steady_clock::duration stuck_timeout)
      : outbox(max_queue, stuck_timeout) {}
  virtual ~FanoutSession() = default;

  std::uint64_t id = 0;        ///< set by the table
  std::string room;            ///< the room (key) the session asked to join
  std::size_t room_index = 0;  ///< its place among the room's sessions (O(1) removal)
  ClientRef client;            ///< what the sink knows the session by
  bool joined = false;         ///< the join reply arrived: broadcasts after `position` queue
  bool refused = false;        ///< the join was refused: end once the refusal is written
  bool closing = false;        ///< closing: nothing more is queued
  std::uint64_t position = 0;  ///< the join's position: broadcasts at or below it are skipped
  Outbox outbox;               ///< framed messages not yet written
};

/// FanoutCounters is what a transport reports in stats(). Threads: any.
struct FanoutCounters {
  std::atomic<std::uint64_t> sent{0}, dropped{0}, refused{0}, closed_slow{0};
  std::atomic<bool> accepting{false};

  /// stats fills TransportStats, with `clients` open now.
  TransportStats stats(std::size_t clients) const {
    TransportStats s;
    s.clients = clients;
    s.messages_sent = sent;
    s.messages_dropped = dropped;
    s.clients_refused = refused;
    s.clients_closed_slow = closed_slow;
    s.accepting = accepting;
    return s;
  }
};

/// FanoutHooks is what a transport writes itself (spdlog's sink_it_).
template <class S>
class FanoutHooks {
 public:
  virtual ~FanoutHooks() = default;
  /// frame renders `message` in the transport's framing (a WebSocket text frame with its
  /// headroom, an SSE block, a long-poll body). Called once per event for every session of
  /// the room, and once per reply.
  virtual Payload frame(const Message& message) = 0;
  /// frame_for_room is what the fan-out calls: `message` framed for the sessions of `room`.
  /// A transport whose framing names the room (Socket.IO's recovery offset "room:seq")
  /// overrides it; the default is frame(message).
  virtual Payload frame_for_room(const std::string& room, const Message& message) {
    (void)room;
    return frame(message);
  }
  /// wake asks for `session`'s queue to be written, on the transport's writer.
  virtual void wake(S& session) = 0;
  /// close_stuck closes `session`, whose queue is stuck (its socket is choked: no goodbye
  /// can reach it). It stays in the table until its connection is gone.
  virtual void close_stuck(S& session) = 0;
};

/// Fanout keeps one transport's sessions and fans events out to them. The queue holds
/// framed messages: the frame of an event is built once and shared by every session.
/// Threads: not thread-safe; one thread (a loop) or under the transport's lock. size(),
/// wait_empty() and counters from any thread.
template <class S>
requires std::derived_from<S, FanoutSession>
class Fanout {
 public:
  using Time = std::chrono::steady_clock::time_point;

  explicit Fanout(FanoutHooks<S>& hooks) : hooks_(hooks) {}

  /// add files `session` under its room and returns it, with its id set.
  S& add(std::unique_ptr<S> session) { return table_.add(std::move(session)); }
  /// remove unfiles and destroys `session`.
  void remove(S& session) { table_.remove(session); }
  /// find returns the session with `id`, or nullptr once it is gone.
  S* find(std::uint64_t id) const { return table_.find(id); }
  /// members returns the room's sessions (stable while a fan-out walks it).
  const std::vector<S*>& members(const std::string& room) const { return table_.members(room); }
  /// all returns every session.
  std::vector<S*> all() const { return table_.all(); }
  /// size counts the sessions. Any thread.
  std::size_t size() const { return table_.size(); }
  /// wait_empty waits until every session is gone; false on timeout. Any thread.
  bool wait_empty(std::chrono::milliseconds timeout) { return table_.wait_empty(timeout); }

  /// join applies the session's one join reply: a refusal queues its error (the transport
  /// ends the session once it is written); otherwise the session joins at the reply's
  /// position, after what the reply carries.
  void join(S& session, const JoinReply& reply, Time now) {
    if (session.joined || session.refused || session.closing) return;
    if (reply.refusal) {
      session.refused = true;
      for (const Message& m : reply.messages) enqueue(session, framed(session.room, m), now);
      hooks_.wake(session);
      return;
    }
    session.joined = true;
    session.position = reply.position;
    for (const Message& m : reply.messages) enqueue(session, framed(session.room, m), now);
  }

  /// deliver queues replies to one session (errors), joined or not.
  void deliver(S& session, const std::vector<Message>& messages, Time now) {
    for (const Message& m : messages) enqueue(session, framed(session.room, m), now);
  }

  /// publish queues `message` to every joined session of `room` that is not past it,
  /// framing it once, only if some session takes it.
  void publish(const std::string& room, const Message& message, Time now) {
    Message shared;
    for (S* session : table_.members(room)) {
      if (!session->joined || session->closing) continue;
      // A position of 0 is no position (an app that does not number its messages).
      if (session->position != 0 && message.seq <= session->position) continue;
      if (!shared.payload) shared = framed(room, message);
      enqueue(*session, shared, now);
    }
  }

  /// enqueue queues an already framed message to `session` and wakes it; a stuck session is
  /// closed and counted instead.
  void enqueue(S& session, const Message& framed_message, Time now) {
    if (session.closing) return;
    switch (session.outbox.push(framed_message, now)) {
      case Outbox::Push::stuck:
        session.closing = true;
        session.outbox.clear();
        ++counters.closed_slow;
        hooks_.close_stuck(session);
        return;
      case Outbox::Push::queued_dropping_oldest_tick:
        ++counters.dropped;
        break;
      case Outbox::Push::queued:
        break;
    }
    hooks_.wake(session);
  }

  /// framed returns `message` with its payload in the transport's framing for `room`.
  Message framed(const std::string& room, const Message& message) {
    Message out = message;
    out.payload = hooks_.frame_for_room(room, message);
    return out;
  }

  FanoutCounters counters;

 private:
  FanoutHooks<S>& hooks_;
  SessionTable<S> table_;
};

}  // namespace tickcast
