#include "tickcast/core/timer.h"

#include <gtest/gtest.h>

#include <random>

#include "fake_clock.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

// Advances the clock one tick at a time, collecting events, until the timer stops.
std::vector<TimerEvent> run_phase(Timer& timer, FakeClock& clock, Millis tick) {
  std::vector<TimerEvent> events;
  while (timer.next_due()) {
    clock.advance(tick);
    timer.advance(clock.now(), events);
  }
  return events;
}

TEST(Timer, TwentyFiveMinutePhaseIsExactly1500TicksEndingAtZero) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  const auto events = run_phase(timer, clock, 1000ms);
  ASSERT_EQ(events.size(), 1501u);
  for (std::size_t i = 0; i < 1500; ++i) {
    ASSERT_EQ(events[i].reason, Reason::tick) << i;
    ASSERT_EQ(events[i].state.remaining, Millis(1'500'000 - 1000 * static_cast<long>(i + 1)));
    ASSERT_EQ(events[i].state.phase, Phase::work);
  }
  EXPECT_EQ(format_hms(events[0].state.remaining), "00:24:59");
  EXPECT_EQ(format_hms(events[1499].state.remaining), "00:00:00");
  EXPECT_EQ(events[1500].reason, Reason::phase);
  EXPECT_EQ(events[1500].state.phase, Phase::short_break);
  EXPECT_FALSE(events[1500].state.running);
  EXPECT_EQ(events[1500].state.remaining, 5min);
  EXPECT_EQ(events[1500].state.completed_work, 1);
}

TEST(Timer, FourCyclesEndInALongBreakThenWorkAgain) {
  FakeClock clock;
  TimerConfig config;
  config.cycles = 4;
  Timer timer(config, 1000ms);
  std::vector<Phase> phases;
  for (int i = 0; i < 9; ++i) {
    ASSERT_FALSE(timer.start(clock.now()));
    auto events = run_phase(timer, clock, 1000ms);
    ASSERT_EQ(events.back().reason, Reason::phase);
    phases.push_back(events.back().state.phase);
  }
  const std::vector<Phase> expected{Phase::short_break, Phase::work,        Phase::short_break,
                                    Phase::work,        Phase::short_break, Phase::work,
                                    Phase::long_break,  Phase::work,        Phase::short_break};
  EXPECT_EQ(phases, expected);
}

TEST(Timer, StartTwiceIsAlreadyRunningStopTwiceIsAlreadyStopped) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  EXPECT_EQ(timer.stop(clock.now())->code, ErrorCode::already_stopped);
  EXPECT_FALSE(timer.start(clock.now()));
  auto again = timer.start(clock.now());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->code, ErrorCode::already_running);
  EXPECT_EQ(again->message, "Timer already started");
  EXPECT_FALSE(timer.stop(clock.now()));
  EXPECT_EQ(timer.stop(clock.now())->code, ErrorCode::already_stopped);
}

TEST(Timer, StopAndStartKeepTheRemainingTimeExactly) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(123'456'789ns);
  std::vector<TimerEvent> events;
  timer.advance(clock.now(), events);
  ASSERT_FALSE(timer.stop(clock.now()));
  const auto paused = timer.state(clock.now());
  EXPECT_FALSE(paused.running);
  clock.advance(1h);  // time passing while stopped changes nothing
  EXPECT_EQ(timer.state(clock.now()).remaining, paused.remaining);
  ASSERT_FALSE(timer.start(clock.now()));
  // The rest of the phase takes exactly what was left, to the nanosecond.
  clock.advance(1500s - 123'456'789ns - 1ns);
  events.clear();
  timer.advance(clock.now(), events);
  for (const auto& e : events) EXPECT_NE(e.reason, Reason::phase);
  clock.advance(1ns);
  events.clear();
  timer.advance(clock.now(), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].state.remaining, 0ms);
  EXPECT_EQ(events[1].reason, Reason::phase);
}

