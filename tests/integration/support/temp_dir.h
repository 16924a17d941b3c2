#pragma once
// A fresh temporary folder for one test, removed with everything in it at the end.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tickcast::testing {

/// TempDir creates a fresh folder under /tmp and removes it recursively when destroyed.
/// Threads: one test thread.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tickcast-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// path returns the folder's absolute path.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tickcast::testing
