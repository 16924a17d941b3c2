#pragma once
// What the loop transports (ws, sse, longpoll, socketio) share beyond the fan-out (the
// transport layer's Fanout): the reply channel on the loop, and socket helpers.

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
#include "tickcast/transport/fanout.h"
#include "tickcast/transport/session_table.h"
#include "tickcast/transport/transport.h"

namespace tickcast::http::internal {

using tickcast::SessionTable;

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
/// reach it anyway. Once per stuck client, never per event (Loop::close_soon).
/// Threads: the service thread.
inline void close_now(lws* wsi) { Loop::close_soon(wsi); }

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

/// Counters is what a loop transport reports in stats(): the fan-out's counters.
using Counters = FanoutCounters;

}  // namespace tickcast::http::internal
