// History lookups for resuming SSE and long-poll clients: every long-poll request asks
// History::after for the events after its `since`.
#include <benchmark/benchmark.h>

#include "tickcast/transport/history.h"

namespace {

tickcast::History filled(std::size_t capacity) {
  tickcast::History history(capacity);
  auto payload = tickcast::make_payload(std::string(280, 'x'));
  for (std::uint64_t seq = 1; seq <= capacity * 2; ++seq) {
    history.append(tickcast::Message{seq, payload, true, tickcast::MessageKind::event});
  }
  return history;
}

// A client one event behind (the long-poll steady state): the common case.
void BM_HistoryAfterLatest(benchmark::State& state) {
  const auto history = filled(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t since = history.last_seq() - 1;
  for (auto _ : state) benchmark::DoNotOptimize(history.after(since));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistoryAfterLatest)->Arg(1024);

// A client back from a long gap: half the ring to copy.
void BM_HistoryAfterHalf(benchmark::State& state) {
  const auto history = filled(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t since = history.last_seq() - history.size() / 2;
  for (auto _ : state) benchmark::DoNotOptimize(history.after(since));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistoryAfterHalf)->Arg(1024);

// A client too far behind: nullopt, it gets a snapshot.
void BM_HistoryAfterTooOld(benchmark::State& state) {
  const auto history = filled(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(history.after(1));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistoryAfterTooOld)->Arg(1024);

}  // namespace
