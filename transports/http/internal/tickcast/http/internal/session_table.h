#pragma once
// What every loop transport (ws, sse, longpoll) keeps the same way: its sessions by id
// and by room, the reply channel it gives the Hub, and its counters.

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tickcast/http/internal/loop.h"
#include "tickcast/transport/transport.h"

namespace tickcast::http::internal {

/// SessionTable owns one transport's sessions, by id and by room (for fan-out, with O(1)
/// removal), and lets stop() wait until they are gone. S has members
/// `std::uint64_t id; std::string room; std::size_t room_index;`.
/// Threads: the service thread, except size() and wait_empty() (any thread).
template <class S>
class SessionTable {
 public:
  /// add gives `session` an id, files it under its room and returns it.
  S& add(std::unique_ptr<S> session) {
    S& s = *session;
    s.id = next_id_++;
    auto& members = by_room_[s.room];
    s.room_index = members.size();
    members.push_back(&s);
    by_id_.emplace(s.id, std::move(session));
    count_ = by_id_.size();
    return s;
  }

  /// remove unfiles and destroys `session`.
  void remove(S& session) {
    if (auto room = by_room_.find(session.room); room != by_room_.end()) {
      auto& members = room->second;
      members[session.room_index] = members.back();
      members[session.room_index]->room_index = session.room_index;
      members.pop_back();
      if (members.empty()) by_room_.erase(room);
    }
    by_id_.erase(session.id);
    count_ = by_id_.size();
    if (count_ == 0) {
      std::lock_guard lock(mutex_);
      empty_.notify_all();
    }
  }

  /// find returns the session with `id`, or nullptr once it is gone.
  S* find(std::uint64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second.get();
  }

  /// members returns the room's sessions. Valid until the next add() or remove(), which
  /// only the loop's connection callbacks do, never a fan-out.
  const std::vector<S*>& members(const std::string& room) const {
    static const std::vector<S*> none;
    auto it = by_room_.find(room);
    return it == by_room_.end() ? none : it->second;
  }

  /// all returns every session.
  std::vector<S*> all() const {
    std::vector<S*> out;
    out.reserve(by_id_.size());
    for (const auto& [id, session] : by_id_) out.push_back(session.get());
    return out;
  }

  /// size counts the sessions.
  std::size_t size() const { return count_; }

  /// wait_empty waits until every session is gone; false on timeout.
  bool wait_empty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return empty_.wait_for(lock, timeout, [&] { return count_ == 0; });
  }

 private:
  std::unordered_map<std::uint64_t, std::unique_ptr<S>> by_id_;
  std::unordered_map<std::string, std::vector<S*>> by_room_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
  std::condition_variable empty_;
};

/// LoopClient is the reply channel the Hub gets for a loop session: join() and send() post
/// to the loop, where Impl::join(id, reply) and Impl::deliver(id, messages) run.
/// Threads: join() and send() from any thread.
template <class Impl>
class LoopClient final : public Client {
 public:
  /// LoopClient of session `id`; `peer` is the remote address (http::Request::peer).
  LoopClient(std::weak_ptr<Impl> impl, std::weak_ptr<Loop> loop, std::uint64_t id,
             std::string_view transport, std::string peer)
      : impl_(std::move(impl)),
        loop_(std::move(loop)),
        id_(id),
        transport_(transport),
        peer_(std::move(peer)) {}

  void join(JoinReply reply) override {
    if (auto loop = loop_.lock()) {
      loop->post([impl = impl_, id = id_, reply = std::move(reply)]() mutable {
        if (auto strong = impl.lock()) strong->join(id, std::move(reply));
      });
    }
  }
  void send(std::vector<Message> messages) override {
    if (auto loop = loop_.lock()) {
      loop->post([impl = impl_, id = id_, messages = std::move(messages)]() mutable {
        if (auto strong = impl.lock()) strong->deliver(id, std::move(messages));
      });
    }
  }
  std::string_view transport() const override { return transport_; }
  std::string_view peer() const override { return peer_; }

 private:
  std::weak_ptr<Impl> impl_;
  std::weak_ptr<Loop> loop_;
  std::uint64_t id_;
  std::string_view transport_;
  std::string peer_;
};

/// post_fan_out posts Impl::fan_out(room, message) to the loop; a transport already gone
/// is skipped. Threads: any.
template <class Impl>
void post_fan_out(Loop& loop, const std::shared_ptr<Impl>& impl, std::string_view room,
                  const Message& message) {
  loop.post([weak = std::weak_ptr<Impl>(impl), room = std::string(room), message] {
    if (auto strong = weak.lock()) strong->fan_out(room, message);
  });
}

/// close_now closes a connection on the loop's next round rather than from a WRITEABLE
/// callback: a client that stopped reading keeps its socket choked, and no close frame can
/// reach it anyway. One lws timeout set once per stuck client, never per event.
/// Threads: the service thread.
inline void close_now(lws* wsi) {
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/// bound_send_buffer caps the kernel's send buffer of a streaming connection (0 leaves the
/// kernel's autotuning, which lets one client that stops reading pin megabytes of kernel
/// memory and hides it from the outbox for thousands of events). Events are a few hundred
/// bytes, so 16 KiB (Linux doubles it) still holds a hundred of them, and the outbox holds
/// more, for a reader that is merely slow.
inline void bound_send_buffer(lws* wsi, std::size_t bytes) {
  if (bytes == 0) return;
  const int value = static_cast<int>(bytes);
  ::setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &value, sizeof value);
}

/// Counters is what a loop transport reports in stats(). Threads: any.
struct Counters {
  std::atomic<std::uint64_t> sent{0}, dropped{0}, refused{0}, closed_slow{0};
  std::atomic<bool> accepting{false};

  /// stats fills TransportStats, with `clients` open now.
  TransportStats stats(std::size_t clients) const {
    TransportStats s;
    s.clients = clients;
    s.messages_sent = sent;
    s.messages_dropped = dropped;
    s.clients_refused = refused;
    s.clients_closed_slow = closed_slow;
    s.accepting = accepting;
    return s;
  }
};

}  // namespace tickcast::http::internal
