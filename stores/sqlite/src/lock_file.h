#pragma once
// An exclusive advisory lock (flock) on a file beside the database, held while the store is
// open: a second server on the same data folder fails at start instead of sharing it.

#include <string>

namespace tickcast::sqlite::internal {

/// LockFile holds an exclusive flock on `path` (created if needed) for its lifetime. The
/// file holds the owner's pid, for the error message of the next one.
/// Threads: any one thread.
class LockFile {
 public:
  /// LockFile takes the lock or throws std::runtime_error naming the path and the reason
  /// (held by another process, with its pid; or the open's errno).
  explicit LockFile(const std::string& path);
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace tickcast::sqlite::internal
