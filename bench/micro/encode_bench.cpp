// Encoding one timer event to the contract's JSON: done once per event for every client.
#include <benchmark/benchmark.h>

#include "tickcast/core/protocol.h"

namespace {

void BM_EncodeTick(benchmark::State& state) {
  tickcast::TimerEvent event{tickcast::Reason::tick, {}};
  event.state.running = true;
  event.state.duration = tickcast::Millis(1500000);
  event.state.remaining = tickcast::Millis(1499000);
  std::uint64_t seq = 1;
  for (auto _ : state) {
    std::string json = tickcast::encode_event("focus", seq++, event, 1764000000000000);
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeTick);

}  // namespace
