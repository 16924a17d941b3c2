#include "tickcast/core/timer.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace tickcast {

using std::chrono::ceil;
using std::chrono::nanoseconds;

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::work:
      return "work";
    case Phase::short_break:
      return "short_break";
    case Phase::long_break:
      return "long_break";
  }
  return "work";
}

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::tick:
      return "tick";
    case Reason::start:
      return "start";
    case Reason::stop:
      return "stop";
    case Reason::reset:
      return "reset";
    case Reason::skip:
      return "skip";
    case Reason::configure:
      return "configure";
    case Reason::phase:
      return "phase";
    case Reason::snapshot:
      return "snapshot";
  }
  return "tick";
}

Millis TimerConfig::duration_of(Phase phase) const {
  switch (phase) {
    case Phase::work:
      return work;
    case Phase::short_break:
      return short_break;
    case Phase::long_break:
      return long_break;
  }
  return work;
}

std::string format_hms(Millis remaining) {
  const long long total = remaining.count() <= 0 ? 0 : (remaining.count() + 999) / 1000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  return buf;
}

Timer::Timer(TimerConfig config, Millis tick)
    : config_(config),
      tick_(tick.count() > 0 ? tick : Millis(1000)),
      paused_remaining_(config.work) {}

std::optional<Error> Timer::start(MonotonicTime now) {
  if (running_) return Error{ErrorCode::already_running, "Timer already started"};
  running_ = true;
  deadline_ = now + paused_remaining_;
  schedule_next_tick_after(paused_remaining_);
  return std::nullopt;
}

std::optional<Error> Timer::stop(MonotonicTime now) {
  if (!running_) return Error{ErrorCode::already_stopped, "Timer already stopped"};
  running_ = false;
  paused_remaining_ = deadline_ > now ? deadline_ - now : nanoseconds(0);
  return std::nullopt;
}

void Timer::reset(MonotonicTime) {
  running_ = false;
  paused_remaining_ = config_.duration_of(phase_);
}

void Timer::skip(MonotonicTime) { enter_next_phase(); }

std::optional<Error> Timer::configure(const ConfigureRequest& request, MonotonicTime now) {
  auto in_range = [](const std::optional<Millis>& v) {
    return !v || (*v >= kMinPhase && *v <= kMaxPhase);
  };
  if (!in_range(request.work) || !in_range(request.short_break) || !in_range(request.long_break)) {
    return Error{ErrorCode::bad_request, "phase lengths must be between 100 ms and 24 h"};
  }
  if (request.cycles && (*request.cycles < 1 || *request.cycles > kMaxCycles)) {
    return Error{ErrorCode::bad_request, "cycles must be between 1 and 100"};
  }
  const bool untouched = !running_ && paused_remaining_ == config_.duration_of(phase_);
  if (request.work) config_.work = *request.work;
  if (request.short_break) config_.short_break = *request.short_break;
  if (request.long_break) config_.long_break = *request.long_break;
  if (request.cycles) config_.cycles = *request.cycles;
  if (untouched) paused_remaining_ = config_.duration_of(phase_);
  (void)now;
  return std::nullopt;
}

namespace {
// Rounds a duration up to whole milliseconds, so a value shown is never early.
Millis ceil_ms(nanoseconds d) { return d.count() <= 0 ? Millis(0) : ceil<Millis>(d); }
}  // namespace

// Ticks fall on whole multiples of the tick period before the deadline, so a timer
// stopped and started mid-tick shows the same values it would have shown uninterrupted.
// The next tick is the largest multiple strictly below what is left now.
void Timer::schedule_next_tick_after(nanoseconds left) {
  const nanoseconds tick = tick_;
  const auto steps = left.count() <= 0 ? 0 : (left.count() - 1) / tick.count();
  next_tick_ = deadline_ - tick * steps;
}

void Timer::enter_next_phase() {
  if (phase_ == Phase::work) {
    ++completed_work_;
    phase_ = completed_work_ >= config_.cycles ? Phase::long_break : Phase::short_break;
  } else {
    if (phase_ == Phase::long_break) completed_work_ = 0;
    phase_ = Phase::work;
  }
  running_ = false;
  paused_remaining_ = config_.duration_of(phase_);
}

TimerState Timer::state_with(Millis remaining) const {
  return TimerState{phase_, running_, remaining, config_.duration_of(phase_), completed_work_};
}

void Timer::advance(MonotonicTime now, std::vector<TimerEvent>& out) {
  if (!running_ || now < next_tick_) return;
  if (now >= deadline_) {
    out.push_back({Reason::tick, state_with(Millis(0))});
    // The 00:00:00 tick still shows the phase that ended, running.
    enter_next_phase();
    out.push_back({Reason::phase, state_with(config_.duration_of(phase_))});
    return;
  }
  // The newest boundary passed: the smallest multiple of the tick at or above what is left.
  const nanoseconds tick = tick_;
  const nanoseconds left = deadline_ - now;
  const auto steps = (left.count() + tick.count() - 1) / tick.count();
  const nanoseconds boundary = tick * steps;
  out.push_back({Reason::tick, state_with(ceil_ms(boundary))});
  schedule_next_tick_after(boundary);
}

TimerRecord Timer::record(MonotonicTime now, std::int64_t wall_now_us) const {
  TimerRecord record;
  record.config = config_;
  record.phase = phase_;
  record.completed_work = completed_work_;
  record.running = running_;
  if (running_) {
    record.deadline_wall_us =
        wall_now_us +
        std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - now).count();
  } else {
    // Rounded up, so the HH:MM:SS shown (rounded up to the second) is the same after a
    // restore.
    record.remaining_us = ceil<std::chrono::microseconds>(paused_remaining_).count();
  }
  return record;
}

Timer Timer::restore(const TimerRecord& record, Millis tick, MonotonicTime now,
                     std::int64_t wall_now_us) {
  Timer timer(record.config, tick);
  timer.phase_ = record.phase;
  timer.completed_work_ = record.completed_work;
  timer.running_ = record.running;
  if (record.running) {
    timer.deadline_ = now + std::chrono::microseconds(record.deadline_wall_us - wall_now_us);
    // Ticks stay on the deadline's grid; a deadline already passed is due now.
    timer.schedule_next_tick_after(timer.deadline_ - now);
  } else {
    timer.paused_remaining_ =
        std::chrono::microseconds(std::max<std::int64_t>(record.remaining_us, 0));
  }
  return timer;
}

std::optional<MonotonicTime> Timer::next_due() const {
  if (!running_) return std::nullopt;
  return next_tick_;
}

TimerState Timer::state(MonotonicTime now) const {
  if (!running_) return state_with(ceil_ms(paused_remaining_));
  return state_with(ceil_ms(deadline_ - now));
}

}  // namespace tickcast
