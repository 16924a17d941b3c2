#pragma once
// The cluster's writer lease: one key-value entry that names the node allowed to write
// rooms. It is held by updating it with its revision (compare-and-set), never judged by
// TTL expiry (unreliable across replicas in nats-server 2.9, nats-server#3653): another
// node takes it only after seeing its revision unchanged for the lease time on its own
// monotonic clock, while its own link works. The entry is read from its stream's leader,
// never by a direct get: after a leader change nats-server 2.9.10's replicas can hold the
// same entry under different revisions, and direct gets answered by turns from each made
// the revision seem to change forever (no node ever took the lease over).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "nats_link.h"

namespace tickcast::nats {

/// NodeLease holds or waits for the lease. Threads: acquire and renew from any one thread at
/// a time (a mutex orders them with the renewing thread); holder() from any.
class NodeLease {
 public:
  using Clock = std::chrono::steady_clock;
  /// `on_lost` runs on the renewing thread when the lease is found lost.
  /// `kv` is the bucket named `bucket` of JetStream context `js`.
  NodeLease(kvStore* kv, jsCtx* js, const std::string& bucket, std::string key, std::string node_id,
            std::chrono::milliseconds lease, std::function<void(const std::string&)> on_lost);
  ~NodeLease();
  NodeLease(const NodeLease&) = delete;
  NodeLease& operator=(const NodeLease&) = delete;

  /// acquire blocks until this node holds the lease, then keeps renewing it every third of
  /// the lease time on a thread of its own. `waiting` is called once with the holder's name
  /// when another node holds it.
  /// Returns false, not holding it, as soon as `cancelled` returns true.
  bool acquire(const std::function<void(const std::string&)>& waiting,
               const std::function<bool()>& cancelled);
  /// confirm returns at once while the lease was renewed recently; else it renews it now,
  /// waiting (for at most 60 s) while the engine does not answer (an election). Returns
  /// why the lease is lost (another node took it), if so.
  std::optional<std::string> confirm();
  bool held() const { return held_.load(); }
  /// fresh: held and renewed within 80 % of the lease time. Any thread; never blocks.
  bool fresh() const;

 private:
  enum class Renewal { renewed, taken, unreachable };
  Renewal renew(std::string& why);
  void renew_loop();
  /// Entry is the lease as the stream's leader has it (`holder`: the whole value).
  struct Entry {
    std::uint64_t revision = 0;
    std::string holder;
    /// node is the holder's node id (the value is the id, '\n', a per-process token).
    std::string node() const { return holder.substr(0, holder.find('\n')); }
  };
  std::optional<Entry> read();
  kvStore* kv_;
  jsCtx* js_;
  std::string stream_;   // KV_<bucket>
  std::string subject_;  // $KV.<bucket>.<key>
  std::string key_;
  std::string node_id_;
  // What the entry holds: the node's id, a newline, and a random token of this process, so
  // that a node sharing another's id never mistakes that node's lease for its own.
  std::string value_;
  std::chrono::milliseconds lease_;
  std::function<void(const std::string&)> on_lost_;
  std::mutex mutex_;  // orders renew() between the Hub's commits and the renewing thread
  std::uint64_t revision_ = 0;
  std::atomic<Clock::time_point> renewed_at_{};  // read by fresh() without the mutex
  std::atomic<bool> held_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread renewer_;
};

}  // namespace tickcast::nats
