// The Hub in a cluster: a replica (follower) publishes the writer's committed events to its
// clients and forwards commands and new rooms to the writer; promoted, it runs the timers.
#include <algorithm>

#include "hub_room.h"
#include "tickcast/core/hub.h"

namespace tickcast {

bool Hub::replica() const { return replica_.load(); }

void Hub::ensure(std::string room, std::string peer, WriterLink::RoomDone done) {
  post([this, name = std::move(room), peer = std::move(peer), done = std::move(done)]() mutable {
    std::optional<Error> error;
    if (replica_) {
      // Not the writer (any more): the caller asks again elsewhere.
      done(Error{ErrorCode::overloaded, "this node does not run the cluster's timers"},
           std::nullopt);
      return;
    }
    if (Room* r = find_or_create(name, peer, error)) touch(name, *r, clock_.now());
    // Answered once the room's record is stored, with the room as it is then.
    after_commit_.emplace_back([this, name, error, done = std::move(done)] {
      if (error) {
        done(error, std::nullopt);
        return;
      }
      const auto it = rooms_.find(name);
      if (it == rooms_.end()) {
        done(Error{ErrorCode::overloaded, "the room was evicted; try again"}, std::nullopt);
        return;
      }
      const Room& r = *it->second;
      done(std::nullopt,
           RoomRecord{name, r.timer.record(clock_.now(), clock_.wall_time_us()), r.seq, r.epoch});
    });
  });
}

Hub::Room& Hub::add_replica_room(const std::string& name, const RoomRecord& record) {
  const auto now = clock_.now();
  auto room = std::make_unique<Room>(
      name, Timer::restore(record.timer, options_.tick, now, clock_.wall_time_us()),
      options_.history_capacity);
  room->epoch = record.epoch;
  room->seq = std::max(record.seq, record.epoch);
  room->history.reset(room->seq);
  room->last_active = now;
  Room& added = *room;
  rooms_.emplace(name, std::move(room));
  const Message snapshot{added.seq, snapshot_payload(name, added), false, MessageKind::snapshot};
  for (Transport* transport : transports_) transport->room_created(name, snapshot);
  queue_if_idle(name, added);
  std::lock_guard lock(mutex_);
  stats_.rooms = rooms_.size();
  return added;
}

void Hub::replicate(ReplicatedEvent replicated) {
  post([this, r = std::move(replicated)]() mutable {
    if (!replica_ || !valid_room_name(r.room)) return;  // promoted: the timers run here now
    const auto now = clock_.now();
    auto it = rooms_.find(r.room);
    if (it == rooms_.end()) {
      // First heard of through its events: its ring starts with this one.
      Room& added = add_replica_room(r.room, r.record);
      added.seq = r.event.seq - 1;
      added.history.reset(added.seq);
      it = rooms_.find(r.room);
    }
    Room& room = *it->second;
    if (r.record.epoch > room.epoch) {
      // A new history of the room (the writer lost a write, or the room was evicted and
      // made again): positions of the old one get snapshots.
      room.epoch = r.record.epoch;
      room.history.reset(r.event.seq - 1);
      room.seq = r.event.seq - 1;
    }
    if (r.event.seq <= room.seq || r.record.epoch < room.epoch) return;    // seen, or stale
    if (r.event.seq != room.seq + 1) room.history.reset(r.event.seq - 1);  // a gap
    room.timer = Timer::restore(r.record.timer, options_.tick, now, clock_.wall_time_us());
    room.seq = r.event.seq;
    Message message{r.event.seq, make_payload(std::move(r.event.payload)), r.event.droppable,
                    MessageKind::event};
    room.history.append(message);
    for (Transport* transport : transports_) transport->publish(r.room, message);
    touch(r.room, room, now);
    std::lock_guard lock(mutex_);
    ++stats_.events_broadcast;
  });
}

void Hub::promote(StoreContents contents) {
  post([this, contents = std::move(contents)]() mutable {
    if (!replica_) return;
    replica_ = false;
    const auto now = clock_.now();
    const std::int64_t wall_now = clock_.wall_time_us();
    const std::uint64_t ceiling = contents.last_commit_wall_us > 0
                                      ? static_cast<std::uint64_t>(contents.last_commit_wall_us)
                                      : 0;
    for (LoadedRoom& loaded : contents.rooms) adopt(loaded, ceiling, now, wall_now);
    // Rooms only this replica knew (the writer evicted them): they run as they stand.
    for (auto& [name, room] : rooms_) schedule_ticks(name, *room);
    std::lock_guard lock(mutex_);
    stats_.rooms = rooms_.size();
  });
}

void Hub::forward_join(const std::string& name, const std::string& peer,
                       std::function<void(std::optional<Error>)> then) {
  writer_link_->forward_join(
      name, peer,
      [this, name, then = std::move(then)](std::optional<Error> error,
                                           std::optional<RoomRecord> record) mutable {
        post([this, name, error = std::move(error), record = std::move(record),
              then = std::move(then)] {
          if (!error && record && replica_ && !rooms_.count(name)) add_replica_room(name, *record);
          then(error);
        });
      });
}

void Hub::forward_command(const std::string& name, const std::string& payload,
                          const std::string& peer, std::function<void(CommandOutcome)> done) {
  writer_link_->forward_command(
      name, payload, peer, [this, done = std::move(done)](CommandOutcome outcome) mutable {
        post([this, done = std::move(done), outcome = std::move(outcome)]() mutable {
          {
            std::lock_guard lock(mutex_);
            ++(outcome.error ? stats_.commands_rejected : stats_.commands_ok);
          }
          done(std::move(outcome));
        });
      });
}

}  // namespace tickcast
