#pragma once
// The bounded per-connection send queue of the shared fan-out (every transport uses it).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "tickcast/transport/message.h"

namespace tickcast {

/// Outbox is one client's queue of messages not yet written. For a timer only the newest
/// state matters, so a full outbox sheds its oldest droppable message (a tick) and never
/// a state change; an outbox full of state changes, or one that has not drained for
/// `stuck_after`, belongs to a stuck client, which the transport closes.
/// Memory: an idle client's outbox is a small vector (its capacity is what it needed so far,
/// usually one message), not a std::deque, which allocates a 512-byte block and its map up
/// front: that was about 0.6 KiB of every idle connection.
/// Threads: the service thread only.
class Outbox {
 public:
  /// Push is what push() did.
  enum class Push { queued, queued_dropping_oldest_tick, stuck };

  Outbox(std::size_t capacity, std::chrono::steady_clock::duration stuck_after)
      : capacity_(capacity == 0 ? 1 : capacity), stuck_after_(stuck_after) {}

  /// push queues `message`, or says the client is stuck (nothing queued then).
  Push push(const Message& message, std::chrono::steady_clock::time_point now) {
    if (empty()) {
      drained_at_ = now;
    } else if (now - drained_at_ > stuck_after_) {
      return Push::stuck;
    }
    Push result = Push::queued;
    if (size() >= capacity_) {
      auto tick = std::find_if(queue_.begin() + static_cast<std::ptrdiff_t>(head_), queue_.end(),
                               [](const Message& m) { return m.droppable; });
      if (tick == queue_.end()) return Push::stuck;
      queue_.erase(tick);
      result = Push::queued_dropping_oldest_tick;
    }
    if (head_ > 0 && queue_.size() == queue_.capacity()) {  // reuse the popped slots
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    queue_.push_back(message);
    return result;
  }

  /// front is the oldest message; the outbox must not be empty.
  const Message& front() const { return queue_[head_]; }
  /// pop removes the oldest message once it is written, which counts as draining.
  void pop(std::chrono::steady_clock::time_point now) {
    queue_[head_++].payload.reset();  // the payload is not held until the slot is reused
    if (head_ == queue_.size()) clear();
    drained_at_ = now;
  }
  bool empty() const { return size() == 0; }
  std::size_t size() const { return queue_.size() - head_; }
  void clear() {
    queue_.clear();  // keeps the capacity: the next push allocates nothing
    head_ = 0;
  }

 private:
  std::size_t capacity_;
  std::chrono::steady_clock::duration stuck_after_;
  std::vector<Message> queue_;  // [head_, end) are queued; before head_, popped slots
  std::size_t head_ = 0;
  std::chrono::steady_clock::time_point drained_at_{};
};

}  // namespace tickcast
