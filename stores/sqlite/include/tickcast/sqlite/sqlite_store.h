#pragma once
// The embedded room store: one SQLite file (WAL mode) in a data folder, for rooms that
// outlive the process on one node.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "tickcast/core/room_store.h"

namespace tickcast::sqlite {

/// StoreOpenError says why a data folder cannot be used: its message names the path and the
/// reason (corrupt file, read-only or unwritable folder, locked by another running server).
class StoreOpenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// SqliteOptions tunes the store; the defaults are what tickcast-server uses.
struct SqliteOptions {
  /// max_bytes caps the file (PRAGMA max_page_count); writes past it fail as a full disk
  /// would. nullopt: no cap but the disk's.
  std::optional<std::size_t> max_bytes;
};

/// SqliteRoomStore keeps every room's record and its newest events in `DIR/tickcast.db`,
/// WAL mode with synchronous=NORMAL (a committed batch survives a kill -9 of the process;
/// a power cut may lose the last batches, never corrupt the file). `DIR/tickcast.lock`
/// holds an exclusive flock while the store is open, so two servers never share a folder.
/// Threads: as RoomStore (the Hub's strand); open from any one thread.
class SqliteRoomStore final : public RoomStore {
 public:
  /// open creates `dir` if needed and opens or creates the store in it; throws
  /// StoreOpenError with the path and the reason.
  static std::unique_ptr<SqliteRoomStore> open(const std::string& dir, SqliteOptions options = {});
  ~SqliteRoomStore() override;
  SqliteRoomStore(const SqliteRoomStore&) = delete;
  SqliteRoomStore& operator=(const SqliteRoomStore&) = delete;

  StoreContents load(std::size_t history) override;
  std::optional<std::string> commit(const StoreBatch& batch, std::size_t history) override;
  bool durable() const override { return true; }

  /// path returns the database file's path.
  const std::string& path() const;

 private:
  struct Impl;
  explicit SqliteRoomStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickcast::sqlite
