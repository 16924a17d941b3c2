#pragma once
// The transport layer's interface. A transport knows connections, rooms as subscription
// keys and opaque messages; it knows nothing about timers.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tickcast/transport/failure.h"
#include "tickcast/transport/message.h"

namespace tickcast {

/// JoinReply is the one answer to Sink::on_subscribe: what the client gets first, and the
/// position it leaves the client at. Room broadcasts reach the client only after it, and
/// only those after `position`.
struct JoinReply {
  /// messages: a snapshot, or the backlog the client missed (possibly none); on a refusal,
  /// the app's error message (MessageKind::error) for transports that send one.
  std::vector<Message> messages;
  /// position is the room's seq the client is at once it has `messages`: the snapshot's or
  /// the last missed message's seq, or the resume position when nothing was missed.
  std::uint64_t position = 0;
  /// refusal: the join is refused (overloaded, rate_limited, bad_room, ...). The transport
  /// answers in its own terms (an HTTP status, a close code) and the client never joins.
  std::optional<Failure> refusal;

  /// snapshot answers with the room's state as of its seq.
  static JoinReply snapshot(Message state) {
    const std::uint64_t at = state.seq;
    return JoinReply{{std::move(state)}, at, std::nullopt};
  }
  /// backlog answers a resume from `from` with what came after it (possibly nothing).
  static JoinReply backlog(std::vector<Message> missed, std::uint64_t from) {
    const std::uint64_t at = missed.empty() ? from : missed.back().seq;
    return JoinReply{std::move(missed), at, std::nullopt};
  }
  /// refused answers with `failure`; `error` is the app's look of it (may be null).
  static JoinReply refused(Failure failure, Payload error) {
    JoinReply reply{{}, 0, std::move(failure)};
    if (error) reply.messages.push_back(Message{0, std::move(error), false, MessageKind::error});
    return reply;
  }
};

/// Client is the reply channel of one connection: the join reply, then replies to it alone
/// (errors). It may outlive its connection; sends to a closed one are dropped.
/// Threads: join and send may be called from any thread and never block.
class Client {
 public:
  virtual ~Client() = default;
  /// join answers the client's on_subscribe, once. The transports' clients gate room
  /// broadcasts on it; the default hands the messages to send(), for clients that do not
  /// (test recorders, brokers).
  virtual void join(JoinReply reply) { send(std::move(reply.messages)); }
  /// send queues messages, in order, to this client only (errors, replies). It does not
  /// complete a join.
  virtual void send(std::vector<Message> messages) = 0;
  /// transport names the transport the client is on ("ws", "sse", ...).
  virtual std::string_view transport() const = 0;
  /// peer returns the client's network address ("127.0.0.1"), or a name standing for
  /// clients only known through a broker ("mqtt"); "" when unknown. The Hub limits how
  /// fast one peer creates rooms; "" is not limited (in-process callers, tests).
  virtual std::string_view peer() const { return {}; }
};

/// ClientRef is a shared handle to a Client.
using ClientRef = std::shared_ptr<Client>;

/// Sink is what a transport calls when clients join and send; the app (the Hub) implements it.
/// Threads: called from transport threads; implementations must not block.
class Sink {
 public:
  virtual ~Sink() = default;
  /// on_subscribe: `client` asks to join `room`. With resume_after, the client already has
  /// every message up to that seq and wants what came after. The sink answers once, with
  /// client->join (a snapshot, the missed messages, or a refusal), now or later.
  virtual void on_subscribe(std::string room, std::optional<std::uint64_t> resume_after,
                            ClientRef client) = 0;
  /// on_message: `client` sent `payload` (a command) to `room`. Errors go to client->send.
  virtual void on_message(std::string room, std::string payload, ClientRef client) = 0;
  /// on_unsubscribe: `client` left `room` (its connection closed, or its long-poll was
  /// answered). A transport calls it once for each on_subscribe, with the same client,
  /// after that on_subscribe and from a thread that orders the two (the Hub counts a
  /// room's clients with them). A transport that never calls it keeps its rooms alive.
  // By value like on_subscribe and on_message: an override may keep both.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): the interface's signature
  virtual void on_unsubscribe(std::string room, ClientRef client) { (void)room, (void)client; }
  /// encode_failure renders a transport-level failure met with one of this sink's clients
  /// (a message too large, rate limited, a bad room) in the app's wire shape; `request` is
  /// the offending input, if any. The default is generic_failure_body.
  virtual std::string encode_failure(const Failure& failure, std::string_view request) const {
    (void)request;
    return generic_failure_body(failure);
  }
};

/// TransportStats is what /metrics shows of a transport.
struct TransportStats {
  std::uint64_t clients = 0;              ///< connections open now
  std::uint64_t messages_sent = 0;        ///< messages written to clients
  std::uint64_t messages_dropped = 0;     ///< droppable messages lost to full queues
  std::uint64_t clients_refused = 0;      ///< connections refused (limits, bad input)
  std::uint64_t clients_closed_slow = 0;  ///< connections closed for being stuck
  bool accepting = false;                 ///< accepts clients now (for /healthz)
  /// upstream_connected is set by transports that depend on an upstream service (the MQTT
  /// broker): whether it is connected now. Shown in /healthz and /metrics.
  std::optional<bool> upstream_connected;
};

/// Transport is one way of reaching clients (ws, sse, longpoll, mqtt, ...).
/// Threads: start/stop from the owning thread; publish and stats from any thread.
class Transport {
 public:
  virtual ~Transport() = default;
  /// name returns the transport's short name, as in `--transport`.
  virtual std::string_view name() const = 0;
  /// start begins accepting clients; inbound joins and messages go to `sink`, which must
  /// outlive the transport's stop().
  virtual void start(Sink& sink) = 0;
  /// stop closes every client cleanly and joins the transport's threads. Idempotent.
  virtual void stop() = 0;
  /// publish fans `message` out to every client subscribed to `room`. Never blocks on a
  /// client; the payload is shared, not copied.
  virtual void publish(std::string_view room, const Message& message) = 0;
  /// room_created tells that `room` now exists, before its first publish; `snapshot` is its
  /// state then (a MessageKind::snapshot). For transports that keep a room's state
  /// for late subscribers (MQTT's retained state); the default ignores it. Same threads
  /// and rules as publish.
  virtual void room_created(std::string_view room, const Message& snapshot) {
    (void)room, (void)snapshot;
  }
  /// stats returns counters for /metrics.
  virtual TransportStats stats() const = 0;
  /// forget_room: `room` no longer exists (it was evicted when idle); drop what is kept
  /// for it. A later publish to the same name starts the room afresh.
  virtual void forget_room(std::string_view room) { (void)room; }
};

}  // namespace tickcast
