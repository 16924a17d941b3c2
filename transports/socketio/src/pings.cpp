// Engine.IO pings for every session from one loop-level timer: two FIFO deadline queues
// (ping due, pong due) and one libwebsockets `lws_sul` armed at the earliest of them.
#include <algorithm>

#include "impl.h"

namespace tickcast::socketio {

namespace {

// The sweep's coarseness: at most this late, and never more than a quarter of the ping
// timeout (a client waits pingInterval + pingTimeout for a ping before it gives up).
constexpr std::chrono::milliseconds kSweepGranularity{250};

void on_sweep_timer(lws_sorted_usec_list_t* sul) {
  // SweepTimer is standard-layout with the sul first.
  reinterpret_cast<SocketIoTransport::Impl::SweepTimer*>(sul)->owner->sweep();
}

}  // namespace

void SocketIoTransport::Impl::schedule_ping(Engine& engine, SteadyTime now) {
  engine.ping_due = now + options.ping_interval;
  pings.push(engine.ping_due, engine.serial);
  arm_sweep(engine.ping_due);
}

// One loop-level timer for every session: it fires at most every `granularity`, and
// is re-armed only when the next due moves earlier (never per ping or per connection).
void SocketIoTransport::Impl::arm_sweep(SteadyTime due) {
  if (!context) return;
  const std::chrono::steady_clock::duration granularity =
      std::max(std::chrono::milliseconds(1), std::min(kSweepGranularity, options.ping_timeout / 4));
  const auto since_epoch = due.time_since_epoch();
  const auto rounded = SteadyTime(
      ((since_epoch + granularity - std::chrono::nanoseconds(1)) / granularity) * granularity);
  if (sweep_at && *sweep_at <= rounded) return;
  sweep_at = rounded;
  const auto wait = std::max(std::chrono::steady_clock::duration::zero(),
                             rounded - std::chrono::steady_clock::now());
  lws_sul_schedule(context, 0, &sweep_timer.sul, on_sweep_timer,
                   std::chrono::duration_cast<std::chrono::microseconds>(wait).count());
}

void SocketIoTransport::Impl::sweep() {
  sweep_at.reset();
  const auto now = std::chrono::steady_clock::now();
  pongs.pop_due(now, [&](SteadyTime due, std::uint64_t serial) {
    Engine* engine = find_engine(serial);
    if (engine && engine->awaiting_pong && engine->pong_due == due) {
      close_engine(*engine, 1000, "ping timeout");
    }
  });
  pings.pop_due(now, [&](SteadyTime due, std::uint64_t serial) {
    Engine* engine = find_engine(serial);
    if (!engine || engine->awaiting_pong || engine->ping_due != due) return;
    engine->awaiting_pong = true;
    engine->pong_due = now + options.ping_timeout;
    pongs.push(engine->pong_due, serial);
    queue(*engine, "2");
    flush(*engine);
  });
  settle();
  for (const auto& next : {pings.next(), pongs.next()}) {
    if (next) arm_sweep(*next);
  }
}

}  // namespace tickcast::socketio
