#pragma once
// A room as the Hub keeps it (private to the core).

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "tickcast/core/hub.h"
#include "tickcast/core/timer.h"
#include "tickcast/transport/history.h"

namespace tickcast {

struct Hub::Room {
  Room(std::string room_name, Timer room_timer, std::size_t history_capacity)
      : name(std::move(room_name)), timer(room_timer), history(history_capacity) {}
  std::string name;
  Timer timer;
  History history;
  std::uint64_t seq = 0;    ///< the seq of the room's newest event (its snapshot's seq)
  std::uint64_t epoch = 0;  ///< the base of the current history: its first event is epoch + 1
  /// durable: the store holds every event of the current history that was published (false
  /// after a failed write, until a write of the room succeeds again).
  bool durable = true;
  bool dirty = false;  ///< the room's record changed since the last commit
  /// seq_ceiling: a history loaded from the store goes on only below the wall time of the
  /// store's last successful commit. A later history the store never heard of (its writes
  /// failed, then the process died) started above that time, so the continued one never
  /// reaches its numbers; at the ceiling the room starts a new history.
  std::uint64_t seq_ceiling = UINT64_MAX;
  // The clients joined now (on_subscribe answered, on_unsubscribe not yet seen). Only
  // compared, never dereferenced.
  std::unordered_set<const Client*> clients;
  MonotonicTime last_active{};               // the last join, leave, command or read
  bool idle_queued = false;                  // an entry for this room is in idle_
  std::optional<MonotonicTime> tick_queued;  // the due of this room's live entry in ticks_
};

}  // namespace tickcast
