// tickcast-token: mints a room token for local use and tests.
//
//   tickcast-token --secret secret.txt --room focus --perm subscribe,command --ttl 1h
//   tickcast-token --private-key ec.pem --room 'team-*' --perm subscribe --ttl 10m
//
// It prints the token (and nothing else) on stdout, so that it can be captured:
//   TOKEN=$(tickcast-token --secret s.txt --room focus)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "tickcast/auth/token.h"

namespace {

// "90s", "10m", "1h", "2d", or seconds; negative values give an expired token (tests).
std::optional<std::chrono::seconds> parse_ttl(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  const long long scale = unit.empty() || unit == "s" ? 1
                          : unit == "m"               ? 60
                          : unit == "h"               ? 3600
                          : unit == "d"               ? 86400
                                                      : 0;
  if (!scale) return std::nullopt;
  return std::chrono::seconds(n * scale);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tickcast-token: mint a tickcast room token (JWT)"};
  std::string secret_file, private_key_file, algorithm, room, perms = "subscribe", ttl = "1h",
                                                              subject;
  auto* secret =
      app.add_option("--secret", secret_file, "HS256 secret file (the server's --auth-secret)");
  app.add_option("--private-key", private_key_file,
                 "PEM private key (RSA: RS256, EC P-256: ES256) matching --auth-public-key")
      ->excludes(secret);
  app.add_option("--alg", algorithm, "RS256 or ES256 with --private-key (default: by key type)");
  app.add_option("--room", room, "a room name, or a prefix ending in * ('*': every room)")
      ->required();
  app.add_option("--perm", perms, "comma list of subscribe,command")->capture_default_str();
  app.add_option("--ttl", ttl, "lifetime: 90s, 10m, 1h, 2d")->capture_default_str();
  app.add_option("--sub", subject, "subject (who the token is for), optional");
  CLI11_PARSE(app, argc, argv);

  try {
    tickcast::auth::Claims claims;
    claims.room = room;
    claims.subject = subject;
    std::stringstream list(perms);
    for (std::string p; std::getline(list, p, ',');) {
      if (p == "subscribe") {
        claims.permissions.push_back(tickcast::auth::Permission::subscribe);
      } else if (p == "command") {
        claims.permissions.push_back(tickcast::auth::Permission::command);
      } else if (!p.empty()) {
        throw std::runtime_error("unknown permission '" + p + "' (subscribe, command)");
      }
    }
    const auto lifetime = parse_ttl(ttl);
    if (!lifetime) throw std::runtime_error("bad --ttl '" + ttl + "' (90s, 10m, 1h, 2d)");
    claims.expires = std::chrono::time_point_cast<std::chrono::seconds>(
        tickcast::auth::Clock::now() + *lifetime);

    std::string token;
    if (!secret_file.empty()) {
      token = tickcast::auth::mint(claims, "HS256", tickcast::auth::read_secret_file(secret_file));
    } else if (!private_key_file.empty()) {
      const std::string pem = read_all(private_key_file);
      if (algorithm.empty()) {
        algorithm = pem.find("BEGIN EC PRIVATE KEY") != std::string::npos ? "ES256" : "RS256";
        // A PKCS#8 key does not say its type in the PEM label: try ES256 first.
        if (pem.find("BEGIN PRIVATE KEY") != std::string::npos) {
          try {
            token = tickcast::auth::mint(claims, "ES256", pem);
          } catch (const std::exception&) {
            algorithm = "RS256";
          }
        }
      }
      if (token.empty()) token = tickcast::auth::mint(claims, algorithm, pem);
    } else {
      throw std::runtime_error("give --secret FILE or --private-key FILE");
    }
    std::printf("%s\n", token.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tickcast-token: %s\n", e.what());
    return 1;
  }
}
