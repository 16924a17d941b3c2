#pragma once
// The Pomodoro timer: a pure state machine over an injected monotonic time. It counts down
// to an absolute deadline, so late wake-ups never add up to drift.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tickcast/core/clock.h"
#include "tickcast/core/error.h"

namespace tickcast {

/// Millis is the unit of every phase length and remaining time.
using Millis = std::chrono::milliseconds;

/// Phase is one of the three Pomodoro phases.
enum class Phase { work, short_break, long_break };

/// to_string returns "work", "short_break" or "long_break".
std::string_view to_string(Phase phase);

/// TimerConfig holds the phase lengths and the number of work phases before a long break.
struct TimerConfig {
  Millis work{std::chrono::minutes(25)};
  Millis short_break{std::chrono::minutes(5)};
  Millis long_break{std::chrono::minutes(15)};
  int cycles = 4;
  /// duration_of returns the length of `phase`.
  Millis duration_of(Phase phase) const;
  bool operator==(const TimerConfig&) const = default;
};

/// ConfigureRequest is a partial TimerConfig: the fields a `configure` command set.
struct ConfigureRequest {
  std::optional<Millis> work, short_break, long_break;
  std::optional<int> cycles;
};

/// TimerState is what every event carries.
struct TimerState {
  Phase phase = Phase::work;
  bool running = false;
  Millis remaining{0};
  Millis duration{0};
  int completed_work = 0;  ///< work phases completed since the last long break
};

/// Reason says why an event was produced (the contract's `reason`).
enum class Reason { tick, start, stop, reset, skip, configure, phase, snapshot };

/// to_string returns the contract's spelling of a reason.
std::string_view to_string(Reason reason);

/// TimerEvent is one state change or tick.
struct TimerEvent {
  Reason reason;
  TimerState state;
};

/// TimerRecord is what a room store keeps of a Timer so it survives a restart. Times that
/// must outlive the process are in wall time: the monotonic clock restarts with it.
struct TimerRecord {
  TimerConfig config;
  Phase phase = Phase::work;
  int completed_work = 0;
  bool running = false;
  /// deadline_wall_us: when running, the wall time (µs since the Unix epoch) the phase ends.
  std::int64_t deadline_wall_us = 0;
  /// remaining_us: when stopped, what is left of the phase, in µs.
  std::int64_t remaining_us = 0;
  bool operator==(const TimerRecord&) const = default;
};

/// Timer is one room's countdown. Not thread-safe: the Hub owns it on one thread.
class Timer {
 public:
  /// Timer starts stopped at the beginning of a work phase. `tick` is the tick period.
  Timer(TimerConfig config, Millis tick);

  /// start runs the countdown from where it stands; already_running if it runs.
  std::optional<Error> start(MonotonicTime now);
  /// stop pauses, keeping the remaining time exactly; already_stopped if it is stopped.
  std::optional<Error> stop(MonotonicTime now);
  /// reset stops and restores the current phase to its full length.
  void reset(MonotonicTime now);
  /// skip ends the current phase now and moves to the next one, stopped.
  void skip(MonotonicTime now);
  /// configure changes lengths; the current phase takes its new length only if it has
  /// not begun (stopped at full length). bad_request on out-of-range values.
  std::optional<Error> configure(const ConfigureRequest& request, MonotonicTime now);

  /// advance appends the events due by `now` to `out`: at most one tick (the newest due
  /// boundary; ticks a stalled caller missed are merged), or at zero a 00:00:00 tick
  /// followed by a `phase` event.
  void advance(MonotonicTime now, std::vector<TimerEvent>& out);

  /// next_due returns when advance next has something to do, or nullopt when stopped.
  std::optional<MonotonicTime> next_due() const;

  /// state returns the state as of `now`.
  TimerState state(MonotonicTime now) const;

  /// record returns what survives a restart; a running timer's deadline is put in wall time
  /// as `wall_now_us + (deadline - now)`.
  TimerRecord record(MonotonicTime now, std::int64_t wall_now_us) const;
  /// restore rebuilds a timer from `record`, mapping its wall deadline back onto the
  /// monotonic clock (`now + (deadline_wall - wall_now)`). A deadline that passed while the
  /// process was down is due at once: the next advance emits the 00:00:00 tick and `phase`.
  static Timer restore(const TimerRecord& record, Millis tick, MonotonicTime now,
                       std::int64_t wall_now_us);

  /// config returns the lengths in force.
  const TimerConfig& config() const { return config_; }

 private:
  void schedule_next_tick_after(std::chrono::nanoseconds left);
  void enter_next_phase();
  TimerState state_with(Millis remaining) const;

  TimerConfig config_;
  Millis tick_;
  Phase phase_ = Phase::work;
  int completed_work_ = 0;
  bool running_ = false;
  // While running: the phase ends at deadline_, the next tick is at next_tick_.
  MonotonicTime deadline_{};
  MonotonicTime next_tick_{};
  // While stopped: what is left of the phase.
  std::chrono::nanoseconds paused_remaining_{0};
};

/// format_hms renders a remaining time as HH:MM:SS, rounding up partial seconds so that
/// "00:00:00" means the phase is over.
std::string format_hms(Millis remaining);

/// limits for configure values.
inline constexpr Millis kMinPhase{100};
inline constexpr Millis kMaxPhase{std::chrono::hours(24)};
inline constexpr int kMaxCycles = 100;

}  // namespace tickcast
