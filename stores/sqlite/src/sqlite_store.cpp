#include "tickcast/sqlite/sqlite_store.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "lock_file.h"
#include "sqlite_handle.h"

namespace tickcast::sqlite {

using internal::Db;
using internal::SqliteError;
using internal::Statement;

namespace {

constexpr int kSchemaVersion = 1;

// Rooms hold their timer record in plain columns; events are keyed by (room, seq).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  work_ms INTEGER NOT NULL,
  short_break_ms INTEGER NOT NULL,
  long_break_ms INTEGER NOT NULL,
  cycles INTEGER NOT NULL,
  phase TEXT NOT NULL,
  completed_work INTEGER NOT NULL,
  running INTEGER NOT NULL,
  deadline_wall_us INTEGER NOT NULL,
  remaining_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  payload TEXT NOT NULL,
  droppable INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_room ON events (room, seq);
)sql";

// Trimming a room's old events costs a DELETE; doing it every kTrimEvery-th seq keeps the
// file within history + kTrimEvery events per room at a fraction of the cost.
constexpr std::uint64_t kTrimEvery = 16;

std::optional<Phase> parse_phase(const std::string& text) {
  for (Phase p : {Phase::work, Phase::short_break, Phase::long_break}) {
    if (to_string(p) == text) return p;
  }
  return std::nullopt;
}

std::int64_t as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }

}  // namespace

struct SqliteRoomStore::Impl {
  Impl(const std::string& dir, const std::string& db_path)
      : path(db_path), lock(dir + "/tickcast.lock"), db(db_path) {}

  void prepare() {
    sqlite3* h = db.get();
    begin = std::make_unique<Statement>(h, "BEGIN IMMEDIATE");
    commit = std::make_unique<Statement>(h, "COMMIT");
    upsert_room = std::make_unique<Statement>(
        h,
        "INSERT INTO rooms (name, seq, epoch, work_ms, short_break_ms, long_break_ms, cycles, "
        "phase, completed_work, running, deadline_wall_us, remaining_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
        "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, epoch = excluded.epoch, "
        "work_ms = excluded.work_ms, short_break_ms = excluded.short_break_ms, "
        "long_break_ms = excluded.long_break_ms, cycles = excluded.cycles, "
        "phase = excluded.phase, completed_work = excluded.completed_work, "
        "running = excluded.running, deadline_wall_us = excluded.deadline_wall_us, "
        "remaining_us = excluded.remaining_us");
    drop_older_history =
        std::make_unique<Statement>(h, "DELETE FROM events WHERE room = ?1 AND seq <= ?2");
    insert_event = std::make_unique<Statement>(
        h, "INSERT OR REPLACE INTO events (room, seq, payload, droppable) VALUES (?1, ?2, ?3, ?4)");
    delete_room = std::make_unique<Statement>(h, "DELETE FROM rooms WHERE name = ?1");
    set_meta =
        std::make_unique<Statement>(h,
                                    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    get_meta = std::make_unique<Statement>(h, "SELECT value FROM meta WHERE key = ?1");
    delete_room_events = std::make_unique<Statement>(h, "DELETE FROM events WHERE room = ?1");
    select_rooms = std::make_unique<Statement>(
        h,
        "SELECT name, seq, epoch, work_ms, short_break_ms, long_break_ms, cycles, phase, "
        "completed_work, running, deadline_wall_us, remaining_us FROM rooms ORDER BY name");
    select_events = std::make_unique<Statement>(
        h, "SELECT seq, payload, droppable FROM events WHERE room = ?1 ORDER BY seq DESC LIMIT ?2");
  }

  void write(const StoreBatch& batch, std::size_t history) {
    set_meta->bind(1, std::string_view("last_commit_wall_us")).bind(2, batch.wall_time_us).run();
    for (const std::string& name : batch.removed) {
      delete_room->bind(1, name).run();
      delete_room_events->bind(1, name).run();
    }
    for (const RoomRecord& r : batch.rooms) {
      const TimerRecord& t = r.timer;
      upsert_room->bind(1, r.name)
          .bind(2, as_int(r.seq))
          .bind(3, as_int(r.epoch))
          .bind(4, t.config.work.count())
          .bind(5, t.config.short_break.count())
          .bind(6, t.config.long_break.count())
          .bind(7, t.config.cycles)
          .bind(8, to_string(t.phase))
          .bind(9, t.completed_work)
          .bind(10, t.running ? 1 : 0)
          .bind(11, t.deadline_wall_us)
          .bind(12, t.remaining_us)
          .run();
      // Events of an older history of the room never mix with the current one.
      drop_older_history->bind(1, r.name).bind(2, as_int(r.epoch)).run();
    }
    std::map<std::string_view, std::uint64_t> trim;
    for (const AppendedEvent& e : batch.events) {
      insert_event->bind(1, e.room)
          .bind(2, as_int(e.event.seq))
          .bind(3, e.event.payload)
          .bind(4, e.event.droppable ? 1 : 0)
          .run();
      if (e.event.seq % kTrimEvery == 0 && e.event.seq > history) {
        trim[e.room] = e.event.seq - history;
      }
    }
    for (const auto& [room, up_to] : trim) {
      drop_older_history->bind(1, room).bind(2, as_int(up_to)).run();
    }
  }

  std::string path;
  internal::LockFile lock;
  Db db;
  std::unique_ptr<Statement> begin, commit, upsert_room, drop_older_history, insert_event,
      delete_room, delete_room_events, select_rooms, select_events, set_meta, get_meta;
};

std::unique_ptr<SqliteRoomStore> SqliteRoomStore::open(const std::string& dir,
                                                       SqliteOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreOpenError(dir + ": cannot create the data folder: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    throw StoreOpenError(dir + ": the data folder is not a folder");
  }
  const std::string db_path = dir + "/tickcast.db";
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(dir, db_path);
  } catch (const std::exception& e) {
    throw StoreOpenError(e.what());
  }
  try {
    Db& db = impl->db;
    db.exec("PRAGMA busy_timeout = 0");
    {
      Statement mode(db.get(), "PRAGMA journal_mode = WAL");
      if (!mode.step() || mode.text(0) != "wal") {
        throw SqliteError(SQLITE_ERROR, "cannot switch the journal to WAL mode");
      }
    }
    db.exec("PRAGMA synchronous = NORMAL");
    int version = 0;
    {
      Statement user_version(db.get(), "PRAGMA user_version");
      if (user_version.step()) version = static_cast<int>(user_version.int64(0));
    }
    if (version > kSchemaVersion) {
      throw SqliteError(SQLITE_ERROR,
                        "made by a newer tickcast (schema " + std::to_string(version) + ")");
    }
    // Also the write probe: a read-only file or folder fails here, not at the first tick.
    db.exec("BEGIN IMMEDIATE");
    db.exec(kSchema);
    db.exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    db.exec("COMMIT");
    if (options.max_bytes) {
      Statement page_size(db.get(), "PRAGMA page_size");
      const std::int64_t page = page_size.step() ? page_size.int64(0) : 4096;
      const auto pages =
          std::max<std::int64_t>(1, static_cast<std::int64_t>(*options.max_bytes) / page);
      db.exec(("PRAGMA max_page_count = " + std::to_string(pages)).c_str());
    }
    impl->prepare();
  } catch (const SqliteError& e) {
    throw StoreOpenError(db_path + ": " + e.what());
  }
  return std::unique_ptr<SqliteRoomStore>(new SqliteRoomStore(std::move(impl)));
}

