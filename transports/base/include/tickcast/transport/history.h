#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "tickcast/transport/message.h"

namespace tickcast {

/// History is a room's bounded ring of recent messages, for resuming clients. It holds one
/// history (epoch) of the room: the messages after its base, in increasing seq. The seqs may
/// skip numbers (a backplane that numbers all rooms in one sequence); a position is
/// resumable when no message after it has left the ring.
/// Threads: not thread-safe; owned by one thread (the Hub's strand, a transport's loop).
class History {
 public:
  /// History keeps at most `capacity` messages (at least 1).
  explicit History(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  /// reset empties the ring and starts a new history whose position is `base` (the room's
  /// seq before its first event, base + 1).
  void reset(std::uint64_t base);
  /// append adds the newest message; its seq must be above the last.
  void append(Message message);
  /// after returns every message with seq > `seq`, oldest first, or nullopt when `seq` is
  /// not a position of this history: some of the messages after it have left the ring, or
  /// it is below the history's base or above its last seq (another history's position).
  /// The client needs a snapshot instead.
  std::optional<std::vector<Message>> after(std::uint64_t seq) const;
  /// last_seq returns the seq of the newest message, the base when empty.
  std::uint64_t last_seq() const { return ring_.empty() ? base_ : ring_.back().seq; }
  /// first_position returns the lowest position `after` can resume from: the base, or the
  /// seq of the newest message that has left the ring.
  std::uint64_t first_position() const { return floor_; }
  /// size returns how many messages the ring holds.
  std::size_t size() const { return ring_.size(); }

 private:
  std::size_t capacity_;
  std::uint64_t base_ = 0;
  std::uint64_t floor_ = 0;
  std::deque<Message> ring_;
};

}  // namespace tickcast
