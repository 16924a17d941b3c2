#pragma once
// The Hub owns every room's timer on one thread (a strand). Transports post joins and
// commands to it; it ticks by absolute deadline and broadcasts each event, encoded once,
// to every transport.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tickcast/core/clock.h"
#include "tickcast/core/protocol.h"
#include "tickcast/core/room_store.h"
#include "tickcast/core/timer.h"
#include "tickcast/core/writer_link.h"
#include "tickcast/transport/history.h"
#include "tickcast/transport/transport.h"

namespace tickcast {

namespace detail {
class PeerRateLimiter;
}

/// HubOptions configures every room's timer and the Hub's bounds.
struct HubOptions {
  TimerConfig timer;                    ///< default lengths of a new room
  Millis tick{1000};                    ///< tick period
  std::size_t history_capacity = 1024;  ///< events kept per room for resume
  std::size_t max_rooms = 10000;        ///< beyond it new rooms are refused (overloaded)
  /// room_idle: a room with no clients and a stopped timer is evicted once this long has
  /// passed since its last join, leave, command or read; zero keeps every room forever.
  Millis room_idle{std::chrono::minutes(10)};
  /// room_create_per_minute: new rooms one peer (Client::peer) may create per minute,
  /// after a burst of room_create_burst; beyond it rate_limited. Zero: unlimited.
  double room_create_per_minute = 30;
  double room_create_burst = 60;  ///< rooms one peer may create at once
};

/// RoomSummary describes a room for GET /api/rooms.
struct RoomSummary {
  std::string name;
  std::uint64_t seq = 0;
  TimerState state;
};

/// HubStats is what /metrics shows of the Hub.
struct HubStats {
  std::uint64_t rooms = 0;               ///< rooms that exist
  std::uint64_t events_broadcast = 0;    ///< events given to the transports
  std::uint64_t commands_ok = 0;         ///< commands that changed a room
  std::uint64_t commands_rejected = 0;   ///< commands answered with an error
  std::uint64_t store_commits = 0;       ///< batches the room store committed
  std::uint64_t store_write_errors = 0;  ///< batches the room store failed to commit
  std::uint64_t rooms_evicted = 0;       ///< idle rooms dropped (room_idle)
  std::uint64_t rooms_refused_rate = 0;  ///< room creations refused: the peer's rate
  std::uint64_t rooms_refused_full = 0;  ///< room creations refused: max_rooms reached
};

/// Hub is the timer core: rooms, their timers and histories, and the broadcast fan-out.
///
/// Sequence numbers: every history of a room (a new room, a restart without its events, a
/// history lost to a failed write) starts at a base of max(wall time in µs, the room's last
/// known seq + 1, above any seq an evicted room used), and its events are base + 1, base + 2, ... A
/// room makes far fewer than 10^6 events a second, so a later base is above every seq an earlier
/// history produced: no lifetime repeats a seq, and a position tells its history by its range.
///
/// Write-ahead: the events and room changes of one strand wake-up are committed to the
/// RoomStore in one batch, and only then published to the transports.
///
/// Threads: every public method is safe from any thread and only posts work to the strand,
/// except pump() (tests drive the strand by hand with it instead of start()).
class Hub final : public Sink {
 public:
  /// Hub reads time from `clock`, which must outlive it, and loads the rooms of `store`
  /// (nullptr: a MemoryRoomStore of its own), which must outlive it too. Throws what the
  /// store's load throws. Nothing runs until start() or pump().
  /// With a `writer_link` (which must outlive it) the Hub is a replica (a cluster follower):
  /// it runs no timer and commits nothing; its rooms' events come from replicate(), and
  /// commands and new rooms go to the writer_link, until promote().
  Hub(HubOptions options, const Clock& clock, RoomStore* store = nullptr,
      WriterLink* writer_link = nullptr);
  /// ~Hub stops the strand thread.
  ~Hub() override;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// add_transport registers a transport that receives every broadcast. Before start().
  void add_transport(Transport& transport);

  /// start runs the strand on its own thread, sleeping until the next deadline or post.
  void start();
  /// stop ends the strand thread; posted work not yet run is dropped. Idempotent.
  void stop();

  /// pump runs posted work and every timer due at clock.now(), on the calling thread.
  /// For tests with a fake clock; never call it while start()ed.
  void pump();
  /// next_due returns the earliest timer or idle-eviction deadline, for tests that drive
  /// pump().
  std::optional<MonotonicTime> next_due();

  // Sink
  void on_subscribe(std::string room, std::optional<std::uint64_t> resume_after,
                    ClientRef client) override;
  void on_message(std::string room, std::string payload, ClientRef client) override;
  void on_unsubscribe(std::string room, ClientRef client) override;
  /// encode_failure: the contract's error event (encode_failure in protocol.h).
  std::string encode_failure(const Failure& failure, std::string_view request) const override;

  /// command runs one command for REST; `done` is called on the strand. `peer` is the
  /// requester's address, for the room-creation rate limit ("" is not limited). `origin`,
  /// when set, is stored with the events the command makes (StoredEvent::origin).
  void command(std::string room, std::string payload, std::function<void(CommandOutcome)> done,
               std::string peer = {}, std::string origin = {});
  /// snapshot calls `done` on the strand with the room's snapshot event (creating the room),
  /// or an error (bad_room, overloaded, rate_limited). `peer` as for command().
  void snapshot(std::string room, std::function<void(std::optional<Error>, Payload)> done,
                std::string peer = {});
  /// rooms calls `done` on the strand with every room.
  void rooms(std::function<void(std::vector<RoomSummary>)> done);
  /// stats returns counters; safe from any thread.
  HubStats stats() const;

