#pragma once
// The loop's own coarse timer, in place of libwebsockets 4.1's per-connection timers.

#include <chrono>
#include <cstddef>
#include <iterator>
#include <map>
#include <optional>
#include <vector>

namespace tickcast::http::internal {

/// Deadlines holds keys that fall due at a time, grouped in buckets `resolution` wide.
///
/// Why: lws 4.1 keeps every timer (lws_set_timer_usecs, lws_set_timeout, the ws validity
/// ping) in one time-sorted linked list, so arming one walks the list: O(N) per arm, and
/// O(N^2) when N connections re-arm per event or per period. Here adding a key costs O(1)
/// for the usual deadline, "now + a fixed delay", which always lands in the newest bucket
/// (an append at the end of the map), and O(log B) otherwise, with B the buckets in use
/// (at most horizon / resolution). Taking the due keys costs O(1) each. The loop arms a
/// single lws timer for next().
///
/// A key is due at the end of its bucket: never before its deadline, at most `resolution`
/// after it. Keys are not removed early; the owner ignores one that is no longer wanted.
/// Threads: one thread (the loop's).
template <class Key>
class Deadlines {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadlines(Clock::duration resolution)
      : resolution_(resolution.count() > 0 ? resolution : Clock::duration(1)) {}

  /// add files `key` as due at `due`.
  void add(Clock::time_point due, Key key) {
    const auto since_epoch = due.time_since_epoch();
    // Rounded up, so that the bucket's end is at or after `due`.
    const Clock::rep bucket = (since_epoch.count() + resolution_.count() - 1) / resolution_.count();
    auto it = buckets_.empty() ? buckets_.end() : std::prev(buckets_.end());
    // The end() hint makes the usual case (a bucket after every other) an O(1) append;
    // any other bucket is found in O(log B).
    if (it == buckets_.end() || it->first != bucket)
      it = buckets_.try_emplace(buckets_.end(), bucket);
    it->second.push_back(std::move(key));
    ++size_;
  }

  /// next is when the earliest bucket falls due, if any key is held.
  std::optional<Clock::time_point> next() const {
    if (buckets_.empty()) return std::nullopt;
    return Clock::time_point(resolution_ * buckets_.begin()->first);
  }

  /// take_due removes and returns every key due by `now`, earliest bucket first.
  std::vector<Key> take_due(Clock::time_point now) {
    std::vector<Key> due;
    while (!buckets_.empty() && Clock::time_point(resolution_ * buckets_.begin()->first) <= now) {
      auto node = buckets_.extract(buckets_.begin());
      if (due.empty()) {
        due = std::move(node.mapped());
      } else {
        due.insert(due.end(), node.mapped().begin(), node.mapped().end());
      }
    }
    size_ -= due.size();
    return due;
  }

  /// size counts the keys held.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Clock::duration resolution() const { return resolution_; }

 private:
  Clock::duration resolution_;
  std::map<Clock::rep, std::vector<Key>> buckets_;  // bucket number -> keys due at its end
  std::size_t size_ = 0;
};

}  // namespace tickcast::http::internal
