#pragma once
// Where rooms outlive the process: the Hub loads them at start and commits what each strand
// wake-up changed before it publishes it (write-ahead). The embedded default is SQLite
// (tickcast::sqlite); MemoryRoomStore keeps nothing (`--data-dir none`). Shaped so a
// replicated log (NATS JetStream) can sit behind it too: a commit is "publish with
// history", load is "history since a position", and a room's position is its seq plus the
// base of its current history (the epoch).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tickcast/core/timer.h"

namespace tickcast {

/// StoredEvent is one event of a room's sequence as a store keeps it.
struct StoredEvent {
  std::uint64_t seq = 0;
  std::string payload;     ///< the encoded event, exactly as clients got it
  bool droppable = false;  ///< Message::droppable
  /// origin is the id a forwarded command carried (Hub::command's `origin`), on the events
  /// it made: a cluster's new writer knows from it which retried commands already ran.
  std::string origin;
};

/// RoomRecord is what a store keeps of a room besides its events.
struct RoomRecord {
  std::string name;
  TimerRecord timer;
  /// seq is the room's seq when the record was written; a room's seq after a load is the
  /// larger of it and its newest stored event.
  std::uint64_t seq = 0;
  /// epoch is the base of the room's current history: its first event is epoch + 1. Events
  /// of the room with seq <= epoch belong to an older history and are dropped.
  std::uint64_t epoch = 0;
};

/// LoadedRoom is a room as loaded at start: its record and its newest events, oldest first,
/// contiguous, all of them after the record's epoch.
struct LoadedRoom {
  RoomRecord record;
  std::vector<StoredEvent> events;
};

/// AppendedEvent is one event of a commit.
struct AppendedEvent {
  std::string room;
  StoredEvent event;
  /// record is the room's record as of this commit: a replicated store sends it along with
  /// the event, so a replica keeps the room's timer without reading the records.
  RoomRecord record;
};

/// StoreContents is everything a store holds, as loaded at start.
struct StoreContents {
  std::vector<LoadedRoom> rooms;
  /// last_commit_wall_us is the wall time (µs) of the last commit that succeeded. A later
  /// history that this store never heard of (its writes failed, then the process died)
  /// numbers its events above it, so a loaded history goes on only below it.
  std::int64_t last_commit_wall_us = 0;
};

/// StoreBatch is what one strand wake-up changed, committed atomically.
struct StoreBatch {
  std::int64_t wall_time_us = 0;      ///< wall time of the commit, kept as last_commit_wall_us
  std::vector<RoomRecord> rooms;      ///< rooms created or changed (upserted)
  std::vector<AppendedEvent> events;  ///< new events, in seq order per room
  std::vector<std::string> removed;   ///< rooms evicted: record and events are deleted
  bool empty() const { return rooms.empty() && events.empty() && removed.empty(); }
};

/// RoomStore persists rooms and their recent events.
/// Threads: called from the Hub's strand only; implementations need no locking of their own.
class RoomStore {
 public:
  virtual ~RoomStore() = default;
  /// load returns every stored room with at most `history` of its newest events.
  virtual StoreContents load(std::size_t history) = 0;
  /// commit stores `batch` all or nothing, keeping at most `history` events per room.
  /// Returns nullopt once the batch is stored (it survives a kill -9 of the process), else
  /// why it is not (nothing of it is stored).
  virtual std::optional<std::string> commit(const StoreBatch& batch, std::size_t history) = 0;
  /// durable tells whether commits outlive the process (false for MemoryRoomStore).
  virtual bool durable() const = 0;
  /// connected tells whether the store's link to its engine is up (a replicated store; an
  /// embedded one is always connected). Threads: any thread.
  virtual bool connected() const { return true; }
};

/// MemoryRoomStore keeps nothing: every commit succeeds and a restart starts empty.
/// Threads: as RoomStore.
class MemoryRoomStore final : public RoomStore {
 public:
  StoreContents load(std::size_t) override { return {}; }
  std::optional<std::string> commit(const StoreBatch&, std::size_t) override {
    return std::nullopt;
  }
  bool durable() const override { return false; }
};

}  // namespace tickcast
