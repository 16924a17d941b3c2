// Token verification and minting on libjwt 1.10 (Debian 12). libjwt decodes and checks
// the signature with the algorithm named in the token's header; the algorithm is then
// compared with the one of our key, so that `alg: none` and HS256 "signed" with a public
// key are refused whatever libjwt accepted.
#include "tickcast/auth/token.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace tickcast::auth {

namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
struct CFree {
  void operator()(char* p) const { std::free(p); }
};
using CString = std::unique_ptr<char, CFree>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("cannot read ") + what + " " + path + ": " +
                             std::strerror(errno));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool room_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// A room name ([A-Za-z0-9_-]{1,64}) or a prefix of one followed by '*'.
bool valid_room_claim(std::string_view room) {
  const bool prefix = !room.empty() && room.back() == '*';
  const std::string_view body = prefix ? room.substr(0, room.size() - 1) : room;
  if ((!prefix && body.empty()) || body.size() > 64) return false;
  for (char c : body) {
    if (!room_char(c)) return false;
  }
  return true;
}

jwt_alg_t alg_of(const std::string& name) { return jwt_str_alg(name.c_str()); }

Refusal invalid(std::string why) { return Refusal{401, "invalid token: " + std::move(why)}; }

}  // namespace

std::string_view to_string(Permission permission) {
  return permission == Permission::command ? "command" : "subscribe";
}

bool Grant::covers(std::string_view name) const {
  if (!room.empty() && room.back() == '*') {
    const std::string_view prefix = std::string_view(room).substr(0, room.size() - 1);
    return name.substr(0, prefix.size()) == prefix;
  }
  return name == room;
}

bool Grant::allows(std::string_view name, Permission permission) const {
  return covers(name) && (permission == Permission::command ? command : subscribe);
}

std::string read_secret_file(const std::string& path) {
  std::string secret = read_file(path, "--auth-secret");
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (secret.empty()) throw std::runtime_error("--auth-secret " + path + " is empty");
  return secret;
}

Verifier Verifier::from_secret_file(const std::string& path) {
  return from_secret(read_secret_file(path), "--auth-secret " + path);
}

Verifier Verifier::from_secret(std::string secret, const std::string& what) {
  if (secret.empty()) throw std::runtime_error(what + " is empty");
  return Verifier("HS256", std::move(secret));
}

Verifier Verifier::from_public_key_file(const std::string& path) {
  return from_public_key_pem(read_file(path, "--auth-public-key"), "--auth-public-key " + path);
}

Verifier Verifier::from_public_key_pem(std::string pem, const std::string& what) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    // A certificate carries the public key too.
    BIO_reset(bio.get());
    std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) key.reset(X509_get_pubkey(cert.get()));
  }
  if (!key) {
    throw std::runtime_error(what + " holds no PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  // libjwt reads a PUBLIC KEY block: keep the key in that form whatever it came in.
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    throw std::runtime_error(what + ": cannot re-encode the public key");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);
  pem.assign(data, static_cast<std::size_t>(length));
  switch (EVP_PKEY_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key.get()) < 2048) {
        throw std::runtime_error(what + ": RSA keys need 2048 bits or more");
      }
      return Verifier("RS256", std::move(pem));
    case EVP_PKEY_EC:
      if (EVP_PKEY_bits(key.get()) != 256) {
        throw std::runtime_error(what + ": EC keys must be P-256 (ES256)");
      }
      return Verifier("ES256", std::move(pem));
    default:
      throw std::runtime_error(what + ": only RSA (RS256) and EC P-256 (ES256) keys are supported");
  }
}

std::variant<Grant, Refusal> Verifier::verify(std::string_view token, Clock::time_point now) const {
  if (token.empty()) return Refusal{401, "a token is required"};
  if (token.size() > kMaxTokenBytes) {
    return invalid("longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  const std::string text(token);
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                            static_cast<int>(key_.size()));
  JwtPtr jwt(raw);
  if (rc != 0 || !jwt) return invalid("malformed, or the signature does not match");
  // libjwt verified with the token's own algorithm: it must be the key's.
  if (jwt_get_alg(jwt.get()) != alg_of(algorithm_)) {
    const char* name = jwt_alg_str(jwt_get_alg(jwt.get()));
    return invalid(std::string("algorithm ") + (name ? name : "?") + " is not accepted (only " +
                   algorithm_ + ")");
  }

  Grant grant;
  errno = 0;
  const long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno != 0) return invalid("the exp claim (a number) is required");
  grant.expires = Clock::time_point(std::chrono::seconds(exp));
  if (grant.expires <= now) return Refusal{401, "token expired"};

  const char* room = jwt_get_grant(jwt.get(), "room");
  if (!room || !valid_room_claim(room)) {
    return invalid("the room claim must be a room name or a prefix ending in *");
  }
  grant.room = room;

  CString perm_json(jwt_get_grants_json(jwt.get(), "perm"));
  const auto perm =
      perm_json ? nlohmann::json::parse(perm_json.get(), nullptr, false) : nlohmann::json();
  if (!perm.is_array()) return invalid("the perm claim must be an array");
  for (const auto& p : perm) {
    if (p == "subscribe") grant.subscribe = true;
    if (p == "command") grant.command = true;
  }
  if (const char* sub = jwt_get_grant(jwt.get(), "sub")) grant.subject = sub;
  return grant;
}

std::variant<Grant, Refusal> Verifier::check(std::string_view token, std::string_view room,
                                             Permission permission, Clock::time_point now) const {
  auto result = verify(token, now);
  if (auto* grant = std::get_if<Grant>(&result)) {
    if (!grant->covers(room)) {
      return Refusal{403, "the token is not for room " + std::string(room)};
    }
    if (!grant->allows(room, permission)) {
      return Refusal{403, permission == Permission::command
                              ? "the token does not allow commands"
                              : "the token does not allow subscribing"};
    }
  }
  return result;
}

std::string mint(const Claims& claims, const std::string& algorithm, const std::string& key) {
  const jwt_alg_t alg = alg_of(algorithm);
  if (alg != JWT_ALG_HS256 && alg != JWT_ALG_RS256 && alg != JWT_ALG_ES256) {
    throw std::runtime_error("algorithm must be HS256, RS256 or ES256");
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("libjwt: out of memory");
  JwtPtr jwt(raw);
  nlohmann::json perm = nlohmann::json::array();
  for (Permission p : claims.permissions) perm.push_back(std::string(to_string(p)));
  const long exp = static_cast<long>(
      std::chrono::duration_cast<std::chrono::seconds>(claims.expires.time_since_epoch()).count());
  bool ok = jwt_add_grant(jwt.get(), "room", claims.room.c_str()) == 0 &&
            jwt_add_grants_json(jwt.get(), nlohmann::json{{"perm", perm}}.dump().c_str()) == 0 &&
            jwt_add_grant_int(jwt.get(), "exp", exp) == 0;
  if (ok && !claims.subject.empty())
    ok = jwt_add_grant(jwt.get(), "sub", claims.subject.c_str()) == 0;
  if (!ok) throw std::runtime_error("libjwt: cannot add the claims");
  if (jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) != 0) {
    throw std::runtime_error("libjwt: the key does not suit " + algorithm);
  }
  CString token(jwt_encode_str(jwt.get()));
  if (!token) throw std::runtime_error("libjwt: cannot sign (is the key a PEM private key?)");
  return token.get();
}

}  // namespace tickcast::auth
