#pragma once
// What a bench scenario adds beside the N measured clients: stalled readers that never read
// (slow-consumer), and clients that connect and leave continuously (churn). Both use plain
// blocking sockets on their own threads, apart from the measured clients' loop.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client_set.h"

namespace tickcast::bench {

/// scenario_supported tells whether `transport` can run the slow-consumer and churn
/// scenarios (the transports on tickcast-server's HTTP port: ws, ws-lws, sse, longpoll).
bool scenario_supported(const std::string& transport);

/// StalledReaders opens `count` connections of `transport` to the endpoint's room with a
/// tiny receive buffer, sends the request, and never reads.
/// Threads: one owner.
class StalledReaders {
 public:
  StalledReaders(const Endpoint& endpoint, const std::string& transport, std::size_t count);
  ~StalledReaders();
  StalledReaders(const StalledReaders&) = delete;
  StalledReaders& operator=(const StalledReaders&) = delete;

  /// opened counts the connections made and requested.
  std::size_t opened() const { return fds_.size(); }
  /// closed_by_server reads each connection to its end, until `deadline`, and counts those
  /// the server had closed (EOF or reset); one it keeps open is read until the deadline.
  std::size_t closed_by_server(std::chrono::steady_clock::time_point deadline);

 private:
  std::vector<int> fds_;
};

/// ChurnTotals is what the churning clients did.
struct ChurnTotals {
  std::uint64_t connects = 0;  ///< connections that got their first event and left
  std::uint64_t errors = 0;    ///< refused, failed or timed out
  std::string first_error;
};

/// Churn runs `workers` threads that each connect a client of `transport` to the room,
/// wait for its first event (the join snapshot), and leave (half of them cleanly, half with
/// a reset), over and over, at `rate` connects per second in all (0: as fast as they can).
/// Threads: one owner.
class Churn {
 public:
  Churn(const Endpoint& endpoint, std::string transport, double rate, std::size_t workers);
  ~Churn();
  Churn(const Churn&) = delete;
  Churn& operator=(const Churn&) = delete;

  /// stop ends the workers and joins them. Idempotent.
  void stop();
  ChurnTotals totals() const;

 private:
  void work(std::size_t worker);
  bool one_client(bool reset, std::string& error);

  Endpoint endpoint_;
  std::string transport_;
  double rate_;
  std::size_t workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> connects_{0}, errors_{0};
  mutable std::mutex mutex_;
  std::string first_error_;
  std::vector<std::thread> threads_;
};

/// server_metric reads one `name{transport="..."}` value from the server's /metrics; -1 when
/// it cannot.
std::int64_t server_metric(const Endpoint& endpoint, const std::string& name,
                           const std::string& transport);

}  // namespace tickcast::bench
