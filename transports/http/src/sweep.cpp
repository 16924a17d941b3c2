// The loop's once-a-second sweep: one lws timer for the whole port, whatever the number
// of connections (token expiry is checked here, not with a timer per connection).
#include <algorithm>

#include "tickcast/http/internal/loop.h"

namespace tickcast::http::internal {

namespace {
constexpr lws_usec_t kSweepPeriod = LWS_US_PER_SEC;
}

void Loop::add_sweep(const void* owner, std::function<void(auth::Clock::time_point)> task) {
  const bool first = sweeps_.empty();
  sweeps_.emplace_back(owner, std::move(task));
  if (first && context_) schedule_sweep();
}

void Loop::remove_sweep(const void* owner) {
  std::erase_if(sweeps_, [&](const auto& s) { return s.first == owner; });
}

void Loop::schedule_sweep() { schedule(&sweep_timer_.sul, on_sweep, kSweepPeriod); }

void Loop::on_sweep(lws_sorted_usec_list_t* sul) {
  Loop* loop = reinterpret_cast<SweepTimer*>(sul)->loop;
  if (loop->sweeps_.empty()) return;  // re-armed by the next add_sweep
  const auto now = auth::Clock::now();
  // A task may remove sweeps (a transport stopping): walk a copy.
  auto tasks = loop->sweeps_;
  for (auto& [owner, task] : tasks) task(now);
  loop->schedule_sweep();
}

}  // namespace tickcast::http::internal
