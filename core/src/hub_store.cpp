// The Hub's side of the room store: rooms loaded at start, each wake-up's events committed
// before they are published (write-ahead), and new histories (epochs) when one is lost.
#include <algorithm>
#include <cstdio>

#include "hub_room.h"
#include "tickcast/core/hub.h"

namespace tickcast {

namespace {

// The longest run of contiguous seqs that ends with the newest event: a store keeps one
// history per room, but a partial trim or a hand-edited file must not break the ring.
std::size_t contiguous_tail_start(const std::vector<StoredEvent>& events) {
  std::size_t start = events.size();
  while (start > 0 && (start == events.size() || events[start - 1].seq + 1 == events[start].seq)) {
    --start;
  }
  return start;
}

}  // namespace

void Hub::load_rooms() {
  const auto now = clock_.now();
  const std::int64_t wall_now = clock_.wall_time_us();
  StoreContents contents = store_->load(options_.history_capacity);
  const std::uint64_t ceiling = contents.last_commit_wall_us > 0
                                    ? static_cast<std::uint64_t>(contents.last_commit_wall_us)
                                    : 0;
  for (LoadedRoom& loaded : contents.rooms) adopt(loaded, ceiling, now, wall_now);
  std::lock_guard lock(mutex_);
  stats_.rooms = rooms_.size();
}

// A room as the store holds it: a new room, or (a replica promoted) the store's word on a
// room the replica has, whose clients and ring stay.
void Hub::adopt(LoadedRoom& loaded, std::uint64_t ceiling, MonotonicTime now,
                std::int64_t wall_now) {
  const RoomRecord& record = loaded.record;
  if (!valid_room_name(record.name)) return;
  auto& events = loaded.events;
  events.erase(events.begin(),
               std::find_if(events.begin(), events.end(),
                            [&](const StoredEvent& e) { return e.seq > record.epoch; }));
  events.erase(events.begin(),
               events.begin() + static_cast<std::ptrdiff_t>(contiguous_tail_start(events)));
  const std::uint64_t last_event = events.empty() ? 0 : events.back().seq;
  Timer timer = Timer::restore(record.timer, options_.tick, now, wall_now);
  if (auto it = rooms_.find(record.name); it != rooms_.end()) {
    Room& room = *it->second;
    if (room.epoch == record.epoch) {
      room.timer = timer;
      room.seq_ceiling = ceiling;
      // Events the replica had not received yet (none once it caught up): appended.
      for (StoredEvent& e : events) {
        if (e.seq <= room.seq) continue;
        if (e.seq != room.seq + 1) room.history.reset(e.seq - 1);
        room.seq = e.seq;
        const Message message{e.seq, make_payload(std::move(e.payload)), e.droppable,
                              MessageKind::event};
        room.history.append(message);
        // The replica's clients get them too: no gap across the takeover.
        for (Transport* transport : transports_) transport->publish(record.name, message);
      }
      room.seq = std::max({room.seq, record.seq, record.epoch});
      schedule_ticks(record.name, room);
      queue_if_idle(record.name, room);
      return;
    }
    // Another history than the replica's: the store's is the room's; the clients stay.
    auto fresh = std::make_unique<Room>(record.name, Timer(options_.timer, options_.tick),
                                        options_.history_capacity);
    fresh->clients = std::move(room.clients);
    fresh->idle_queued = room.idle_queued;
    fresh->tick_queued = room.tick_queued;
    it->second = std::move(fresh);
  }
  auto [it, inserted] = rooms_.try_emplace(record.name);
  if (!it->second) {
    it->second = std::make_unique<Room>(record.name, Timer(options_.timer, options_.tick),
                                        options_.history_capacity);
  }
  Room& room = *it->second;
  room.timer = timer;
  room.epoch = record.epoch;
  room.seq_ceiling = ceiling;
  room.seq = std::max({record.seq, record.epoch, last_event});
  // The same history goes on: seq continues at the last stored one + 1, and a client
  // resumes from any position the loaded ring covers.
  room.history.reset(events.empty() || last_event < room.seq ? room.seq : events.front().seq - 1);
  if (!events.empty() && last_event == room.seq) {
    for (StoredEvent& e : events) {
      room.history.append(
          Message{e.seq, make_payload(std::move(e.payload)), e.droppable, MessageKind::event});
    }
  }
  room.last_active = now;
  // The same bookkeeping as a room created now: a running timer's next tick (not on a
  // replica: the writer runs it), or the idle time of a room nobody has joined yet.
  if (!replica_) schedule_ticks(record.name, room);
  queue_if_idle(record.name, room);
}

std::uint64_t Hub::new_base(std::uint64_t previous) {
  const std::int64_t wall = clock_.wall_time_us();
  const std::uint64_t base = wall > 0 ? static_cast<std::uint64_t>(wall) : 0;
  if (base > previous) return base;
  // Only when the wall clock stepped back past a room's seq, or a room made more events
  // than microseconds went by: the sequence still never repeats, but a later restart's
  // base might not clear it. Say so once.
  if (!clamp_logged_) {
    clamp_logged_ = true;
    std::fprintf(stderr,
                 "tickcast: wall clock (%lld us) is not ahead of a room's seq (%llu); new "
                 "histories start after the seq instead\n",
                 static_cast<long long>(wall), static_cast<unsigned long long>(previous));
  }
  return previous + 1;
}

void Hub::start_new_history(Room& room) {
  room.seq_ceiling = UINT64_MAX;
  room.epoch = new_base(room.seq);
  room.seq = room.epoch;
  room.history.reset(room.epoch);
}

void Hub::mark_dirty(Room& room) {
  if (room.dirty) return;
  room.dirty = true;
  dirty_.push_back(&room);
}

// Commit, then publish. A failed commit leaves the rooms ticking in memory: a room whose
// stored history was complete starts a new one (its events of this batch renumbered from a
// new base, its ring cleared), so that a restart, which continues after the last stored
// seq, can never reuse a number that was published but not stored.
void Hub::flush() {
  if (!pending_.empty()) {
    for (const Pending& p : pending_) {
      if (!p.room->durable) mark_dirty(*p.room);  // its record carries the new epoch
    }
  }
  if (!dirty_.empty() || !pending_.empty() || !removed_.empty()) {
    StoreBatch batch;
    batch.removed = removed_;
    const auto now = clock_.now();
    const std::int64_t wall_now = clock_.wall_time_us();
    batch.wall_time_us = wall_now;
    batch.rooms.reserve(dirty_.size());
    for (Room* room : dirty_) {
      batch.rooms.push_back(
          RoomRecord{room->name, room->timer.record(now, wall_now), room->seq, room->epoch});
    }
    batch.events.reserve(pending_.size());
    for (const Pending& p : pending_) {
      const Room& room = *p.room;
      batch.events.push_back(AppendedEvent{
          room.name, StoredEvent{p.message.seq, *p.message.payload, p.message.droppable, p.origin},
          RoomRecord{room.name, room.timer.record(now, wall_now), room.seq, room.epoch}});
    }
    const std::optional<std::string> failure = store_->commit(batch, options_.history_capacity);
    if (failure) {
      if (!store_failing_) {
        std::fprintf(stderr,
                     "tickcast: room store write failed: %s; rooms keep ticking in memory, "
                     "their positions start new histories\n",
                     failure->c_str());
      }
      store_failing_ = true;
      std::vector<Room*> renumbered;
      for (Pending& p : pending_) {
        Room& room = *p.room;
        if (room.durable) {
          start_new_history(room);
          room.durable = false;
          renumbered.push_back(&room);
        }
        if (std::find(renumbered.begin(), renumbered.end(), &room) != renumbered.end()) {
          p.message = encode(room, ++room.seq, p.event, p.server_time_us);
          room.history.append(p.message);
        }
      }
      // Rooms only dirty (a record, no event) keep their history: every seq they published
      // is stored. They stay dirty, so the next commit tries their record again.
      std::lock_guard lock(mutex_);
      ++stats_.store_write_errors;
    } else {
      if (store_failing_) std::fprintf(stderr, "tickcast: room store writes work again\n");
      store_failing_ = false;
      for (Room* room : dirty_) {
        room->dirty = false;
        room->durable = true;
      }
      dirty_.clear();
      removed_.clear();
      std::lock_guard lock(mutex_);
      ++stats_.store_commits;
    }
    for (const Pending& p : pending_) {
      for (Transport* transport : transports_) transport->publish(p.room->name, p.message);
    }
    {
      std::lock_guard lock(mutex_);
      stats_.events_broadcast += pending_.size();
    }
    pending_.clear();
  }
  std::vector<Task> callbacks;
  callbacks.swap(after_commit_);
  for (auto& callback : callbacks) callback();
}

}  // namespace tickcast
