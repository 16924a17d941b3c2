#include "tickcast/core/hub.h"

#include <algorithm>

#include "hub_room.h"
#include "peer_rate_limiter.h"

namespace tickcast {

namespace {

Message error_message(const Error& error, const std::string& request_id = {}) {
  return Message{0, make_payload(encode_error(error, request_id)), false, MessageKind::error};
}

// A refused join: the transport-level failure, and the contract's error event for it.
JoinReply refusal(const Error& error) {
  return JoinReply::refused(
      Failure{to_failure_code(error.code).value_or(FailureCode::overloaded), error.message},
      make_payload(encode_error(error)));
}

}  // namespace

Hub::Hub(HubOptions options, const Clock& clock, RoomStore* store, WriterLink* writer_link)
    : options_(options),
      clock_(clock),
      own_store_(store ? nullptr : std::make_unique<MemoryRoomStore>()),
      store_(store ? store : own_store_.get()),
      create_limiter_(std::make_unique<detail::PeerRateLimiter>(options_.room_create_per_minute,
                                                                options_.room_create_burst)),
      writer_link_(writer_link),
      replica_(writer_link != nullptr) {
  load_rooms();
}

Hub::~Hub() { stop(); }

void Hub::add_transport(Transport& transport) { transports_.push_back(&transport); }

void Hub::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run_thread(); });
}

void Hub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Hub::post(Task task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void Hub::run_posted() {
  std::vector<Task> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(posted_);
  }
  for (auto& task : batch) task();
}

void Hub::pump() {
  run_posted();
  const auto now = clock_.now();
  advance_timers(now);
  evict_idle(now);
  flush();
}

std::optional<MonotonicTime> Hub::next_due() {
  std::optional<MonotonicTime> earliest;
  if (!ticks_.empty()) earliest = ticks_.top().due;
  if (!idle_.empty() && (!earliest || idle_.top().due < *earliest)) earliest = idle_.top().due;
  return earliest;
}

// The strand: run what was posted, fire what is due, then sleep until the next deadline
// on the monotonic clock or until something is posted.
void Hub::run_thread() {
  for (;;) {
    pump();
    const auto due = next_due();
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (!posted_.empty()) continue;
    if (due) {
      wake_.wait_until(lock, *due, [this] { return stopping_ || !posted_.empty(); });
    } else {
      wake_.wait(lock, [this] { return stopping_ || !posted_.empty(); });
    }
    if (stopping_) return;
  }
}

void Hub::advance_timers(MonotonicTime now) {
  std::vector<TimerEvent> events;
  while (!ticks_.empty() && ticks_.top().due <= now) {
    const DueEntry entry = ticks_.top();
    ticks_.pop();
    const auto it = rooms_.find(entry.room);
    if (it == rooms_.end()) continue;
    Room& room = *it->second;
    if (room.tick_queued != entry.due) continue;  // superseded by a command since
    room.tick_queued.reset();
    events.clear();
    room.timer.advance(now, events);
    for (const auto& event : events) emit(room, event);
    // A phase that ended stopped the timer: the room's idle time starts now.
    if (!events.empty() && !room.timer.next_due()) touch(entry.room, room, now);
    schedule_ticks(entry.room, room);
  }
}

// Queues the room's next deadline unless that very deadline is queued already; an entry
// left behind by a command (stop, start, skip) is recognised as stale when it comes due.
void Hub::schedule_ticks(const std::string& name, Room& room) {
  const auto due = room.timer.next_due();
  if (!due || room.tick_queued == due) return;
  room.tick_queued = due;
  ticks_.push(DueEntry{*due, name});
}

Hub::Room* Hub::find_or_create(const std::string& name, std::string_view peer,
                               std::optional<Error>& error) {
  if (!valid_room_name(name)) {
    error = Error{ErrorCode::bad_room, std::string(kBadRoomMessage)};
    return nullptr;
  }
  if (auto it = rooms_.find(name); it != rooms_.end()) return it->second.get();
  const auto now = clock_.now();
  if (rooms_.size() >= options_.max_rooms) {
    error = Error{ErrorCode::overloaded, "too many rooms; try again later"};
    std::lock_guard lock(mutex_);
    ++stats_.rooms_refused_full;
    return nullptr;
  }
  if (!create_limiter_->take(peer, now)) {
    error = Error{ErrorCode::rate_limited, "too many new rooms from this address; slow down"};
    std::lock_guard lock(mutex_);
    ++stats_.rooms_refused_rate;
    return nullptr;
  }
  auto [it, inserted] =
      rooms_.emplace(name, std::make_unique<Room>(name, Timer(options_.timer, options_.tick),
                                                  options_.history_capacity));
  Room& room = *it->second;
  room.last_active = now;
  // A new room is a new history: its seq starts at a wall-clock base (see Hub), above every
  // seq an evicted room used.
  room.seq = seq_floor_ > 0 ? seq_floor_ - 1 : 0;
  start_new_history(room);
  mark_dirty(room);
  // Transports that keep a room's state (MQTT's retained topic) have it from now on.
  const Message snapshot{room.seq, snapshot_payload(name, room), false, MessageKind::snapshot};
  for (Transport* transport : transports_) transport->room_created(name, snapshot);
  std::lock_guard lock(mutex_);
  stats_.rooms = rooms_.size();
  return &room;
}

