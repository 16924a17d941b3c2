#pragma once
// How a Hub that runs no timer of its own (a replica: a cluster's follower node) reaches the
// node that runs them. Commands and room creations are forwarded to it; the rooms' events
// come back, committed, from the store's event stream through Hub::replicate.

#include <functional>
#include <optional>
#include <string>

#include "tickcast/core/error.h"
#include "tickcast/core/room_store.h"
#include "tickcast/core/timer.h"

namespace tickcast {

/// CommandOutcome is the result of a command sent through Hub::command (REST).
struct CommandOutcome {
  std::optional<Error> error;  ///< why the command was refused, if it was
  std::string request_id;
  TimerState state;  ///< the room's state after the command (when no error)
};

/// ReplicatedEvent is one committed event of a room, with the room's record as of its
/// commit (a replica restores the room's timer from it, for snapshots and a takeover).
struct ReplicatedEvent {
  std::string room;
  RoomRecord record;
  StoredEvent event;
};

/// WriterLink forwards what a replica Hub cannot do itself to the node that runs the timers.
/// Threads: called from the Hub's strand; `done` may run on any thread, exactly once.
class WriterLink {
 public:
  using CommandDone = std::function<void(CommandOutcome)>;
  using RoomDone = std::function<void(std::optional<Error>, std::optional<RoomRecord>)>;
  virtual ~WriterLink() = default;
  /// forward_command has the writer run `payload` (a command) on `room` for `peer`; `done`
  /// gets its outcome, or overloaded when no writer answers in time.
  virtual void forward_command(const std::string& room, const std::string& payload,
                               const std::string& peer, CommandDone done) = 0;
  /// forward_join has the writer create `room` if it does not exist (for `peer`: its limits
  /// apply) and answer with its record; or the writer's error (bad_room, overloaded, ...).
  virtual void forward_join(const std::string& room, const std::string& peer, RoomDone done) = 0;
};

}  // namespace tickcast
