#include "node_lease.h"

#include <random>

namespace tickcast::nats {

NodeLease::NodeLease(kvStore* kv, jsCtx* js, const std::string& bucket, std::string key,
                     std::string node_id, std::chrono::milliseconds lease,
                     std::function<void(const std::string&)> on_lost)
    : kv_(kv),
      js_(js),
      stream_("KV_" + bucket),
      subject_("$KV." + bucket + "." + key),
      key_(std::move(key)),
      node_id_(std::move(node_id)),
      value_(node_id_ + '\n' + std::to_string(std::random_device{}()) +
             std::to_string(std::random_device{}())),
      lease_(lease),
      on_lost_(std::move(on_lost)) {}

NodeLease::~NodeLease() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

bool NodeLease::acquire(const std::function<void(const std::string&)>& waiting,
                        const std::function<bool()>& cancelled) {
  std::uint64_t seen_revision = 0;
  Clock::time_point seen_since = Clock::now();
  bool told = false;
  for (;;) {
    std::uint64_t rev = 0;
    const auto sent = Clock::now();
    const int len = static_cast<int>(value_.size());
    if (kvStore_Create(&rev, kv_, key_.c_str(), value_.data(), len) == NATS_OK) {
      std::lock_guard lock(mutex_);
      revision_ = rev;
      renewed_at_ = sent;
      break;
    }
    if (const auto entry = read()) {
      const std::uint64_t revision = entry->revision;
      const std::string holder = entry->node();
      const auto now = Clock::now();
      if (revision != seen_revision) {
        seen_revision = revision;
        seen_since = now;  // the holder renewed: wait a whole lease time again
      }
      // A lease left unrenewed for a lease time as our clock measures it: take it over by
      // revision (two nodes trying at once: the revision check lets one through). Not even
      // a lease naming this node's id is taken sooner: two nodes may share an id.
      if (now - seen_since >= lease_) {
        const auto update_sent = Clock::now();
        if (kvStore_Update(&rev, kv_, key_.c_str(), value_.data(), len, revision) == NATS_OK) {
          std::lock_guard lock(mutex_);
          revision_ = rev;
          renewed_at_ = update_sent;
          break;
        }
      }
      if (!told && holder != node_id_) {
        told = true;
        waiting(holder);
      }
    } else {
      // No answer (the link is down, or a deleted entry): start the wait over; a lease is
      // never judged dead while we cannot see it.
      seen_revision = 0;
      seen_since = Clock::now();
    }
    if (cancelled()) return false;
    std::unique_lock lock(stop_mutex_);
    if (stop_cv_.wait_for(lock, lease_ / 10, [&] { return stopping_; })) return false;
  }
  held_ = true;
  renewer_ = std::thread([this] { renew_loop(); });
  return true;
}

bool NodeLease::fresh() const {
  // Without the mutex: renew() holds it across a request to the engine, and fresh() is
  // asked on the hot path (before an event is handed to a shared MQTT broker).
  // renewed_at_ is taken before the update is sent, so it is never later than the time
  // another node first saw that revision: a fifth of the lease is left for clock drift.
  return held_ && Clock::now() - renewed_at_.load() < lease_ - lease_ / 5;
}

NodeLease::Renewal NodeLease::renew(std::string& why) {
  std::lock_guard lock(mutex_);
  if (!held_) {
    why = "the cluster lease is not held by this node";
    return Renewal::taken;
  }
  const auto sent = Clock::now();
  std::uint64_t rev = 0;
  const natsStatus s = kvStore_Update(&rev, kv_, key_.c_str(), value_.data(),
                                      static_cast<int>(value_.size()), revision_);
  if (s == NATS_OK) {
    revision_ = rev;
    renewed_at_ = sent;
    return Renewal::renewed;
  }
  // A wrong revision: another node took it, or the new stream leader numbers the entry
  // differently (replicas that diverged across a leader change): the leader's copy says
  // which. Anything else (a timeout, an election): the lease stays ours as long as nobody
  // else can update it, which they cannot either.
  const char* last = nats_GetLastError(nullptr);
  why = last ? last : natsStatus_GetText(s);
  if (why.find("wrong last sequence") != std::string::npos) {
    const auto entry = read();
    if (!entry) {
      why = "cannot renew the cluster lease: " + why;
      return Renewal::unreachable;
    }
    if (entry->holder == value_) {
      revision_ = entry->revision;  // still this process's, numbered anew: renewed next time
      return Renewal::unreachable;
    }
    held_ = false;
    why = "the cluster lease was taken by another node (" + entry->node() + ")";
    return Renewal::taken;
  }
  why = "cannot renew the cluster lease: " + why;
  return Renewal::unreachable;
}

std::optional<std::string> NodeLease::confirm() {
  if (fresh()) return std::nullopt;
  // Not renewed for most of the lease time (a SIGSTOP, an election, a lost link): write
  // nothing until the engine confirms the lease is still ours, or says it is not.
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    std::string why;
    switch (renew(why)) {
      case Renewal::renewed:
        return std::nullopt;
      case Renewal::taken:
        return why;
      case Renewal::unreachable:
        if (Clock::now() > give_up) {
          std::lock_guard lock(mutex_);
          held_ = false;
          return why + " for 60 s";
        }
        break;
    }
    std::unique_lock lock(stop_mutex_);
    if (stop_cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stopping_; })) {
      return "stopping";
    }
  }
}

void NodeLease::renew_loop() {
  for (;;) {
    {
      std::unique_lock lock(stop_mutex_);
      if (stop_cv_.wait_for(lock, lease_ / 3, [&] { return stopping_; })) return;
    }
    std::string why;
    if (renew(why) == Renewal::taken) {
      on_lost_(why);
      return;
    }
  }
}

std::optional<NodeLease::Entry> NodeLease::read() {
  natsMsg* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetLastMsg(&raw, js_, stream_.c_str(), subject_.c_str(), nullptr, &code);
  MsgPtr msg(raw);
  if (s != NATS_OK) return std::nullopt;
  const char* operation = nullptr;
  if (natsMsgHeader_Get(msg.get(), "KV-Operation", &operation) == NATS_OK) {
    return std::nullopt;  // a delete or purge marker: no holder
  }
  return Entry{natsMsg_GetSequence(msg.get()),
               std::string(natsMsg_GetData(msg.get()),
                           static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())))};
}

}  // namespace tickcast::nats