// Every use of a room restarts its idle time; a room that may be idle now gets queued.
void Hub::touch(const std::string& name, Room& room, MonotonicTime now) {
  room.last_active = now;
  queue_if_idle(name, room);
}

void Hub::queue_if_idle(const std::string& name, Room& room) {
  if (options_.room_idle <= Millis::zero() || room.idle_queued || !room.clients.empty() ||
      room.timer.next_due()) {
    return;
  }
  room.idle_queued = true;
  idle_.push(DueEntry{room.last_active + options_.room_idle, name});
}

void Hub::evict_idle(MonotonicTime now) {
  while (!idle_.empty() && idle_.top().due <= now) {
    const std::string name = idle_.top().room;
    idle_.pop();
    const auto it = rooms_.find(name);
    if (it == rooms_.end()) continue;
    Room& room = *it->second;
    room.idle_queued = false;
    // Joined or running again: queued anew when the last client leaves or the timer stops.
    if (!room.clients.empty() || room.timer.next_due()) continue;
    if (room.last_active + options_.room_idle > now) {  // used since it was queued
      queue_if_idle(name, room);
      continue;
    }
    seq_floor_ = std::max(seq_floor_, room.seq + 1);
    // Nothing of this wake-up may point at the room once it is gone: its record or events
    // not yet committed are committed first (a failed commit leaves it in dirty_).
    if (room.dirty || std::any_of(pending_.begin(), pending_.end(),
                                  [&](const Pending& p) { return p.room == &room; })) {
      flush();
    }
    std::erase(dirty_, &room);
    // The next commit deletes its record and events, so a restart does not bring it back.
    // A replica only forgets its copy: the writer decides about the room itself.
    if (!replica_) removed_.push_back(name);
    rooms_.erase(it);
    {
      std::lock_guard lock(mutex_);  // counted before anyone outside can see it gone
      stats_.rooms = rooms_.size();
      ++stats_.rooms_evicted;
    }
    for (Transport* transport : transports_) transport->forget_room(name);
  }
}

Message Hub::encode(const Room& room, std::uint64_t seq, const TimerEvent& event,
                    std::int64_t server_time_us) const {
  Message message;
  message.seq = seq;
  message.payload = make_payload(encode_event(room.name, seq, event, server_time_us));
  message.droppable = event.reason == Reason::tick && event.state.remaining.count() > 0;
  return message;
}

// An event gets the room's next seq and joins the ring now; flush() commits it, then
// publishes it.
void Hub::emit(Room& room, const TimerEvent& event) {
  const std::int64_t now_us = clock_.wall_time_us();
  if (room.seq + 1 >= room.seq_ceiling) start_new_history(room);
  Message message = encode(room, ++room.seq, event, now_us);
  room.history.append(message);
  if (event.reason == Reason::phase) mark_dirty(room);  // the timer record changed
  pending_.push_back(Pending{&room, event, now_us, std::move(message), {}});
}

Payload Hub::snapshot_payload(const std::string& name, Room& room) {
  const TimerEvent event{Reason::snapshot, room.timer.state(clock_.now())};
  return make_payload(encode_event(name, room.seq, event, clock_.wall_time_us()));
}

std::optional<Error> Hub::apply(Room& room, const std::string& name, const Command& command) {
  const auto now = clock_.now();
  // Catch up first, so a command never lands before a tick that was already due.
  std::vector<TimerEvent> due;
  room.timer.advance(now, due);
  for (const auto& event : due) emit(room, event);

  std::optional<Error> error;
  Reason reason = Reason::start;
  switch (command.type) {
    case CommandType::start:
      error = room.timer.start(now);
      reason = Reason::start;
      break;
    case CommandType::stop:
      error = room.timer.stop(now);
      reason = Reason::stop;
      break;
    case CommandType::reset:
      room.timer.reset(now);
      reason = Reason::reset;
      break;
    case CommandType::skip:
      room.timer.skip(now);
      reason = Reason::skip;
      break;
    case CommandType::configure:
      error = room.timer.configure(command.configure, now);
      reason = Reason::configure;
      break;
  }
  {
    std::lock_guard lock(mutex_);
    ++(error ? stats_.commands_rejected : stats_.commands_ok);
  }
  if (!error) {
    mark_dirty(room);
    emit(room, TimerEvent{reason, room.timer.state(now)});
  }
  schedule_ticks(name, room);
  touch(name, room, now);
  return error;
}