TEST(Timer, TicksStayOnTheirBoundariesAfterAMidTickPause) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(1500ms);
  std::vector<TimerEvent> events;
  timer.advance(clock.now(), events);
  ASSERT_FALSE(timer.stop(clock.now()));
  ASSERT_FALSE(timer.start(clock.now()));
  events.clear();
  clock.advance(499ms);
  timer.advance(clock.now(), events);
  EXPECT_TRUE(events.empty());
  clock.advance(1ms);
  timer.advance(clock.now(), events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state.remaining, 1'498'000ms);
}

TEST(Timer, AMillionJitteredTicksShowNoDrift) {
  // Every wake-up is late by a random amount; the phase still ends exactly on its deadline
  // and every tick shows an exact boundary.
  FakeClock clock;
  TimerConfig config;
  config.work = 24h;
  config.short_break = 24h;
  config.long_break = 24h;
  Timer timer(config, 50ms);
  std::mt19937 rng(42);
  std::uniform_int_distribution<long> late_us(0, 45'000);
  const auto started = clock.now();
  ASSERT_FALSE(timer.start(started));
  std::size_t ticks = 0;
  std::vector<TimerEvent> events;
  while (ticks < 1'000'000) {
    const auto due = timer.next_due();
    ASSERT_TRUE(due);
    clock.set(*due + std::chrono::microseconds(late_us(rng)));
    events.clear();
    timer.advance(clock.now(), events);
    ASSERT_EQ(events.size(), 1u);
    ++ticks;
    ASSERT_EQ(events[0].state.remaining, 24h - 50ms * static_cast<long>(ticks));
  }
  // 1,000,000 ticks of 50 ms: the next one is due exactly 50,000.05 s after the start,
  // however late every wake-up was.
  EXPECT_EQ(*timer.next_due() - started, 50'000s + 50ms);
}

TEST(Timer, ALateWakeUpMergesMissedTicksIntoTheNewestOne) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(3500ms);
  std::vector<TimerEvent> events;
  timer.advance(clock.now(), events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state.remaining, 1'497'000ms);
  clock.advance(500ms);
  timer.advance(clock.now(), events);
  EXPECT_EQ(events.back().state.remaining, 1'496'000ms);
}

TEST(Timer, ResetSkipAndConfigure) {
  FakeClock clock;
  Timer timer(TimerConfig{}, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(10s);
  timer.reset(clock.now());
  EXPECT_FALSE(timer.state(clock.now()).running);
  EXPECT_EQ(timer.state(clock.now()).remaining, 25min);
  timer.skip(clock.now());
  EXPECT_EQ(timer.state(clock.now()).phase, Phase::short_break);
  EXPECT_EQ(timer.state(clock.now()).completed_work, 1);
  ConfigureRequest request;
  request.short_break = 90s;
  ASSERT_FALSE(timer.configure(request, clock.now()));
  EXPECT_EQ(timer.state(clock.now()).remaining, 90s) << "an unstarted phase takes its new length";
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(30s);
  request.short_break = 10s;
  ASSERT_FALSE(timer.configure(request, clock.now()));
  EXPECT_EQ(timer.state(clock.now()).remaining, 60s) << "a running phase keeps its length";
  request.short_break = 50ms;
  EXPECT_EQ(timer.configure(request, clock.now())->code, ErrorCode::bad_request);
  ConfigureRequest cycles;
  cycles.cycles = 0;
  EXPECT_EQ(timer.configure(cycles, clock.now())->code, ErrorCode::bad_request);
}

TEST(Timer, FormatsHoursMinutesSecondsRoundingUp) {
  EXPECT_EQ(format_hms(0ms), "00:00:00");
  EXPECT_EQ(format_hms(1ms), "00:00:01");
  EXPECT_EQ(format_hms(1'499'000ms), "00:24:59");
  EXPECT_EQ(format_hms(24h), "24:00:00");
}

}  // namespace
}  // namespace tickcast

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

