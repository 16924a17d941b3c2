#include "tickcast/transport/history.h"

namespace tickcast {

void History::reset(std::uint64_t base) {
  ring_.clear();
  base_ = base;
}

void History::append(Message message) {
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(message));
}

std::optional<std::vector<Message>> History::after(std::uint64_t seq) const {
  if (seq < first_position() || seq > last_seq()) return std::nullopt;
  std::vector<Message> out;
  if (ring_.empty() || seq == last_seq()) return out;
  const std::uint64_t first = ring_.front().seq;
  // Sequence numbers are contiguous, so the start is found by arithmetic, not a search.
  for (auto it = ring_.begin() + static_cast<std::ptrdiff_t>(seq + 1 - first); it != ring_.end();
       ++it) {
    out.push_back(*it);
  }
  return out;
}

}  // namespace tickcast
