// Fan-out of one event to 10,000 in-memory subscribers, the loop transports' pattern:
// the payload is encoded once and shared; each subscriber's Outbox gets a Message (a
// shared_ptr copy) and later pops it when its socket is writable. No sockets here: this
// is the server's own cost per event per client, without the kernel's write.
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "tickcast/core/protocol.h"
#include "tickcast/transport/message.h"
#if __has_include("tickcast/http/internal/outbox.h")
#include "tickcast/http/internal/outbox.h"
#define TICKCAST_BENCH_HAS_OUTBOX 1
#endif

namespace {

tickcast::Message tick_message(std::uint64_t seq) {
  tickcast::TimerEvent event{tickcast::Reason::tick, {}};
  event.state.running = true;
  return tickcast::Message{
      seq, tickcast::make_payload(tickcast::encode_event("focus", seq, event, 1764000000000000)),
      true, tickcast::MessageKind::event};
}

#ifdef TICKCAST_BENCH_HAS_OUTBOX
// Encode once, push into every subscriber's Outbox, then drain each (what the writable
// callbacks do before lws_write).
void BM_FanoutOutbox(benchmark::State& state) {
  const auto subscribers = static_cast<std::size_t>(state.range(0));
  using tickcast::http::internal::Outbox;
  std::vector<Outbox> outboxes(subscribers, Outbox(64, std::chrono::seconds(30)));
  std::uint64_t seq = 1;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto message = tick_message(seq++);
    const auto now = std::chrono::steady_clock::now();
    for (auto& outbox : outboxes) outbox.push(message, now);
    for (auto& outbox : outboxes) {
      bytes += outbox.front().payload->size();
      outbox.pop(now);
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(subscribers));
  state.counters["per_subscriber"] =
      benchmark::Counter(static_cast<double>(state.iterations() * subscribers),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanoutOutbox)->Arg(10000)->Unit(benchmark::kMicrosecond);
#endif

// The same fan-out into plain vectors, for scale: the cost of sharing the payload alone.
void BM_FanoutSharedPayload(benchmark::State& state) {
  const auto subscribers = static_cast<std::size_t>(state.range(0));
  std::vector<std::vector<tickcast::Message>> queues(subscribers);
  for (auto& q : queues) q.reserve(4);
  std::uint64_t seq = 1;
  for (auto _ : state) {
    const auto message = tick_message(seq++);
    for (auto& q : queues) q.push_back(message);
    for (auto& q : queues) q.clear();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(subscribers));
}
BENCHMARK(BM_FanoutSharedPayload)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
