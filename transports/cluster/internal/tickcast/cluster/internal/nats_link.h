#pragma once
// RAII for cnats handles, and the connection to the engine with its JetStream context:
// shared by the backplane (tickcast::cluster) and the cluster room store (tickcast::nats).
// Not installed.

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tickcast::cluster {

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};

using OptionsPtr = std::unique_ptr<natsOptions, Deleter<natsOptions, natsOptions_Destroy>>;
using ConnectionPtr =
    std::unique_ptr<natsConnection, Deleter<natsConnection, natsConnection_Destroy>>;
using JsPtr = std::unique_ptr<jsCtx, Deleter<jsCtx, jsCtx_Destroy>>;
using KvPtr = std::unique_ptr<kvStore, Deleter<kvStore, kvStore_Destroy>>;
using KvEntryPtr = std::unique_ptr<kvEntry, Deleter<kvEntry, kvEntry_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, Deleter<natsMsg, natsMsg_Destroy>>;
using SubPtr =
    std::unique_ptr<natsSubscription, Deleter<natsSubscription, natsSubscription_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Deleter<jsPubAck, jsPubAck_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Deleter<jsStreamInfo, jsStreamInfo_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Deleter<jsMsgMetaData, jsMsgMetaData_Destroy>>;

/// status_text names a cnats status with the library's last error text, if any.
std::string status_text(natsStatus s);

/// check throws std::runtime_error naming `what` when `s` is not NATS_OK.
void check(natsStatus s, const std::string& what);

/// Link is one connection to the engine (reconnecting forever) and its JetStream context.
/// Threads: connected() from any thread; the handles are thread-safe cnats objects.
class Link {
 public:
  /// Link connects to `servers`; throws std::runtime_error with the reason.
  Link(const std::vector<std::string>& servers, const std::string& name, int timeout_ms);
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link();

  bool connected() const { return connected_.load(); }
  natsConnection* connection() const { return nc_.get(); }
  jsCtx* js() const { return js_.get(); }

 private:
  static void on_disconnected(natsConnection*, void* self);
  static void on_reconnected(natsConnection*, void* self);
  static void on_closed(natsConnection*, void* self);
  std::atomic<bool> connected_{false};
  // cnats calls back on a thread of its own after Close returns: the destructor waits for
  // the closed callback (the last one) before this object goes away.
  std::mutex closed_mutex_;
  std::condition_variable closed_cv_;
  bool closed_ = false;
  ConnectionPtr nc_;
  JsPtr js_;
};

}  // namespace tickcast::cluster