void Hub::on_subscribe(std::string room, std::optional<std::uint64_t> resume_after,
                       ClientRef client) {
  post([this, name = std::move(room), resume_after, client = std::move(client)] {
    if (replica_ && !rooms_.count(name)) {
      // A room this replica has not seen: the writer creates it (its limits, its seq).
      forward_join(name, std::string(client->peer()),
                   [this, name, resume_after, client](std::optional<Error> error) {
                     if (error) {
                       client->join(refusal(*error));
                     } else {
                       answer_join(name, resume_after, client);
                     }
                   });
      return;
    }
    answer_join(name, resume_after, client);
  });
}

void Hub::answer_join(const std::string& name, std::optional<std::uint64_t> resume_after,
                      const ClientRef& client) {
  flush();  // the answer's seq and the published sequence must agree
  std::optional<Error> error;
  Room* room = find_or_create(name, client->peer(), error);
  if (!room) {
    client->join(refusal(*error));
    return;
  }
  room->clients.insert(client.get());
  touch(name, *room, clock_.now());
  // The resume rule: a position of the room's current history, with every event after it
  // still in the ring, gets exactly those events; anything else (an older history's
  // position, one ahead of the room, one past the ring) gets a snapshot.
  if (resume_after) {
    if (auto missed = room->history.after(*resume_after)) {
      client->join(JoinReply::backlog(std::move(*missed), *resume_after));
      return;
    }
  }
  client->join(JoinReply::snapshot(
      Message{room->seq, snapshot_payload(name, *room), false, MessageKind::snapshot}));
}

void Hub::on_message(std::string room, std::string payload, ClientRef client) {
  std::string peer(client->peer());
  command(
      std::move(room), std::move(payload),
      [client](CommandOutcome outcome) {
        if (outcome.error) client->send({error_message(*outcome.error, outcome.request_id)});
      },
      std::move(peer));
}

void Hub::on_unsubscribe(std::string room, ClientRef client) {
  post([this, name = std::move(room), client = std::move(client)] {
    const auto it = rooms_.find(name);
    if (it == rooms_.end() || it->second->clients.erase(client.get()) == 0) return;
    touch(name, *it->second, clock_.now());
  });
}

void Hub::command(std::string room, std::string payload, std::function<void(CommandOutcome)> done,
                  std::string peer, std::string origin) {
  post([this, name = std::move(room), payload = std::move(payload), done = std::move(done),
        peer = std::move(peer), origin = std::move(origin)]() mutable {
    if (replica_) {  // the writer runs it; its answer goes to this requester only
      forward_command(name, payload, peer, std::move(done));
      return;
    }
    CommandOutcome outcome;
    DecodedCommand decoded = decode_command(payload);
    outcome.request_id = decoded.request_id;
    if (decoded.error) {
      std::lock_guard lock(mutex_);
      ++stats_.commands_rejected;
      outcome.error = std::move(decoded.error);
    } else if (Room* r = find_or_create(name, peer, outcome.error)) {
      const std::size_t first_event = pending_.size();
      outcome.error = apply(*r, name, *decoded.command);
      outcome.state = r->timer.state(clock_.now());
      for (std::size_t i = first_event; i < pending_.size(); ++i) pending_[i].origin = origin;
    }
    // Answered once the command's event is stored (write-ahead).
    after_commit_.emplace_back([done = std::move(done), outcome = std::move(outcome)]() mutable {
      done(std::move(outcome));
    });
  });
}

void Hub::snapshot(std::string room, std::function<void(std::optional<Error>, Payload)> done,
                   std::string peer) {
  post([this, name = std::move(room), done = std::move(done), peer = std::move(peer)]() mutable {
    if (replica_ && !rooms_.count(name)) {
      forward_join(name, peer, [this, name, done, peer](const std::optional<Error>& error) {
        if (error) {
          done(error, nullptr);
        } else {
          snapshot(name, done, peer);  // asked again: the room exists now (or promoted)
        }
      });
      return;
    }
    flush();
    std::optional<Error> error;
    Room* r = find_or_create(name, peer, error);
    if (r) touch(name, *r, clock_.now());
    done(error, r ? snapshot_payload(name, *r) : nullptr);
  });
}

void Hub::rooms(std::function<void(std::vector<RoomSummary>)> done) {
  post([this, done = std::move(done)] {
    flush();
    std::vector<RoomSummary> out;
    out.reserve(rooms_.size());
    const auto now = clock_.now();
    for (auto& [name, room] : rooms_) out.push_back({name, room->seq, room->timer.state(now)});
    done(std::move(out));
  });
}

std::string Hub::encode_failure(const Failure& failure, std::string_view request) const {
  return tickcast::encode_failure(failure, request);
}

HubStats Hub::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tickcast
