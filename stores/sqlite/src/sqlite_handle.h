#pragma once
// A small RAII layer over the SQLite C API: a connection, prepared statements, and errors
// turned into exceptions that carry SQLite's own message.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tickcast::sqlite::internal {

/// SqliteError is a failed SQLite call: `code` is the extended result code.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};

/// Statement is one prepared statement, reset after each use.
/// Threads: as its Db.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  /// bind sets parameter `index` (1-based).
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  /// step runs one step: true while a row is there, false when done; throws on errors.
  bool step();
  /// run steps to the end and resets the statement for its next use.
  void run();
  /// reset makes the statement ready to run again (bindings are replaced by the next bind).
  void reset();
  std::int64_t int64(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  std::string text(int column) const;

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, FinalizeStatement> statement_;
};

/// Db is one connection.
/// Threads: one thread at a time (the Hub's strand).
class Db {
 public:
  /// Db opens (creating) the file at `path`; throws SqliteError.
  explicit Db(const std::string& path);
  /// exec runs SQL without results (several statements allowed); throws SqliteError.
  void exec(const char* sql);
  sqlite3* get() const { return db_.get(); }

 private:
  std::unique_ptr<sqlite3, CloseDb> db_;
};

/// error_text returns SQLite's message for the connection's last error.
std::string error_text(sqlite3* db, int code);

}  // namespace tickcast::sqlite::internal
