#pragma once
// A server certificate chain and its private key, read from PEM files with OpenSSL and
// checked to belong together, so that a bad file is a clear start (or reload) error and
// never a half-configured listener.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

namespace tickcast::http::internal {

/// TlsCredentials is a certificate, its chain and its private key.
/// Threads: immutable once loaded; install() on the thread that owns the SSL_CTX.
class TlsCredentials {
 public:
  /// load reads `cert_file` (the certificate first, then any intermediates) and
  /// `key_file`; throws std::runtime_error naming the file and what is wrong with it
  /// (missing, unreadable, not PEM, key does not match the certificate).
  static TlsCredentials load(const std::string& cert_file, const std::string& key_file);

  /// install makes `ctx` present these credentials to new handshakes. Connections
  /// already open keep the certificate they were made with (OpenSSL copies it into
  /// each SSL at SSL_new). Returns false (and leaves what it could not set) on failure.
  bool install(SSL_CTX* ctx) const;

  /// describe returns "subject, valid until DATE, sha256 AB:CD:..." for logs.
  std::string describe() const;

 private:
  // shared_ptr (with X509_free / EVP_PKEY_free) so that the credentials can be copied
  // into a task for the loop thread.
  std::shared_ptr<X509> cert_;
  std::vector<std::shared_ptr<X509>> chain_;
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace tickcast::http::internal
