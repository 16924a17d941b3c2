// The Hub wakes for what is due: one wake-up (Hub::pump) with one running room and N idle
// rooms (stopped timers, no clients) must cost the same whatever N is. The tick and idle
// deadlines are heaps, so a wake-up touches the entries due, never every room.
//   tickcast_micro_bench --benchmark_filter=HubWake
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

#include "tickcast/core/hub.h"

namespace {

// Time moves only when the benchmark moves it.
class ManualClock final : public tickcast::Clock {
 public:
  tickcast::MonotonicTime now() const override {
    return tickcast::MonotonicTime(std::chrono::nanoseconds(now_ns_.load()));
  }
  std::int64_t wall_time_us() const override { return 1'764'000'000'000'000 + now_ns_ / 1000; }
  void advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }

 private:
  std::atomic<long long> now_ns_{1'000'000'000};
};

// One wake-up per iteration, each with one tick due (of the one running room).
void BM_HubWakeWithIdleRooms(benchmark::State& state) {
  const auto idle_rooms = static_cast<std::size_t>(state.range(0));
  ManualClock clock;
  tickcast::HubOptions options;
  options.max_rooms = idle_rooms + 1;
  options.room_create_per_minute = 0;  // unlimited: the rooms are made here at once
  options.tick = tickcast::Millis(1);
  options.timer.work = std::chrono::hours(24);  // the running room does not end its phase
  options.room_idle = std::chrono::hours(24);   // idle rooms stay queued for eviction, not due
  tickcast::Hub hub(options, clock);
  for (std::size_t i = 0; i < idle_rooms; ++i) {
    hub.snapshot("idle-" + std::to_string(i), [](auto, auto) {});
  }
  hub.command("busy", R"({"type":"start"})", [](const tickcast::CommandOutcome&) {});
  hub.pump();
  for (auto _ : state) {
    clock.advance(options.tick);
    hub.pump();
  }
  state.counters["rooms"] = static_cast<double>(hub.stats().rooms);
  state.counters["events"] = static_cast<double>(hub.stats().events_broadcast);
}
BENCHMARK(BM_HubWakeWithIdleRooms)->Arg(0)->Arg(100)->Arg(10000);

}  // namespace
