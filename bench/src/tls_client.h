#pragma once
// TLS for the bench's own clients (the *-tls rows): one client SSL_CTX for the process,
// trusting any certificate (the bench's servers use a throw-away self-signed one) and
// offering ALPN http/1.1 (the clients speak HTTP/1.1 and WebSocket).

#include <openssl/ssl.h>

#include <memory>

namespace tickcast::bench {

/// client_tls_context returns the process's client SSL_CTX. Threads: any.
SSL_CTX* client_tls_context();

/// SslFree frees an SSL (for std::unique_ptr<SSL, SslFree>).
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

}  // namespace tickcast::bench
