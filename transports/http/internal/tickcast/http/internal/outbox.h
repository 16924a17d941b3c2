#pragma once
// The bounded per-connection send queue every loop transport uses.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>

#include "tickcast/core/message.h"

namespace tickcast::http::internal {

/// Outbox is one client's queue of messages not yet written. For a timer only the newest
/// state matters, so a full outbox sheds its oldest droppable message (a tick) and never
/// a state change; an outbox full of state changes, or one that has not drained for
/// `stuck_after`, belongs to a stuck client, which the transport closes.
/// Threads: the service thread only.
class Outbox {
 public:
  /// Push is what push() did.
  enum class Push { queued, queued_dropping_oldest_tick, stuck };

  Outbox(std::size_t capacity, std::chrono::steady_clock::duration stuck_after)
      : capacity_(capacity == 0 ? 1 : capacity), stuck_after_(stuck_after) {}

  /// push queues `message`, or says the client is stuck (nothing queued then).
  Push push(const Message& message, std::chrono::steady_clock::time_point now) {
    if (queue_.empty()) {
      drained_at_ = now;
    } else if (now - drained_at_ > stuck_after_) {
      return Push::stuck;
    }
    Push result = Push::queued;
    if (queue_.size() >= capacity_) {
      auto tick =
          std::find_if(queue_.begin(), queue_.end(), [](const Message& m) { return m.droppable; });
      if (tick == queue_.end()) return Push::stuck;
      queue_.erase(tick);
      result = Push::queued_dropping_oldest_tick;
    }
    queue_.push_back(message);
    return result;
  }

  /// front is the oldest message; the outbox must not be empty.
  const Message& front() const { return queue_.front(); }
  /// pop removes the oldest message once it is written, which counts as draining.
  void pop(std::chrono::steady_clock::time_point now) {
    queue_.pop_front();
    drained_at_ = now;
  }
  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  void clear() { queue_.clear(); }

 private:
  std::size_t capacity_;
  std::chrono::steady_clock::duration stuck_after_;
  std::deque<Message> queue_;
  std::chrono::steady_clock::time_point drained_at_{};
};

}  // namespace tickcast::http::internal
