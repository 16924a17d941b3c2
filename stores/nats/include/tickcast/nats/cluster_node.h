#pragma once
// A node of a tickcast cluster: every node serves clients. The node holding the writer lease
// runs every room's timer and commits each event to JetStream; the others (followers) feed
// their local rooms from the stream, forward commands and new rooms to the writer over NATS
// request/reply, and one of them takes over when the writer stops renewing its lease.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tickcast/core/writer_link.h"
#include "tickcast/nats/nats_store.h"

namespace tickcast {
class Hub;
}

namespace tickcast::nats {

/// NodeSeen is a node as its heartbeats in the cluster's bucket show it.
struct NodeSeen {
  std::string id;
  std::string url;
  std::string role;         ///< "writer" or "follower"
  std::int64_t age_ms = 0;  ///< since its last heartbeat, by its own wall clock
  bool alive = false;       ///< heard from within three heartbeats
};

/// ClusterStatus is what /api/cluster, /healthz and /metrics show of the cluster.
struct ClusterStatus {
  std::string node;
  std::string role;    ///< "writer" or "follower"
  std::string writer;  ///< the live node that says it is the writer ("" if none now)
  std::vector<NodeSeen> nodes;
  std::uint64_t feed_lag = 0;          ///< stream messages the follower's feed is behind
  bool feed_wedged = false;            ///< behind for longer than the bound: unhealthy
  std::uint64_t feed_restarts = 0;     ///< feeds recreated by the position check
  std::uint64_t forward_failures = 0;  ///< forwarded requests no writer answered
  std::uint64_t forward_resends = 0;   ///< sent again: no node served them (a takeover)
};

/// ClusterTimes bounds the node's waits.
struct ClusterTimes {
  std::chrono::milliseconds forward_timeout{3000};  ///< a forwarded command's answer
  std::chrono::milliseconds heartbeat{1000};        ///< node heartbeats, position checks
  std::chrono::milliseconds lag_bound{3000};        ///< the feed may stay behind this long
};

/// ClusterNode runs this node's part of the cluster. Threads: join() and start() from the
/// main thread, in that order; status() and the WriterLink calls from any.
class ClusterNode final : public WriterLink {
 public:
  /// ClusterNode connects (a link of its own) to the cluster of `store`; throws
  /// NatsOpenError.
  ClusterNode(NatsRoomStore& store, const NatsOptions& options, ClusterTimes times = {});
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  /// join takes the writer lease if no other node holds it (true: this node is the writer)
  /// or becomes a follower (false; `holder` names the writer). `lost` as for
  /// NatsRoomStore::hold_lease. Call it before the Hub loads the rooms: a follower's feed
  /// starts after the stream's last message as of now.
  bool join(std::function<void(const std::string&)> lost, std::string& holder);
  /// start runs the node with `hub` (made with this node as its writer_link when it is a
  /// follower). `url` is this node's page, shown to other nodes. `promoted` is called when a
  /// follower has taken over as the writer.
  void start(Hub& hub, std::string url, std::function<void()> promoted);
  /// stop ends the node's threads and subscriptions; the Hub gets nothing more. Idempotent.
  void stop();
  ClusterStatus status() const;
  /// is_writer tells whether this node holds the writer lease now. Any thread; cheap.
  bool is_writer() const;
  /// may_publish: the writer, with its lease renewed recently. A writer that was stopped
  /// past its lease (SIGSTOP) hands nothing more to a broker it shares with the new writer
  /// before it finds out and exits. Any thread; never blocks.
  bool may_publish() const;

  // WriterLink (a follower's Hub)
  void forward_command(const std::string& room, const std::string& payload, const std::string& peer,
                       CommandDone done) override;
  void forward_join(const std::string& room, const std::string& peer, RoomDone done) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickcast::nats