  // Cluster (hub_replica.cpp).
  /// ensure creates `room` if it does not exist (limits of `peer` apply) and calls `done`
  /// on the strand, once its record is committed, with the record (or the error). The
  /// writer answers a replica's forward_join with it.
  void ensure(std::string room, std::string peer, WriterLink::RoomDone done);
  /// replicate publishes a committed event of a replica's room to its clients, as the
  /// writer published it (same seq and bytes; its history serves resumes). Events already
  /// seen are dropped; a gap or a new epoch restarts the room's history. Ignored once
  /// promoted.
  void replicate(ReplicatedEvent event);
  /// promote makes a replica the writer: `contents` (loaded from the store once this node
  /// holds the lease) bring every room up to date, timers run from their absolute deadlines
  /// and seq goes on. Clients stay joined.
  void promote(StoreContents contents);
  /// replica tells whether the Hub is a replica now (any thread).
  bool replica() const;

 private:
  struct Room;
  using Task = std::function<void()>;
  /// Pending is an event emitted in this wake-up, not yet committed nor published.
  struct Pending {
    Room* room;
    TimerEvent event;
    std::int64_t server_time_us;
    Message message;
    std::string origin;  // the forwarded command that made it, if any
  };

  void post(Task task);
  void run_posted();
  // DueEntry: `room` has something to do at `due` (a tick, or an idle check). Ordered by
  // due, then name.
  struct DueEntry {
    MonotonicTime due;
    std::string room;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
    auto operator<=>(const DueEntry&) const = default;
  };
  using DueQueue = std::priority_queue<DueEntry, std::vector<DueEntry>, std::greater<>>;
  void advance_timers(MonotonicTime now);
  void schedule_ticks(const std::string& name, Room& room);
  Room* find_or_create(const std::string& name, std::string_view peer, std::optional<Error>& error);
  void touch(const std::string& name, Room& room, MonotonicTime now);
  void queue_if_idle(const std::string& name, Room& room);
  void evict_idle(MonotonicTime now);
  void emit(Room& room, const TimerEvent& event);
  Message encode(const Room& room, std::uint64_t seq, const TimerEvent& event,
                 std::int64_t server_time_us) const;
  // The room store (hub_store.cpp): load at start, commit-then-publish, new histories.
  void load_rooms();
  void adopt(LoadedRoom& loaded, std::uint64_t ceiling, MonotonicTime now, std::int64_t wall_now);
  // Joins (hub_replica.cpp for a replica's unknown room).
  void answer_join(const std::string& name, std::optional<std::uint64_t> resume_after,
                   const ClientRef& client);
  void forward_join(const std::string& name, const std::string& peer,
                    std::function<void(std::optional<Error>)> then);
  Room& add_replica_room(const std::string& name, const RoomRecord& record);
  void forward_command(const std::string& name, const std::string& payload, const std::string& peer,
                       std::function<void(CommandOutcome)> done);
  void flush();
  std::uint64_t new_base(std::uint64_t previous);
  void start_new_history(Room& room);
  void mark_dirty(Room& room);
  Payload snapshot_payload(const std::string& name, Room& room);
  std::optional<Error> apply(Room& room, const std::string& name, const Command& command);
  void run_thread();

  HubOptions options_;
  const Clock& clock_;
  std::vector<Transport*> transports_;
  std::map<std::string, std::unique_ptr<Room>, std::less<>> rooms_;  // strand only
  std::unique_ptr<RoomStore> own_store_;
  RoomStore* store_;
  // Strand only: what this wake-up produced, committed and published by flush().
  std::vector<Pending> pending_;
  std::vector<Room*> dirty_;
  std::vector<Task> after_commit_;
  bool store_failing_ = false;
  bool clamp_logged_ = false;
  // Running timers by their next deadline (Room::tick_queued is the live entry; others
  // are stale and skipped), so a wake-up touches the rooms that are due, not every room.
  DueQueue ticks_;
  // Rooms that may be evicted, by deadline; at most one entry per room (Room::idle_queued).
  // An entry whose room has been used since is re-queued or dropped when it comes due, so
  // a wake-up costs the entries due, never a walk over every room. Strand only.
  DueQueue idle_;
  // A new room's base is at least this: above every seq an evicted room ever used, so a
  // room created again under an evicted name never repeats a seq its old clients saw (the
  // wall-clock base mostly is already; this also holds when the wall clock steps back).
  std::uint64_t seq_floor_ = 0;
  // Evicted rooms not yet removed from the store: the next commit's StoreBatch::removed.
  std::vector<std::string> removed_;
  std::unique_ptr<detail::PeerRateLimiter> create_limiter_;  // strand only
  WriterLink* writer_link_ = nullptr;
  std::atomic<bool> replica_{false};  // written on the strand only

  mutable std::mutex mutex_;  // guards posted_, stopping_ and stats_
  std::condition_variable wake_;
  std::vector<Task> posted_;
  bool stopping_ = false;
  HubStats stats_;
  std::thread thread_;
};

}  // namespace tickcast