SqliteRoomStore::SqliteRoomStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteRoomStore::~SqliteRoomStore() = default;

const std::string& SqliteRoomStore::path() const { return impl_->path; }

StoreContents SqliteRoomStore::load(std::size_t history) {
  StoreContents contents;
  std::vector<LoadedRoom>& rooms = contents.rooms;
  try {
    Statement& meta = *impl_->get_meta;
    meta.bind(1, std::string_view("last_commit_wall_us"));
    if (meta.step()) contents.last_commit_wall_us = meta.int64(0);
    meta.reset();
    Statement& s = *impl_->select_rooms;
    while (s.step()) {
      LoadedRoom room;
      RoomRecord& r = room.record;
      r.name = s.text(0);
      r.seq = static_cast<std::uint64_t>(s.int64(1));
      r.epoch = static_cast<std::uint64_t>(s.int64(2));
      TimerRecord& t = r.timer;
      t.config.work = Millis(s.int64(3));
      t.config.short_break = Millis(s.int64(4));
      t.config.long_break = Millis(s.int64(5));
      t.config.cycles = static_cast<int>(s.int64(6));
      const auto phase = parse_phase(s.text(7));
      if (!phase || t.config.cycles < 1 || t.config.work < kMinPhase ||
          t.config.short_break < kMinPhase || t.config.long_break < kMinPhase) {
        throw SqliteError(SQLITE_CORRUPT, "room '" + r.name + "' has an invalid timer record");
      }
      t.phase = *phase;
      t.completed_work = static_cast<int>(s.int64(8));
      t.running = s.int64(9) != 0;
      t.deadline_wall_us = s.int64(10);
      t.remaining_us = s.int64(11);
      rooms.push_back(std::move(room));
    }
    s.reset();
    Statement& e = *impl_->select_events;
    for (LoadedRoom& room : rooms) {
      e.bind(1, room.record.name).bind(2, static_cast<std::int64_t>(history));
      while (e.step()) {
        room.events.push_back(
            StoredEvent{static_cast<std::uint64_t>(e.int64(0)), e.text(1), e.int64(2) != 0, {}});
      }
      e.reset();
      std::reverse(room.events.begin(), room.events.end());
    }
  } catch (const SqliteError& error) {
    impl_->select_rooms->reset();
    impl_->select_events->reset();
    throw StoreOpenError(impl_->path + ": cannot read the rooms: " + error.what());
  }
  return contents;
}

std::optional<std::string> SqliteRoomStore::commit(const StoreBatch& batch, std::size_t history) {
  if (batch.empty()) return std::nullopt;
  try {
    impl_->begin->run();
    try {
      impl_->write(batch, history);
      impl_->commit->run();
    } catch (const SqliteError&) {
      // SQLite may have rolled back already (a full disk does); then this fails harmlessly.
      sqlite3_exec(impl_->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  } catch (const SqliteError& error) {
    return impl_->path + ": " + error.what();
  }
  return std::nullopt;
}

}  // namespace tickcast::sqlite
