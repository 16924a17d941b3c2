#include "tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tickcast::http::internal {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::shared_ptr<X509> own(X509* x) { return std::shared_ptr<X509>(x, X509_free); }

// The last OpenSSL error as text, and the queue cleared.
std::string openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (!code) return "no PEM data found";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

BioPtr open_file(const std::string& path, const char* flag) {
  if (path.empty()) throw std::runtime_error(std::string(flag) + " needs a file name");
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (!probe) {
    throw std::runtime_error(std::string("cannot read ") + flag + " " + path + ": " +
                             std::strerror(errno));
  }
  std::fclose(probe);
  BioPtr bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) throw std::runtime_error(std::string("cannot read ") + flag + " " + path);
  return bio;
}

}  // namespace

TlsCredentials TlsCredentials::load(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  TlsCredentials out;
  {
    BioPtr bio = open_file(cert_file, "--tls-cert");
    X509* cert = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr);
    if (!cert) {
      throw std::runtime_error("--tls-cert " + cert_file + " holds no PEM certificate (" +
                               openssl_error() + ")");
    }
    out.cert_ = own(cert);
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      out.chain_.push_back(own(extra));
    }
    ERR_clear_error();  // the end of the file reads as "no start line"
  }
  {
    BioPtr bio = open_file(key_file, "--tls-key");
    // A null password callback would prompt on the terminal for an encrypted key; an
    // empty password makes that a plain error instead.
    static char empty[] = "";
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty);
    if (!key) {
      throw std::runtime_error("--tls-key " + key_file + " holds no unencrypted PEM private key (" +
                               openssl_error() + ")");
    }
    out.key_ = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
  }
  if (X509_check_private_key(out.cert_.get(), out.key_.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("--tls-key " + key_file + " is not the key of the certificate in " +
                             cert_file);
  }
  return out;
}

bool TlsCredentials::install(SSL_CTX* ctx) const {
  if (!ctx) return false;
  ERR_clear_error();
  bool ok = SSL_CTX_use_certificate(ctx, cert_.get()) == 1;
  ok = ok && SSL_CTX_clear_chain_certs(ctx) == 1;
  for (const auto& extra : chain_) ok = ok && SSL_CTX_add1_chain_cert(ctx, extra.get()) == 1;
  ok = ok && SSL_CTX_use_PrivateKey(ctx, key_.get()) == 1;
  ok = ok && SSL_CTX_check_private_key(ctx) == 1;
  ERR_clear_error();
  return ok;
}

std::string TlsCredentials::describe() const {
  std::string out;
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(cert_.get()), name, sizeof name);
  out += name;
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio && ASN1_TIME_print(bio.get(), X509_get0_notAfter(cert_.get())) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    out += ", valid until ";
    out.append(data, static_cast<std::size_t>(n));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), digest, &length) == 1) {
    out += ", sha256 ";
    char hex[4];
    for (unsigned int i = 0; i < length; ++i) {
      std::snprintf(hex, sizeof hex, i ? ":%02X" : "%02X", digest[i]);
      out += hex;
    }
  }
  return out;
}

}  // namespace tickcast::http::internal