// A restart: `after` is the new process's clock, whose monotonic time starts anew while
// wall time went on by `down` since `before`.
void restart_after(const FakeClock& before, FakeClock& after, std::chrono::microseconds down) {
  after.shift_wall(std::chrono::microseconds(before.wall_time_us() - after.wall_time_us()) + down);
}

TEST(TimerRecord, ARunningTimerKeepsItsWallDeadlineAcrossARestart) {
  FakeClock clock;
  TimerConfig config;
  config.work = 60s;
  Timer timer(config, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(10'250ms);
  std::vector<TimerEvent> events;
  timer.advance(clock.now(), events);
  const TimerRecord record = timer.record(clock.now(), clock.wall_time_us());
  EXPECT_TRUE(record.running);
  EXPECT_EQ(record.deadline_wall_us, clock.wall_time_us() + 49'750'000);

  // Down for 7 s: the countdown went on by exactly that.
  FakeClock later;
  restart_after(clock, later, 7s);
  Timer restored = Timer::restore(record, 1000ms, later.now(), later.wall_time_us());
  EXPECT_EQ(restored.state(later.now()).remaining, 42'750ms);
  EXPECT_TRUE(restored.state(later.now()).running);
  // Ticks stay on the grid of the deadline: the next one shows 42 s, 750 ms from now.
  ASSERT_TRUE(restored.next_due());
  EXPECT_EQ(*restored.next_due() - later.now(), 750ms);
  later.advance(750ms);
  events.clear();
  restored.advance(later.now(), events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state.remaining, 42s);
}

TEST(TimerRecord, ADeadlinePassedWhileDownEndsThePhaseAtTheFirstAdvance) {
  FakeClock clock;
  TimerConfig config;
  config.work = 60s;
  config.cycles = 2;
  Timer timer(config, 1000ms);
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(30s);
  const TimerRecord record = timer.record(clock.now(), clock.wall_time_us());

  FakeClock later;
  restart_after(clock, later, 5min);
  Timer restored = Timer::restore(record, 1000ms, later.now(), later.wall_time_us());
  ASSERT_TRUE(restored.next_due());
  EXPECT_LE(*restored.next_due(), later.now()) << "due at once";
  std::vector<TimerEvent> events;
  restored.advance(later.now(), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].reason, Reason::tick);
  EXPECT_EQ(format_hms(events[0].state.remaining), "00:00:00");
  EXPECT_EQ(events[1].reason, Reason::phase);
  EXPECT_EQ(events[1].state.phase, Phase::short_break);
  EXPECT_FALSE(events[1].state.running) << "the next phase waits for start";
  EXPECT_EQ(events[1].state.completed_work, 1);
  EXPECT_FALSE(restored.next_due());
}

TEST(TimerRecord, APausedTimerKeepsItsRemainingTimePhaseAndConfig) {
  FakeClock clock;
  TimerConfig config;
  config.work = 60s;
  config.short_break = 20s;
  config.long_break = 40s;
  config.cycles = 3;
  Timer timer(config, 1000ms);
  timer.skip(clock.now());  // short break, one work phase done
  ASSERT_FALSE(timer.start(clock.now()));
  clock.advance(4'321ms);
  ASSERT_FALSE(timer.stop(clock.now()));
  const TimerRecord record = timer.record(clock.now(), clock.wall_time_us());
  EXPECT_FALSE(record.running);
  EXPECT_EQ(record.remaining_us, 15'679'000);

  FakeClock later;
  restart_after(clock, later, 1h);
  Timer restored = Timer::restore(record, 1000ms, later.now(), later.wall_time_us());
  EXPECT_EQ(restored.config(), config);
  const TimerState state = restored.state(later.now());
  EXPECT_FALSE(state.running);
  EXPECT_EQ(state.phase, Phase::short_break);
  EXPECT_EQ(state.completed_work, 1);
  EXPECT_EQ(state.remaining, 15'679ms);
  EXPECT_EQ(restored.record(later.now(), later.wall_time_us()), record);
}

}  // namespace
}  // namespace tickcast
