// What the room store costs per tick: the Hub's strand wake-up (every room ticks once, one
// commit, then publish) with the in-memory store (`--data-dir none`) and with SQLite (WAL,
// synchronous=NORMAL) on a real file, for 1 to 1,000 ticking rooms.
#include <benchmark/benchmark.h>
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): POSIX mkdtemp()

#include <atomic>
#include <filesystem>
#include <string>

#include "tickcast/core/hub.h"
#include "tickcast/sqlite/sqlite_store.h"

namespace {

using namespace std::chrono_literals;
using namespace tickcast;

// A clock the benchmark moves by hand, one tick per iteration.
class ManualClock final : public Clock {
 public:
  MonotonicTime now() const override { return MonotonicTime(std::chrono::nanoseconds(ns_.load())); }
  std::int64_t wall_time_us() const override { return 1'800'000'000'000'000 + ns_.load() / 1000; }
  void advance(std::chrono::nanoseconds by) { ns_ += by.count(); }

 private:
  std::atomic<long long> ns_{1'000'000'000};
};

class NullClient final : public Client {
 public:
  void send(std::vector<Message>) override {}
  std::string_view transport() const override { return "bench"; }
};

// A fresh folder under /tmp, removed at the end.
struct ScratchDir {
  ScratchDir() {
    std::string pattern = "/tmp/tickcast-bench-store-XXXXXX";
    path = ::mkdtemp(pattern.data()) ? pattern : "/tmp/tickcast-bench-store";
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// One iteration: every one of `rooms` running timers ticks once; the wake-up commits the
// ticks in one batch and then publishes them. Items are events.
void run_ticks(benchmark::State& state, RoomStore* store) {
  const auto rooms = static_cast<int>(state.range(0));
  ManualClock clock;
  HubOptions options;
  options.timer.work = std::chrono::hours(24);
  options.tick = 1ms;  // 24 h of work is 86.4 M ticks: the timers never stop
  options.history_capacity = 1024;
  options.max_rooms = 100000;
  Hub hub(options, clock, store);
  auto client = std::make_shared<NullClient>();
  for (int i = 0; i < rooms; ++i)
    hub.on_message("room" + std::to_string(i), R"({"type":"start"})", client);
  hub.pump();
  for (auto _ : state) {
    clock.advance(1ms);
    hub.pump();
  }
  state.SetItemsProcessed(state.iterations() * rooms);
  state.counters["commits"] = static_cast<double>(hub.stats().store_commits);
}

void BM_TickMemoryStore(benchmark::State& state) { run_ticks(state, nullptr); }
BENCHMARK(BM_TickMemoryStore)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_TickSqliteStore(benchmark::State& state) {
  ScratchDir dir;
  auto store = sqlite::SqliteRoomStore::open(dir.path);
  run_ticks(state, store.get());
}
BENCHMARK(BM_TickSqliteStore)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
