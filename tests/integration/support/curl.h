#pragma once
// Runs the curl CLI (a real HTTP/1.1 and HTTP/2 client with TLS) for integration tests,
// and makes throw-away certificates and keys with the openssl CLI.

#include <string>

namespace tickcast::testing {

/// CurlResult is what one curl run printed: the body, the status and the HTTP version.
struct CurlResult {
  std::string body;
  int status = 0;            ///< 0 when no HTTP answer came
  std::string http_version;  ///< "1.1" or "2"
};

/// curl runs `curl -sS ARGS` (ARGS are shell words, quoted by the caller) and returns the
/// last transfer's status and HTTP version with everything printed before them.
CurlResult curl(const std::string& args);

/// quote wraps `text` in single quotes for /bin/sh.
std::string quote(const std::string& text);

/// TempDir is a fresh directory under /tmp, removed with its files when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// path returns dir/name.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

/// make_certificate writes a self-signed P-256 certificate for `common_name` (with
/// subjectAltName localhost and 127.0.0.1) to cert_file and its key to key_file;
/// throws std::runtime_error when openssl fails.
void make_certificate(const std::string& cert_file, const std::string& key_file,
                      const std::string& common_name = "localhost");

/// write_file replaces a file's contents.
void write_file(const std::string& path, const std::string& contents);

}  // namespace tickcast::testing
