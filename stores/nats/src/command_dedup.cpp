#include "command_dedup.h"

#include <utility>

namespace tickcast::nats {

CommandDedup::Seen CommandDedup::begin(const std::string& id, Answer answer) {
  std::unique_lock lock(mutex_);
  forget_old(Clock::now());
  if (const auto it = entries_.find(id); it != entries_.end()) {
    if (!it->second.reply) {
      it->second.waiting.push_back(std::move(answer));
      return Seen::running;
    }
    const std::string reply = *it->second.reply;
    lock.unlock();
    answer(reply);
    return Seen::answered;
  }
  Entry& entry = entries_[id];
  entry.waiting.push_back(std::move(answer));
  return ran_before_.count(id) != 0 ? Seen::applied_before : Seen::first;
}

void CommandDedup::finish(const std::string& id, const std::string& reply) {
  std::vector<Answer> waiting;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(id);
    if (it == entries_.end() || it->second.reply) return;
    it->second.reply = reply;
    waiting.swap(it->second.waiting);
    answered_.emplace_back(Clock::now(), id);
  }
  for (const Answer& answer : waiting) answer(reply);
}

void CommandDedup::ran_before(std::vector<std::string> ids) {
  std::lock_guard lock(mutex_);
  for (std::string& id : ids) ran_before_.insert(std::move(id));
}

void CommandDedup::forget_old(Clock::time_point now) {
  while (!answered_.empty() && now - answered_.front().first >= keep_) {
    entries_.erase(answered_.front().second);
    ran_before_.erase(answered_.front().second);
    answered_.pop_front();
  }
}

}  // namespace tickcast::nats
