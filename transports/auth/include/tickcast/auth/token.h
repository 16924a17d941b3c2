#pragma once
// tickcast::auth: signed room tokens (JWT, verified and minted with libjwt). A token says
// which room (or room prefix) its holder may use, how (subscribe, command) and until
// when. This header includes no libjwt or OpenSSL header.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tickcast::auth {

/// kMaxTokenBytes: longer tokens are refused (401) before any decoding.
inline constexpr std::size_t kMaxTokenBytes = 2048;

/// Permission is one thing a token may allow in its rooms.
enum class Permission { subscribe, command };

/// to_string returns "subscribe" or "command".
std::string_view to_string(Permission permission);

using Clock = std::chrono::system_clock;

/// Grant is what a verified token allows.
struct Grant {
  std::string room;  ///< a room name, or a prefix ending in '*' ("*" is every room)
  bool subscribe = false;
  bool command = false;
  Clock::time_point expires;  ///< `exp`
  std::string subject;        ///< `sub`; may be empty
  /// covers tells whether `room` is the grant's room, or starts with its prefix.
  bool covers(std::string_view room) const;
  /// allows tells whether the grant covers `room` and has `permission`.
  bool allows(std::string_view room, Permission permission) const;
};

/// Refusal is why a token was not accepted: status 401 (missing, malformed, bad
/// signature, expired) or 403 (valid, but not for this room or permission). The message
/// never contains the token.
struct Refusal {
  int status = 401;
  std::string message;
};

/// Verifier checks tokens against one key and its one algorithm: HS256 with a shared
/// secret, or RS256 / ES256 (P-256) with a public key. A token signed with any other
/// algorithm (`none` included, and HS256 "signed" with the public key) is refused.
/// Threads: immutable; verify() and check() from any thread.
class Verifier {
 public:
  /// from_secret_file reads an HS256 secret: the file's bytes, less one trailing newline.
  /// Throws std::runtime_error when the file cannot be read or is empty.
  static Verifier from_secret_file(const std::string& path);
  /// from_public_key_file reads a PEM public key (or certificate): RSA -> RS256, EC
  /// P-256 -> ES256. Throws std::runtime_error for anything else.
  static Verifier from_public_key_file(const std::string& path);
  /// from_secret and from_public_key_pem are the same with the key's bytes (`what` names
  /// where they came from, for errors).
  static Verifier from_secret(std::string secret, const std::string& what = "--auth-secret");
  static Verifier from_public_key_pem(std::string pem,
                                      const std::string& what = "--auth-public-key");

  /// verify checks the signature, the algorithm and the claims (`room`, `perm`, `exp` in
  /// the future, optional `sub`), and returns what the token allows.
  std::variant<Grant, Refusal> verify(std::string_view token, Clock::time_point now) const;
  /// check is verify() plus: the grant allows `permission` in `room` (else 403).
  std::variant<Grant, Refusal> check(std::string_view token, std::string_view room,
                                     Permission permission, Clock::time_point now) const;

  /// algorithm returns "HS256", "RS256" or "ES256".
  const std::string& algorithm() const { return algorithm_; }
  /// key_bytes is how long the key is (a short HS256 secret deserves a warning).
  std::size_t key_bytes() const { return key_.size(); }
  /// key is the secret or PEM public key (handed to the embedded MQTT broker's plugin).
  const std::string& key() const { return key_; }

 private:
  Verifier(std::string algorithm, std::string key)
      : algorithm_(std::move(algorithm)), key_(std::move(key)) {}
  std::string algorithm_;
  std::string key_;
};

/// Claims are what mint() signs.
struct Claims {
  std::string room;
  std::vector<Permission> permissions;
  Clock::time_point expires;
  std::string subject;  ///< empty: no `sub`
};

/// mint signs `claims` with `algorithm` ("HS256": `key` is the secret; "RS256"/"ES256":
/// `key` is a PEM private key) and returns the compact JWT. Throws std::runtime_error.
std::string mint(const Claims& claims, const std::string& algorithm, const std::string& key);

/// read_secret_file returns a file's bytes less one trailing newline (the secret format).
std::string read_secret_file(const std::string& path);

}  // namespace tickcast::auth
