// Engine.IO pings for every session from one loop-level timer: two deadline queues (ping
// due, pong due; the loop's bucketed Deadlines) and one libwebsockets `lws_sul` armed at
// the earliest of them.
#include <algorithm>

#include "impl.h"

namespace tickcast::socketio {

namespace {

void on_sweep_timer(lws_sorted_usec_list_t* sul) {
  // SweepTimer is standard-layout with the sul first.
  reinterpret_cast<SocketIoTransport::Impl::SweepTimer*>(sul)->owner->sweep();
}

}  // namespace

void SocketIoTransport::Impl::schedule_ping(Engine& engine, SteadyTime now) {
  engine.ping_due = now + options.ping_interval;
  pings.add(engine.ping_due, {engine.ping_due, engine.serial});
  arm_sweep(*pings.next());
}

// One loop-level timer for every session, re-armed only when the next due moves earlier
// (never per ping or per connection). `due` is the end of a bucket (ping_granularity).
void SocketIoTransport::Impl::arm_sweep(SteadyTime due) {
  if (!context) return;
  if (sweep_at && *sweep_at <= due) return;
  sweep_at = due;
  const auto wait =
      std::max(std::chrono::steady_clock::duration::zero(), due - std::chrono::steady_clock::now());
  server.loop().schedule(&sweep_timer.sul, on_sweep_timer,
                         std::chrono::duration_cast<std::chrono::microseconds>(wait).count());
}

void SocketIoTransport::Impl::sweep() {
  sweep_at.reset();
  const auto now = std::chrono::steady_clock::now();
  for (const EngineDue& due : pongs.take_due(now)) {
    Engine* engine = find_engine(due.serial);
    if (engine && engine->awaiting_pong && engine->pong_due == due.at) {
      close_engine(*engine, 1000, "ping timeout");
    }
  }
  for (const EngineDue& due : pings.take_due(now)) {
    Engine* engine = find_engine(due.serial);
    if (!engine || engine->awaiting_pong || engine->ping_due != due.at) continue;
    engine->awaiting_pong = true;
    engine->pong_due = now + options.ping_timeout;
    pongs.add(engine->pong_due, {engine->pong_due, due.serial});
    queue(*engine, "2");
  }
  settle();
  for (const auto& next : {pings.next(), pongs.next()}) {
    if (next) arm_sweep(*next);
  }
}

}  // namespace tickcast::socketio
