#pragma once
// A follower's copy of every room's events: an ordered push consumer on the stream's event
// subjects (gap-free by construction; cnats recreates it on a gap or a missed heartbeat),
// each committed event handed on with the record it was committed with.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "nats_link.h"
#include "tickcast/core/writer_link.h"

namespace tickcast::nats {

/// EventFeed delivers the events of `stream` under `subject_prefix`* from stream sequence
/// `from` on. Threads: the handler runs on a cnats delivery thread; the rest from any.
class EventFeed {
 public:
  using Handler = std::function<void(ReplicatedEvent)>;
  /// EventFeed subscribes at once; throws std::runtime_error if it cannot.
  EventFeed(Link& link, std::string stream, std::string subject_prefix, std::uint64_t from,
            Handler handler);
  ~EventFeed();
  EventFeed(const EventFeed&) = delete;
  EventFeed& operator=(const EventFeed&) = delete;

  /// delivered is the stream sequence of the last message handed on (or from - 1).
  std::uint64_t delivered() const { return delivered_.load(); }
  /// restart drops the subscription and makes a new one from delivered() + 1: the cure for
  /// a wedged consumer the position check found.
  void restart();

 private:
  static void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* self);
  void subscribe(std::uint64_t from);
  void handle(natsMsg* msg);

  Link& link_;
  std::string stream_;
  std::string prefix_;
  Handler handler_;
  std::atomic<std::uint64_t> delivered_;
  // Fault injection for the position check's test (TICKCAST_FAULT_FEED_STALL_AFTER=N): the
  // first subscription stops handing on messages after N of them, as a wedged one would.
  std::atomic<long long> stall_after_{-1};
  std::mutex mutex_;  // orders restart() calls
  SubPtr sub_;
};

/// stream_last_sequence asks the stream's leader for its last sequence; nullopt if it does
/// not answer.
std::optional<std::uint64_t> stream_last_sequence(Link& link, const std::string& stream);

}  // namespace tickcast::nats
