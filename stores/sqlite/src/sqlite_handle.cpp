#include "sqlite_handle.h"

namespace tickcast::sqlite::internal {

std::string error_text(sqlite3* db, int code) {
  std::string text = sqlite3_errstr(code);
  if (db) {
    const char* message = sqlite3_errmsg(db);
    if (message && text != message) text += std::string(" (") + message + ")";
  }
  return text;
}

Db::Db(const std::string& path) {
  sqlite3* raw = nullptr;
  const int code = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  db_.reset(raw);  // a failed open still returns a handle to close
  if (code != SQLITE_OK) throw SqliteError(code, error_text(raw, code));
  sqlite3_extended_result_codes(raw, 1);
}

void Db::exec(const char* sql) {
  const int code = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) throw SqliteError(code, error_text(db_.get(), code));
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  sqlite3_stmt* raw = nullptr;
  const int code = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  statement_.reset(raw);
  if (code != SQLITE_OK) throw SqliteError(code, error_text(db, code));
}

Statement& Statement::bind(int index, std::int64_t value) {
  const int code = sqlite3_bind_int64(statement_.get(), index, value);
  if (code != SQLITE_OK) throw SqliteError(code, error_text(db_, code));
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  const int code = sqlite3_bind_text(statement_.get(), index, text.data(),
                                     static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (code != SQLITE_OK) throw SqliteError(code, error_text(db_, code));
  return *this;
}

bool Statement::step() {
  const int code = sqlite3_step(statement_.get());
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  const std::string text = error_text(db_, code);
  sqlite3_reset(statement_.get());
  throw SqliteError(code, text);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() { sqlite3_reset(statement_.get()); }

std::string Statement::text(int column) const {
  const auto* bytes = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  return bytes ? std::string(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(size))
               : std::string();
}

}  // namespace tickcast::sqlite::internal
