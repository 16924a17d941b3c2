#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "tickcast/core/message.h"

namespace tickcast {

/// History is a room's bounded ring of recent messages, for resuming clients.
/// Not thread-safe: owned by the Hub's thread.
class History {
 public:
  /// History keeps at most `capacity` messages (at least 1).
  explicit History(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  /// append adds the newest message; its seq must be one more than the last.
  void append(Message message);
  /// after returns every message with seq > `seq`, oldest first, or nullopt when some of
  /// them have already left the ring (the client needs a snapshot instead).
  std::optional<std::vector<Message>> after(std::uint64_t seq) const;
  /// last_seq returns the seq of the newest message, 0 when empty.
  std::uint64_t last_seq() const { return ring_.empty() ? 0 : ring_.back().seq; }
  /// size returns how many messages the ring holds.
  std::size_t size() const { return ring_.size(); }

 private:
  std::size_t capacity_;
  std::deque<Message> ring_;
};

}  // namespace tickcast
