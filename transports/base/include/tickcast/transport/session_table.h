#pragma once
// A transport's sessions by id and by room (for fan-out, with O(1) removal), and a way for
// stop() to wait until they are gone. No network library in it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tickcast {

/// SessionTable owns one transport's sessions, by id and by room (for fan-out, with O(1)
/// removal), and lets stop() wait until they are gone. S has members
/// `std::uint64_t id; std::string room; std::size_t room_index;`.
/// Threads: the service thread, except size() and wait_empty() (any thread).
template <class S>
class SessionTable {
 public:
  /// add gives `session` an id, files it under its room and returns it.
  S& add(std::unique_ptr<S> session) {
    S& s = *session;
    s.id = next_id_++;
    auto& members = by_room_[s.room];
    s.room_index = members.size();
    members.push_back(&s);
    by_id_.emplace(s.id, std::move(session));
    count_ = by_id_.size();
    return s;
  }

  /// remove unfiles and destroys `session`.
  void remove(S& session) {
    if (auto room = by_room_.find(session.room); room != by_room_.end()) {
      auto& members = room->second;
      members[session.room_index] = members.back();
      members[session.room_index]->room_index = session.room_index;
      members.pop_back();
      if (members.empty()) by_room_.erase(room);
    }
    by_id_.erase(session.id);
    count_ = by_id_.size();
    if (count_ == 0) {
      std::lock_guard lock(mutex_);
      empty_.notify_all();
    }
  }

  /// find returns the session with `id`, or nullptr once it is gone.
  S* find(std::uint64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second.get();
  }

  /// members returns the room's sessions. Valid until the next add() or remove(), which
  /// only the loop's connection callbacks do, never a fan-out.
  const std::vector<S*>& members(const std::string& room) const {
    static const std::vector<S*> none;
    auto it = by_room_.find(room);
    return it == by_room_.end() ? none : it->second;
  }

  /// all returns every session.
  std::vector<S*> all() const {
    std::vector<S*> out;
    out.reserve(by_id_.size());
    for (const auto& [id, session] : by_id_) out.push_back(session.get());
    return out;
  }

  /// size counts the sessions.
  std::size_t size() const { return count_; }

  /// wait_empty waits until every session is gone; false on timeout.
  bool wait_empty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return empty_.wait_for(lock, timeout, [&] { return count_ == 0; });
  }

 private:
  std::unordered_map<std::uint64_t, std::unique_ptr<S>> by_id_;
  std::unordered_map<std::string, std::vector<S*>> by_room_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
  std::condition_variable empty_;
};

}  // namespace tickcast
