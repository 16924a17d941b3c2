#pragma once
// What the clients of one run saw: per-client sequence checks (lost, duplicated,
// out-of-order), tick latency, and each client's view of the timer's running state, used
// to time command propagation.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "histogram.h"

namespace tickcast::bench {

/// now_us returns the system clock in microseconds since the epoch (the clock the server
/// stamps server_time_us with).
std::int64_t now_us();

/// RecorderTotals is a consistent copy of a Recorder's counters.
struct RecorderTotals {
  std::size_t ready = 0;
  Histogram latency;         ///< tick latency (receipt - server_time_us), µs, while measuring
  std::uint64_t events = 0;  ///< events (not snapshots) received in all
  std::uint64_t measured_events = 0;  ///< events received while measuring
  std::uint64_t lost = 0, duplicated = 0, out_of_order = 0;
  std::uint64_t snapshots = 0;  ///< snapshots after the first (resyncs)
  std::uint64_t unparsed = 0;   ///< messages that were not events (errors, replies)
};

/// Recorder collects what every client of a run receives.
/// Threads: on_message/mark_ready from the delivering thread(s); the rest from any thread.
/// One mutex; uncontended, it costs far less than a message's delivery.
class Recorder {
 public:
  explicit Recorder(std::size_t clients);

  /// on_message handles one received message (an event's JSON) of client `client`.
  void on_message(std::size_t client, std::string_view json, std::int64_t received_us);
  /// mark_ready counts a client as connected (for transports without a join snapshot).
  void mark_ready(std::size_t client);
  /// ready counts clients that are connected and have their first message or subscription.
  std::size_t ready() const { return ready_.load(std::memory_order_relaxed); }

  /// set_measuring turns tick-latency recording on or off.
  void set_measuring(bool on);

  /// running_reached returns the latest receipt time at which a ready client saw the
  /// running state become `target`, when every ready client shows it; else nullopt.
  std::optional<std::int64_t> running_reached(bool target) const;
  /// running_count counts ready clients whose running state is `target`.
  std::size_t running_count(bool target) const;

  RecorderTotals totals() const;

 private:
  struct Track {
    bool ready = false;
    bool have_seq = false;
    std::uint64_t last_seq = 0;
    std::set<std::uint64_t> gaps;  ///< seqs skipped, so a late arrival is out-of-order
    std::optional<bool> running;
    std::int64_t running_changed_us = 0;
  };

  mutable std::mutex mutex_;
  std::vector<Track> tracks_;
  std::atomic<std::size_t> ready_{0};
  bool measuring_ = false;
  RecorderTotals totals_;
};

}  // namespace tickcast::bench
