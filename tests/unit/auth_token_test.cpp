// tickcast::auth without sockets: the claims, the prefix rules, and every way a token is
// refused (expired, wrong signature, alg none, algorithm confusion, oversized, bad claims).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tickcast/auth/token.h"

namespace tickcast::auth {
namespace {

using namespace std::chrono_literals;

const std::string kSecret = "unit-test-secret-unit-test-secret-0123";

Claims claims(std::string room, std::vector<Permission> perms, std::chrono::seconds ttl = 1h) {
  return Claims{std::move(room), std::move(perms),
                std::chrono::time_point_cast<std::chrono::seconds>(Clock::now() + ttl), "u1"};
}

std::string b64url(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char c : in) {
    value = (value << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += t[(value >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += t[(value << (6 - bits)) & 63];
  return out;
}

// A token with any header and claims, and a signature of our choosing (not verified).
std::string forged(const nlohmann::json& header, const nlohmann::json& payload,
                   const std::string& signature = "") {
  return b64url(header.dump()) + "." + b64url(payload.dump()) + "." + signature;
}

long in_an_hour() { return static_cast<long>(std::time(nullptr)) + 3600; }

int status_of(const std::variant<Grant, Refusal>& result) {
  return std::holds_alternative<Grant>(result) ? 200 : std::get<Refusal>(result).status;
}

TEST(AuthToken, MintedTokenVerifiesWithItsClaims) {
  const auto verifier = Verifier::from_secret(kSecret);
  const auto token = mint(claims("focus", {Permission::subscribe}), "HS256", kSecret);
  auto result = verifier.verify(token, Clock::now());
  ASSERT_TRUE(std::holds_alternative<Grant>(result)) << std::get<Refusal>(result).message;
  const Grant& grant = std::get<Grant>(result);
  EXPECT_EQ(grant.room, "focus");
  EXPECT_TRUE(grant.subscribe);
  EXPECT_FALSE(grant.command);
  EXPECT_EQ(grant.subject, "u1");
  EXPECT_EQ(status_of(verifier.check(token, "focus", Permission::command, Clock::now())), 403);
  EXPECT_EQ(status_of(verifier.check(token, "other", Permission::subscribe, Clock::now())), 403);
}

TEST(AuthToken, RoomPrefixRules) {
  Grant exact{"a", true, true, {}, {}};
  EXPECT_TRUE(exact.covers("a"));
  EXPECT_FALSE(exact.covers("a-b"));
  EXPECT_FALSE(exact.covers("ab"));
  Grant prefix{"a*", true, true, {}, {}};
  EXPECT_TRUE(prefix.covers("a"));
  EXPECT_TRUE(prefix.covers("a-b"));
  EXPECT_FALSE(prefix.covers("b"));
  Grant dash{"a-*", true, true, {}, {}};
  EXPECT_FALSE(dash.covers("a"));
  EXPECT_TRUE(dash.covers("a-"));
  Grant all{"*", true, false, {}, {}};
  EXPECT_TRUE(all.covers("anything"));
}

TEST(AuthToken, ExpiredWrongSignatureAndGarbageAre401) {
  const auto verifier = Verifier::from_secret(kSecret);
  EXPECT_EQ(status_of(verifier.verify(
                mint(claims("r", {Permission::subscribe}, -1s), "HS256", kSecret), Clock::now())),
            401);
  EXPECT_EQ(status_of(verifier.verify(mint(claims("r", {Permission::subscribe}), "HS256",
                                           "another-secret-another-secret-xx"),
                                      Clock::now())),
            401);
  EXPECT_EQ(status_of(verifier.verify("", Clock::now())), 401);
  EXPECT_EQ(status_of(verifier.verify("a.b.c", Clock::now())), 401);
  EXPECT_EQ(status_of(verifier.verify(std::string(kMaxTokenBytes + 1, 'a'), Clock::now())), 401);
  // A valid token's expiry is checked against the time given.
  const auto token = mint(claims("r", {Permission::subscribe}, 10s), "HS256", kSecret);
  EXPECT_EQ(status_of(verifier.verify(token, Clock::now())), 200);
  EXPECT_EQ(status_of(verifier.verify(token, Clock::now() + 11s)), 401);
}

TEST(AuthToken, AlgNoneIsRefused) {
  const auto verifier = Verifier::from_secret(kSecret);
  const nlohmann::json payload{{"room", "r"}, {"perm", {"subscribe"}}, {"exp", in_an_hour()}};
  EXPECT_EQ(
      status_of(verifier.verify(forged({{"alg", "none"}, {"typ", "JWT"}}, payload), Clock::now())),
      401);
  EXPECT_EQ(status_of(verifier.verify(forged({{"alg", "none"}}, payload, "c2ln"), Clock::now())),
            401);
}

TEST(AuthToken, RoomClaimMustBeANameOrAPrefix) {
  const auto verifier = Verifier::from_secret(kSecret);
  for (const std::string& room :
       std::vector<std::string>{"bad room", "", std::string(65, 'x'), "a*b", "**"}) {
    EXPECT_EQ(status_of(verifier.verify(
                  mint(claims(room, {Permission::subscribe}), "HS256", kSecret), Clock::now())),
              401)
        << room;
  }
}

// A throw-away P-256 key pair, for the ES256 cases.
const std::string kEcPrivate = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbrFSi+5s3F3JyJ4y
Vq+fhiF1bsi7tW0undOfcKN77kqhRANCAASg265O7vdgg8xRMkBHsoxyCx/dHgbY
Ws4Zh9S+ChwBC1v2p/hywtlKS9Hx1YoqfCm0hx9VHEcc8Z3lnjFd5Jc0
-----END PRIVATE KEY-----
)";
const std::string kEcPublic = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoNuuTu73YIPMUTJAR7KMcgsf3R4G
2FrOGYfUvgocAQtb9qf4csLZSkvR8dWKKnwptIcfVRxHHPGd5Z4xXeSXNA==
-----END PUBLIC KEY-----
)";

TEST(AuthToken, Es256AndAlgorithmConfusion) {
  const auto verifier = Verifier::from_public_key_pem(kEcPublic);
  EXPECT_EQ(verifier.algorithm(), "ES256");
  EXPECT_EQ(status_of(verifier.verify(
                mint(claims("r", {Permission::subscribe}), "ES256", kEcPrivate), Clock::now())),
            200);
  // HS256 "signed" with the public key as the secret: libjwt would accept the HMAC; the
  // algorithm check refuses it.
  auto confused =
      verifier.verify(mint(claims("r", {Permission::subscribe}), "HS256", kEcPublic), Clock::now());
  ASSERT_EQ(status_of(confused), 401);
  EXPECT_NE(std::get<Refusal>(confused).message.find("HS256 is not accepted"), std::string::npos);
  // And an HS256 server does not take an ES256 token.
  EXPECT_EQ(status_of(Verifier::from_secret(kSecret).verify(
                mint(claims("r", {Permission::subscribe}), "ES256", kEcPrivate), Clock::now())),
            401);
}

TEST(AuthToken, KeysAreCheckedAtLoad) {
  EXPECT_THROW(Verifier::from_secret(""), std::runtime_error);
  EXPECT_THROW(Verifier::from_public_key_pem("not a key"), std::runtime_error);
  EXPECT_THROW(Verifier::from_secret_file("/nonexistent/secret"), std::runtime_error);
}

}  // namespace
}  // namespace tickcast::auth
