#include "node_lease.h"

namespace tickcast::nats {

NodeLease::NodeLease(kvStore* kv, std::string key, std::string node_id,
                     std::chrono::milliseconds lease,
                     std::function<void(const std::string&)> on_lost)
    : kv_(kv),
      key_(std::move(key)),
      node_id_(std::move(node_id)),
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

void NodeLease::acquire(const std::function<void(const std::string&)>& waiting) {
  std::uint64_t seen_revision = 0;
  Clock::time_point seen_since = Clock::now();
  bool told = false;
  for (;;) {
    std::uint64_t rev = 0;
    const auto sent = Clock::now();
    const int len = static_cast<int>(node_id_.size());
    if (kvStore_Create(&rev, kv_, key_.c_str(), node_id_.data(), len) == NATS_OK) {
      std::lock_guard lock(mutex_);
      revision_ = rev;
      renewed_at_ = sent;
      break;
    }
    kvEntry* raw = nullptr;
    const natsStatus s = kvStore_Get(&raw, kv_, key_.c_str());
    KvEntryPtr entry(raw);
    if (s == NATS_OK) {
      const std::uint64_t revision = kvEntry_Revision(entry.get());
      const std::string holder(static_cast<const char*>(kvEntry_Value(entry.get())),
                               static_cast<std::size_t>(kvEntry_ValueLen(entry.get())));
      const auto now = Clock::now();
      if (revision != seen_revision) {
        seen_revision = revision;
        seen_since = now;  // the holder renewed: wait a whole lease time again
      }
      // Our own former lease (a restart of this node) or one left unrenewed for a lease time
      // as our clock measures it: take it over by revision. Two nodes trying at once: the
      // revision check lets one through.
      if (holder == node_id_ || now - seen_since >= lease_) {
        const auto update_sent = Clock::now();
        if (kvStore_Update(&rev, kv_, key_.c_str(), node_id_.data(),
                           static_cast<int>(node_id_.size()), revision) == NATS_OK) {
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
    std::unique_lock lock(stop_mutex_);
    if (stop_cv_.wait_for(lock, lease_ / 10, [&] { return stopping_; })) return;
  }
  held_ = true;
  renewer_ = std::thread([this] { renew_loop(); });
}

std::optional<std::string> NodeLease::check() {
  std::lock_guard lock(mutex_);
  if (!held_) return "the cluster lease is not held by this node";
  // renewed_at_ is taken before the update is sent, so it is never later than the time
  // another node first saw that revision: a fifth of the lease is left for clock drift.
  if (Clock::now() - renewed_at_ >= lease_ - lease_ / 5) {
    held_ = false;
    return "the cluster lease was not renewed for " + std::to_string(lease_.count()) + " ms";
  }
  return std::nullopt;
}

std::optional<std::string> NodeLease::renew() {
  if (auto lost = check()) return lost;
  std::lock_guard lock(mutex_);
  const auto sent = Clock::now();
  std::uint64_t rev = 0;
  const natsStatus s = kvStore_Update(&rev, kv_, key_.c_str(), node_id_.data(),
                                      static_cast<int>(node_id_.size()), revision_);
  if (s == NATS_OK) {
    revision_ = rev;
    renewed_at_ = sent;
    return std::nullopt;
  }
  // A wrong revision means another node took it; a timeout leaves it ours until the lease
  // time runs out (check() says so then).
  const char* last = nats_GetLastError(nullptr);
  const std::string why = last ? last : natsStatus_GetText(s);
  if (why.find("wrong last sequence") != std::string::npos) {
    held_ = false;
    return "the cluster lease was taken by another node";
  }
  return "cannot renew the cluster lease: " + why;
}

void NodeLease::renew_loop() {
  for (;;) {
    {
      std::unique_lock lock(stop_mutex_);
      if (stop_cv_.wait_for(lock, lease_ / 3, [&] { return stopping_; })) return;
    }
    const auto failure = renew();
    if (failure && !held_) {
      on_lost_(*failure);
      return;
    }
  }
}

}  // namespace tickcast::nats
