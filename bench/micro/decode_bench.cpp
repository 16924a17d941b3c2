// Decoding and validating a command, as every transport does for each one it receives.
#include <benchmark/benchmark.h>

#include "tickcast/core/protocol.h"

namespace {

void BM_DecodeStart(benchmark::State& state) {
  const std::string json = R"({"type":"start","request_id":"r1"})";
  for (auto _ : state) benchmark::DoNotOptimize(tickcast::decode_command(json));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeStart);

void BM_DecodeConfigure(benchmark::State& state) {
  const std::string json =
      R"({"type":"configure","work_ms":1500000,"short_break_ms":300000,"long_break_ms":900000,"cycles":4,"request_id":"r2"})";
  for (auto _ : state) benchmark::DoNotOptimize(tickcast::decode_command(json));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeConfigure);

void BM_DecodeBadJson(benchmark::State& state) {
  const std::string json = R"({"type":"start",)";
  for (auto _ : state) benchmark::DoNotOptimize(tickcast::decode_command(json));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeBadJson);

}  // namespace
