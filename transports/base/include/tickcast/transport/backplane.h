#pragma once
// A backplane carries an app's room messages between the nodes that serve the room, so that
// clients of one room on different nodes (and transports) see one numbered sequence.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <variant>

#include "tickcast/transport/failure.h"

namespace tickcast {

/// Published is how a publish ended: the message's number in its room, or why it was not
/// stored (FailureCode::overloaded while the backplane cannot reach its engine).
using Published = std::variant<std::uint64_t, Failure>;

/// Backplane: every node publishes into a room's one sequence, and every node, the
/// publisher included, receives each stored message once, in that sequence's order, with
/// its number (increasing within a room; not necessarily contiguous).
class Backplane {
 public:
  /// Deliver receives one stored message: its room, its number and the publisher's bytes.
  /// Threads: the backplane's own delivery thread, one message at a time, under the
  /// backplane's lock: it must not call publish or stop of the same backplane.
  using Deliver = std::function<void(const std::string& room, std::uint64_t seq, std::string body)>;
  /// Done receives the end of one publish. Threads: the backplane's; must not block.
  using Done = std::function<void(Published)>;

  virtual ~Backplane() = default;
  /// start (once) begins delivery: first the messages the backplane still holds (oldest first, so
  /// that a node that joins late can answer resumes), then every new one.
  virtual void start(Deliver deliver) = 0;
  /// publish stores `body` as the room's next message. Threads: any; never blocks.
  virtual void publish(std::string room, std::string body, Done done) = 0;
  /// stop ends delivery; no Deliver or Done runs after it returns.
  virtual void stop() = 0;
};

/// LocalBackplane is the one-node backplane: numbers 1, 2, 3... per room, in this process.
/// Deliver and Done run on the publisher's thread, one publish at a time.
class LocalBackplane final : public Backplane {
 public:
  void start(Deliver deliver) override;
  void publish(std::string room, std::string body, Done done) override;
  void stop() override;

 private:
  std::mutex mutex_;  // held through a delivery: one message at a time, in number order
  Deliver deliver_;
  std::map<std::string, std::uint64_t> last_;
};

}  // namespace tickcast
