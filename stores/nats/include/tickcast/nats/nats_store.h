#pragma once
// The cluster room store: rooms' events in a JetStream stream (one subject per room, history
// kept per subject), rooms' records in a JetStream key-value bucket. A commit is "publish
// with history", a load is "history of every room", as room_store.h foresees.

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tickcast/core/room_store.h"

namespace tickcast::nats {

/// NatsOpenError says why the cluster cannot be used (no server answers, JetStream off, the
/// stream or bucket cannot be created); its message names the servers and the reason.
class NatsOpenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// NatsOptions: where the engine is and how the cluster's stream is shaped.
struct NatsOptions {
  std::vector<std::string> servers;  ///< nats://host:port URLs
  std::string cluster = "tickcast";  ///< names the stream and bucket (letters, digits, _)
  std::string node_id;               ///< this node, as other nodes see it
  int replicas = 1;                  ///< 3 on a 3-server cluster, 1 on one server
  std::size_t history = 256;         ///< events kept per room (the Hub's history capacity)
  int request_timeout_ms = 5000;     ///< for each publish and key-value request
  int lease_ms = 3000;               ///< a writer lease not renewed this long passes on
};

/// parse_servers splits "nats://a:1,nats://b:2" into URLs; empty items are skipped.
std::vector<std::string> parse_servers(const std::string& list);

/// NatsRoomStore keeps the rooms of one cluster in JetStream. Each event is published to
/// `tickcast.CLUSTER.ev.HEXROOM` with `Nats-Msg-Id` = room:seq (a retried publish is not
/// stored twice) and its seq in a `Tc-Seq` header; the stream keeps `history` messages per
/// subject. Records are key-value entries (`r_HEXROOM`); `meta_last_commit` holds the wall
/// time of the last commit. A commit publishes events first, then records, so a record never
/// names a seq whose event is missing; JetStream has no multi-message transaction, so a
/// commit that fails half-way may leave some of its events stored: they are contiguous
/// after the last committed seq, and the Hub renumbers the rest from a new base (a new
/// epoch), so no seq is ever stored with two payloads.
/// Threads: as RoomStore (the Hub's strand); cnats runs its own threads inside.
class NatsRoomStore final : public RoomStore {
 public:
  /// open connects, creates or updates the stream and bucket; throws NatsOpenError.
  static std::unique_ptr<NatsRoomStore> open(const NatsOptions& options);
  ~NatsRoomStore() override;
  NatsRoomStore(const NatsRoomStore&) = delete;
  NatsRoomStore& operator=(const NatsRoomStore&) = delete;

  StoreContents load(std::size_t history) override;
  std::optional<std::string> commit(const StoreBatch& batch, std::size_t history) override;
  bool durable() const override { return true; }

  /// hold_lease blocks until this node holds the cluster's writer lease (another node may
  /// hold it: then it waits until that node stops renewing it for lease_ms, and calls
  /// `waiting` once with its name). From then on every commit first checks the lease; when
  /// it is found lost (here or on the renewing thread), `lost` is called with the reason
  /// before anything more is written or published: it must end the process (fail-stop), so
  /// that a stale writer (a SIGSTOP past its lease) never reaches a client. Without
  /// hold_lease, commits are not fenced (one node at a time is the caller's business).
  /// Returns false as soon as `cancelled` returns true while waiting (a standby told to stop).
  bool hold_lease(const std::function<void(const std::string&)>& waiting,
                  std::function<void(const std::string&)> lost,
                  const std::function<bool()>& cancelled);
  /// lease_fresh tells whether this node holds the lease and renewed it within 80 % of the
  /// lease time (what a commit checks first). Any thread; never blocks. Call it only after
  /// hold_lease returned true.
  bool lease_fresh() const;
  /// connected tells whether the link to the engine is up now (any thread).
  bool connected() const override;
  /// stream_name and bucket_name name what this store uses in JetStream.
  const std::string& stream_name() const;
  const std::string& bucket_name() const;

 private:
  struct Impl;
  explicit NatsRoomStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickcast::nats
