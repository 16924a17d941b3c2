#pragma once
// tickcast::longpoll: HTTP long-polling at GET /poll/rooms/{room}?since=&timeout_ms=, on
// the tickcast::http listener and its service loop. Includes no libwebsockets header.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tickcast/http/server.h"
#include "tickcast/transport/transport.h"

namespace tickcast::longpoll {

/// LongPollOptions configures the long-poll transport.
struct LongPollOptions {
  std::string path_prefix = "/poll/rooms/";  ///< polls go to {prefix}{room}
  std::size_t max_clients = 10000;           ///< parked polls; beyond: 503 + Retry-After
  std::chrono::milliseconds default_timeout{25000};
  std::chrono::milliseconds max_timeout{60000};
  std::size_t max_batch = 1024;  ///< events per answer at most
  /// ring_capacity: events kept per polled room, so that a poll with `since` is answered
  /// (or parked) by the transport itself, without asking the app; 0 turns the ring off.
  std::size_t ring_capacity = 256;
  /// ring_linger: a room's ring (and its join of the room) is dropped this long after its
  /// last poll.
  std::chrono::milliseconds ring_linger{60000};
};

/// LongPollTransport answers `{"events":[...],"next":SEQ}`: at once when the room has
/// events after `since` (all of them, batched), else when the next one happens (the event
/// itself wakes the parked request) or when timeout_ms ends (`"events":[]`). Without
/// `since`, a snapshot at once. A parked request is a little state on the loop, not a thread.
/// Once a room has been polled, the transport keeps its own ring of the room's recent events
/// (and stays joined to the room while it is polled): a poll whose `since` is in the ring is
/// answered, or parked, on the loop, without a round trip through the app.
/// Threads: construct, start() and stop() on the owning thread while the Server runs;
/// publish() and stats() from any thread.
class LongPollTransport final : public Transport {
 public:
  /// LongPollTransport attaches to `server`, which must outlive it.
  explicit LongPollTransport(http::Server& server, LongPollOptions options = {});
  ~LongPollTransport() override;
  LongPollTransport(const LongPollTransport&) = delete;
  LongPollTransport& operator=(const LongPollTransport&) = delete;

  std::string_view name() const override { return "longpoll"; }
  void start(Sink& sink) override;
  void stop() override;
  void publish(std::string_view room, const Message& message) override;
  TransportStats stats() const override;
  /// forget_room drops the room's ring (the app evicted the room).
  void forget_room(std::string_view room) override;

  /// url_template returns http://host:port{prefix}{room}.
  std::string url_template() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickcast::longpoll
