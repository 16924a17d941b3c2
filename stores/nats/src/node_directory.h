#pragma once
// The cluster's nodes as their heartbeats show them: each node puts `node.<hex id>` (its
// page's URL, its role, its wall time) in the cluster's bucket every heartbeat and watches
// the others'.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "nats_link.h"
#include "tickcast/nats/cluster_node.h"

namespace tickcast::nats {

/// NodeDirectory: beat() and poll() from one thread; nodes() from any.
class NodeDirectory {
 public:
  /// NodeDirectory watches the bucket's node keys; throws std::runtime_error if it cannot.
  NodeDirectory(kvStore* kv, std::string node_id);
  ~NodeDirectory();
  NodeDirectory(const NodeDirectory&) = delete;
  NodeDirectory& operator=(const NodeDirectory&) = delete;

  /// beat puts this node's heartbeat.
  void beat(const std::string& url, const std::string& role);
  /// poll takes the heartbeats that arrive within `wait`.
  void poll(std::chrono::milliseconds wait);
  /// nodes returns every node seen; alive: heard from within three `heartbeat`s.
  std::vector<NodeSeen> nodes(std::chrono::milliseconds heartbeat) const;
  /// leave deletes this node's key (a clean stop).
  void leave();

 private:
  struct Beat {
    std::string url;
    std::string role;
    std::int64_t wall_us = 0;
  };
  using WatcherPtr = std::unique_ptr<kvWatcher, Deleter<kvWatcher, kvWatcher_Destroy>>;
  kvStore* kv_;
  std::string id_;
  std::string key_;
  WatcherPtr watcher_;
  mutable std::mutex mutex_;
  std::map<std::string, Beat> beats_;  // by node id
};

}  // namespace tickcast::nats
