#pragma once
// The writer's memory of forwarded commands, by the id their sender gave them. A follower
// sends a command again when its answer is late or lost, or the writer changed; the writer
// answers what it has seen instead of running it twice.

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tickcast::nats {

/// CommandDedup keeps each command's answer for `keep` after it was given.
/// Threads: any (one mutex; answers are called outside it).
class CommandDedup {
 public:
  /// Answer hands an encoded reply to one requester.
  using Answer = std::function<void(const std::string& reply)>;
  /// What begin() found.
  enum class Seen {
    first,           ///< new: run it, then finish()
    running,         ///< running now: `answer` gets its reply from finish()
    answered,        ///< answered before: `answer` got that reply
    applied_before,  ///< an earlier writer ran it (its events carry the id): answer with
                     ///< the room's state, through finish()
  };
  explicit CommandDedup(std::chrono::milliseconds keep) : keep_(keep) {}

  /// begin: command `id` arrived from a requester that `answer` replies to.
  Seen begin(const std::string& id, Answer answer);
  /// finish gives `id`'s reply to everyone waiting for it, and keeps it.
  void finish(const std::string& id, const std::string& reply);
  /// ran_before: ids found on the stored events when this node took over.
  void ran_before(std::vector<std::string> ids);

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::optional<std::string> reply;
    std::vector<Answer> waiting;
  };
  void forget_old(Clock::time_point now);

  std::chrono::milliseconds keep_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<Clock::time_point, std::string>> answered_;  // oldest first
  std::unordered_set<std::string> ran_before_;
};

}  // namespace tickcast::nats
