#pragma once
// The transport layer's backplane on NATS JetStream: an app on several nodes shares its
// rooms through one stream (subject per room), numbered by the engine.

#include <memory>
#include <string>
#include <vector>

#include "tickcast/transport/backplane.h"

namespace tickcast::cluster {

struct NatsBackplaneOptions {
  std::vector<std::string> servers;  ///< nats://HOST:PORT of one cluster
  /// name names the app's stream, `TICKCAST_BP_<name>`, on subjects `tickcast.bp.<name>.<room>`
  /// (letters, digits, `_` and `-`).
  std::string name = "app";
  std::size_t history = 100;  ///< messages kept per room, for resumes on any node
  int replicas = 1;           ///< stream replicas (3 on a 3-server cluster)
  int timeout_ms = 2000;      ///< per engine request (a publish's acknowledgement)
};

/// NatsBackplane numbers each room's messages with their JetStream stream sequence, so
/// every node (and a node that starts later) sees one order. Threads: as Backplane;
/// publishes are stored one at a time on a thread of its own, deliveries come on cnats'
/// subscription thread.
class NatsBackplane final : public Backplane {
 public:
  /// NatsBackplane connects (reconnecting forever afterwards) and makes or updates the
  /// stream; throws std::runtime_error with the reason.
  explicit NatsBackplane(NatsBackplaneOptions options);
  ~NatsBackplane() override;
  NatsBackplane(const NatsBackplane&) = delete;
  NatsBackplane& operator=(const NatsBackplane&) = delete;

  void start(Deliver deliver) override;
  void publish(std::string room, std::string body, Done done) override;
  void stop() override;
  /// connected tells whether the link to the engine is up now.
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// make_backplane returns a NatsBackplane on `options.servers`, or, when it names none, a
/// LocalBackplane (this process alone): an app's optional `--cluster` flag in one line.
/// Throws as NatsBackplane does.
std::unique_ptr<Backplane> make_backplane(NatsBackplaneOptions options);

}  // namespace tickcast::cluster
