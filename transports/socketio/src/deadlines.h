#pragma once
// Deadlines of one fixed length (ping interval, ping timeout), without a timer per
// connection: libwebsockets 4.1 keeps its timers in one sorted list (an O(N) insert), so a
// timer re-armed per connection and per ping would cost O(N^2) at scale.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace tickcast::socketio {

/// Deadlines is a queue of (due, key) for timeouts that all have the same length: each
/// push is `now + length`, so the queue stays sorted by due without any sorting, and the
/// due ones are popped from the front. Stale entries (a key whose deadline has moved) are
/// left in place and skipped by the caller when popped.
/// Threads: one thread (the loop's).
class Deadlines {
 public:
  using Time = std::chrono::steady_clock::time_point;

  /// push adds a deadline; `due` must not be earlier than the last one pushed.
  void push(Time due, std::uint64_t key) { queue_.emplace_back(due, key); }

  /// pop_due calls fn(due, key) for every deadline at or before `now`, oldest first.
  template <class Fn>
  void pop_due(Time now, Fn&& fn) {
    while (!queue_.empty() && queue_.front().first <= now) {
      const auto [due, key] = queue_.front();
      queue_.pop_front();
      fn(due, key);
    }
  }

  /// next is the earliest deadline, if any.
  std::optional<Time> next() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.front().first;
  }

  void clear() { queue_.clear(); }

 private:
  std::deque<std::pair<Time, std::uint64_t>> queue_;
};

}  // namespace tickcast::socketio
