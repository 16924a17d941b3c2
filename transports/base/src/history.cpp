#include "tickcast/transport/history.h"

#include <algorithm>

namespace tickcast {

void History::reset(std::uint64_t base) {
  ring_.clear();
  base_ = floor_ = base;
}

void History::append(Message message) {
  if (ring_.size() == capacity_) {
    floor_ = ring_.front().seq;
    ring_.pop_front();
  }
  ring_.push_back(std::move(message));
}

std::optional<std::vector<Message>> History::after(std::uint64_t seq) const {
  if (seq < first_position() || seq > last_seq()) return std::nullopt;
  std::vector<Message> out;
  if (ring_.empty() || seq == last_seq()) return out;
  const std::uint64_t first = ring_.front().seq;
  auto from = ring_.begin();
  if (ring_.back().seq - first + 1 == ring_.size()) {  // contiguous: arithmetic, not a search
    from += static_cast<std::ptrdiff_t>(seq < first ? 0 : seq + 1 - first);
  } else {
    from = std::upper_bound(ring_.begin(), ring_.end(), seq,
                            [](std::uint64_t s, const Message& m) { return s < m.seq; });
  }
  out.assign(from, ring_.end());
  return out;
}

}  // namespace tickcast
