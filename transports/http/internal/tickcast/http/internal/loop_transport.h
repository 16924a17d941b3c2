#pragma once
// The body every transport on the http::Server's loop shares (ws, sse, longpoll, socketio):
// its sink, its Fanout, start/stop/publish/stats and the reply channel. A transport derives
// its Impl from LoopTransport and writes only its endpoint (the handshake), frame() and its
// writable callback.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tickcast/http/internal/loop.h"
#include "tickcast/http/internal/session_table.h"
#include "tickcast/transport/fanout.h"

namespace tickcast::http::internal {

/// LoopSession is one connection of a loop transport: the fan-out's part, the loop's part,
/// its socket, and the transport state it keeps alive.
/// Threads: the service thread.
struct LoopSession : FanoutSession, Session {
  using FanoutSession::FanoutSession;
  lws* wsi = nullptr;
  std::shared_ptr<void> keep_alive;  // the loop may call the session after stop()
  bool subscribed = true;  ///< the sink heard on_subscribe for it (and hears on_unsubscribe)
};

/// LoopTransport is the shared part of a loop transport's Impl. Derived provides
/// `void on_join(S&, JoinReply)`, `void on_deliver(S&, const std::vector<Message>&)`,
/// `void close_gracefully(S&)` (at stop()) and `const void* endpoint()` (what it
/// registered with the loop), and the FanoutHooks' frame().
/// Threads: start()/stop() from the owning thread; publish() and stats() from any; the rest
/// on the service thread.
template <class Derived, class S>
class LoopTransport : public FanoutHooks<S>, public std::enable_shared_from_this<Derived> {
 public:
  explicit LoopTransport(http::Server& server) : server(server), fanout(*this) {}

  // -- service thread
  /// join runs the session's join reply (posted by its LoopClient).
  void join(std::uint64_t id, JoinReply reply) {
    if (S* session = fanout.find(id)) derived().on_join(*session, std::move(reply));
  }
  /// deliver runs replies to one session (posted by its LoopClient).
  void deliver(std::uint64_t id, std::vector<Message> messages) {
    if (S* session = fanout.find(id)) derived().on_deliver(*session, messages);
  }
  /// fan_out runs one publish: the event is framed once for the whole room, and written to
  /// each session at once where the connection allows it (Loop::write_now).
  void fan_out(const std::string& room, const Message& message) {
    in_fan_out_ = true;
    fanout.publish(room, message, std::chrono::steady_clock::now());
    in_fan_out_ = false;
  }
  /// admit files a new session, makes its reply channel and keeps the transport alive for it.
  S& admit(std::unique_ptr<S> fresh, lws* wsi, std::string_view name, std::string peer) {
    fresh->wsi = wsi;
    fresh->keep_alive = this->shared_from_this();
    S& session = fanout.add(std::move(fresh));
    session.client = std::make_shared<LoopClient<Derived>>(
        this->weak_from_this(), server.loop().weak_from_this(), session.id, name, std::move(peer));
    return session;
  }
  /// closed forgets a session whose connection is gone: the sink hears of it once.
  void closed(S& session) {
    auto keep = session.keep_alive;  // `session` is destroyed inside remove()
    if (sink && session.subscribed) sink->on_unsubscribe(session.room, session.client);
    fanout.remove(session);
  }
  /// accepting tells whether new clients are let in now.
  bool accepting() const { return sink && fanout.counters.accepting; }

  // FanoutHooks: the loop's defaults.
  void wake(S& session) override { wake_connection(session.wsi); }
  void close_stuck(S& session) override { close_now(session.wsi); }

  // -- owning thread
  /// start lets clients in; `attach` registers the endpoint on the loop (service thread).
  void start(Sink& to, const std::function<void()>& attach) {
    server.loop().run_sync([&] {
      sink = &to;
      fanout.counters.accepting = true;
      attach();
    });
  }
  /// stop closes every session (close_gracefully) and waits 2 s at most for them to go.
  void stop() {
    if (!sink) return;
    Loop& loop = server.loop();
    loop.run_sync([&] {
      fanout.counters.accepting = false;
      loop.remove_endpoint(derived().endpoint());
      for (S* session : fanout.all()) derived().close_gracefully(*session);
      if constexpr (requires { derived().on_stop(); }) derived().on_stop();
    });
    fanout.wait_empty(std::chrono::seconds(2));
    // Whatever did not close in time is dropped by the loop when the Server stops; from now
    // on nothing of ours is called.
    loop.run_sync([&] { sink = nullptr; });
  }
  /// publish posts the fan-out to the loop. Any thread.
  void publish(std::string_view room, const Message& message) {
    post_fan_out(server.loop(), this->shared_from_this(), room, message);
  }
  /// stats reads the counters. Any thread.
  TransportStats stats() const { return fanout.counters.stats(fanout.size()); }

  http::Server& server;
  Sink* sink = nullptr;
  Fanout<S> fanout;

 protected:
  /// wake_connection gets `wsi`'s queue written: at once in a fan-out (Loop::write_now),
  /// which runs from a posted task, outside every connection's callbacks; otherwise (joins
  /// and replies, which may run inside the connection's own callbacks) in its next
  /// writable callback.
  void wake_connection(lws* wsi) {
    if (in_fan_out_) {
      server.loop().write_now(wsi);
    } else {
      lws_callback_on_writable(wsi);
    }
  }
  /// in_fan_out tells whether fan_out() is under way.
  bool in_fan_out() const { return in_fan_out_; }

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
  bool in_fan_out_ = false;
};

}  // namespace tickcast::http::internal
