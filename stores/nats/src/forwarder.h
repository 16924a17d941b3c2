#pragma once
// Request/reply without blocking the caller: requests go out with a reply subject under one
// inbox subscription of this node; each answer (or its absence within the bound) is handed
// to the request's callback, exactly once. A request that nobody received ("no responders":
// no node serves the subject, as during a takeover) is sent again after a short back-off; one
// not answered within the timeout (a writer slow, stopped or gone) is sent again at once.
// Both within a window from the first send: the receiver must make requests idempotent (the
// writer's CommandDedup answers a command it has seen without running it again).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "nats_link.h"

namespace tickcast::nats {

/// Forwarder sends requests on `link`. Threads: send() from any thread; callbacks run on a
/// cnats delivery thread or on the Forwarder's own timeout thread.
class Forwarder {
 public:
  /// Done gets the answer's bytes, or nullopt: no answer within the timeout (no node was
  /// subscribed to the subject for all of it, or one received it and did not answer).
  using Done = std::function<void(std::optional<std::string>)>;
  /// Forwarder: an answer is awaited `timeout` after a request's last send; without one the
  /// request is sent again, while that is within `resend_window` of its first send.
  Forwarder(Link& link, std::chrono::milliseconds timeout, std::chrono::milliseconds resend_window);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  /// send: after stop(), `done` gets nullopt at once.
  void send(const std::string& subject, const std::string& data, Done done);
  /// stop drops the reply subscription and the requests waiting for an answer (their
  /// callbacks are not called: their requester is going away). Idempotent.
  void stop();
  /// failures counts requests answered with nullopt.
  std::uint64_t failures() const;
  /// resends counts requests sent again ("no responders", or no answer in time).
  std::uint64_t resends() const;

 private:
  using Time = std::chrono::steady_clock::time_point;
  struct Pending {
    Time deadline;  // of the answer to the last send
    Time resend_until;
    Done done;
    std::string subject, data;          // kept to send again
    std::optional<Time> resend_at;      // set while nobody is subscribed
    std::chrono::milliseconds backoff;  // before the next resend; doubles
  };
  static void on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* self);
  void expire_loop();
  std::optional<Done> take(std::uint64_t id);
  void publish(std::uint64_t id, const std::string& subject, const std::string& data);
  void fail(std::uint64_t id);
  bool resend_later(std::uint64_t id);

  Link& link_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds resend_window_;
  std::string inbox_;
  SubPtr sub_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
  std::uint64_t failures_ = 0;
  std::uint64_t resends_ = 0;
  bool stopping_ = false;
  std::thread expirer_;
};

}  // namespace tickcast::nats
