#include "tickcast/nats/cluster_node.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "command_dedup.h"
#include "command_wire.h"
#include "event_feed.h"
#include "forwarder.h"
#include "nats_link.h"
#include "node_directory.h"
#include "tickcast/core/hub.h"
#include "tickcast/core/protocol.h"

namespace tickcast::nats {

struct ClusterNode::Impl {
  NatsRoomStore& store;
  NatsOptions options;
  ClusterTimes times;
  std::unique_ptr<Link> link;
  KvPtr kv;
  std::string stream;
  std::string prefix;       // tickcast.CLUSTER.ev.
  std::string cmd_subject;  // tickcast.CLUSTER.cmd
  std::function<void(const std::string&)> lost;
  std::uint64_t feed_from = 0;
  Hub* hub = nullptr;
  std::string url;
  std::atomic<bool> writer{false};
  std::unique_ptr<Forwarder> forwarder;
  // Forwarded commands are numbered under a random prefix of this process: ids no other
  // process (and no earlier run of this node) gives.
  std::string command_prefix =
      std::to_string(std::random_device{}()) + "." + std::to_string(std::random_device{}()) + ".";
  std::atomic<std::uint64_t> next_command{1};
  CommandDedup dedup{std::chrono::seconds(60)};
  // Fault injection (tests): TICKCAST_FAULT_FORWARD_ANSWER=drop loses the writer's answer to
  // the first forwarded command (after running it); =exit ends the process there instead.
  std::atomic<bool> answer_fault_armed{fault_answer() != nullptr};
  std::unique_ptr<NodeDirectory> directory;
  mutable std::mutex feed_mutex;  // guards feed and the position check's figures
  std::unique_ptr<EventFeed> feed;
  std::uint64_t feed_lag = 0;
  bool feed_wedged = false;
  std::uint64_t feed_restarts = 0;
  std::uint64_t check_target = 0;                       // a last sequence the feed must reach...
  std::chrono::steady_clock::time_point check_since{};  // ...and since when it was
  std::mutex cmd_mutex;
  SubPtr cmd_sub;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread monitor;
  std::thread promoter;

  Impl(NatsRoomStore& s, const NatsOptions& o, ClusterTimes t) : store(s), options(o), times(t) {}

  static const char* fault_answer() { return std::getenv("TICKCAST_FAULT_FORWARD_ANSWER"); }

  bool stopped() {
    std::lock_guard lock(stop_mutex);
    return stopping;
  }

  // The writer answers forwarded requests: one subscription on the cluster's command
  // subject, held only while this node holds the lease.
  void serve_commands() {
    natsSubscription* raw = nullptr;
    const natsStatus s = natsConnection_Subscribe(&raw, link->connection(), cmd_subject.c_str(),
                                                  &Impl::on_command, this);
    if (s != NATS_OK) {
      std::fprintf(stderr, "tickcast: cannot serve forwarded commands: %s\n",
                   status_text(s).c_str());
      return;
    }
    std::lock_guard lock(cmd_mutex);
    cmd_sub.reset(raw);
  }

  static void on_command(natsConnection*, natsSubscription*, natsMsg* raw, void* self_ptr) {
    MsgPtr msg(raw);
    auto* self = static_cast<Impl*>(self_ptr);
    const char* reply_subject = natsMsg_GetReply(msg.get());
    if (!reply_subject) return;
    auto request = decode_request(std::string(
        natsMsg_GetData(msg.get()), static_cast<std::size_t>(natsMsg_GetDataLength(msg.get()))));
    natsConnection* nc = self->link->connection();
    auto send = [self, nc, reply = std::string(reply_subject)](const std::string& data) {
      if (self->answer_fault_armed.exchange(false)) {
        std::fprintf(stderr, "tickcast: fault injection: no answer to a forwarded command\n");
        if (std::string(fault_answer()) == "exit") std::_Exit(70);
        return;
      }
      natsConnection_Publish(nc, reply.c_str(), data.data(), static_cast<int>(data.size()));
    };
    auto answer = [send](const ForwardedReply& r) { send(encode_reply(r)); };
    if (!request) {
      ForwardedReply r;
      r.outcome.error = Error{ErrorCode::bad_request, "malformed forwarded request"};
      answer(r);
      return;
    }
    if (request->join) {
      self->hub->ensure(request->room, request->peer,
                        [answer](std::optional<Error> error, std::optional<RoomRecord> record) {
                          ForwardedReply r;
                          r.outcome.error = std::move(error);
                          r.record = std::move(record);
                          answer(r);
                        });
      return;
    }
    if (request->id.empty()) {  // a sender that does not number its commands
      self->hub->command(
          request->room, request->payload,
          [answer](CommandOutcome outcome) {
            answer(ForwardedReply{std::move(outcome), {}});
          },
          request->peer);
      return;
    }
    const std::string id = request->id;
    auto finish = [self, id](CommandOutcome outcome) {
      self->dedup.finish(id, encode_reply(ForwardedReply{std::move(outcome), {}}));
    };
    switch (self->dedup.begin(id, send)) {
      case CommandDedup::Seen::first:
        self->hub->command(request->room, request->payload, finish, request->peer, id);
        return;
      case CommandDedup::Seen::applied_before:
        // Its events are in the stream: answer as it was answered then, with the room's
        // state now.
        self->hub->rooms([finish, room = request->room,
                          request_id = decode_command(request->payload).request_id](
                             const std::vector<RoomSummary>& rooms) {
          CommandOutcome outcome;
          outcome.request_id = request_id;
          const auto it = std::find_if(rooms.begin(), rooms.end(),
                                       [&](const RoomSummary& r) { return r.name == room; });
          if (it != rooms.end()) {
            outcome.state = it->state;
          } else {
            outcome.error = Error{ErrorCode::not_found, "the room is gone"};
          }
          finish(std::move(outcome));
        });
        return;
      case CommandDedup::Seen::running:
      case CommandDedup::Seen::answered:
        return;
    }
  }

  // A follower: waits for the lease; once it holds it, stops the feed, loads every room
  // from the store (what the feed had not delivered yet included) and promotes the Hub.
  void promote_when_held(const std::function<void()>& promoted) {
    const bool held =
        store.hold_lease([](const std::string&) {}, lost, [this] { return stopped(); });
    if (!held) return;
    {
      std::lock_guard lock(feed_mutex);
      feed.reset();
      feed_lag = 0;
      feed_wedged = false;
    }
    StoreContents contents;
    try {
      contents = store.load(options.history);  // retries through an election by itself
    } catch (const std::exception& e) {
      lost(std::string("cannot load the rooms to take over: ") + e.what());
      return;
    }
    std::vector<std::string> ran;
    for (const LoadedRoom& room : contents.rooms) {
      for (const StoredEvent& e : room.events) {
        if (!e.origin.empty()) ran.push_back(e.origin);
      }
    }
    dedup.ran_before(std::move(ran));
    hub->promote(std::move(contents));
    writer = true;
    serve_commands();
    directory->beat(url, "writer");
    promoted();
  }

  // The position check: the feed must reach, within lag_bound, the stream's last sequence
  // as it was when the check noted it; else it is wedged (a subscription that stopped
  // delivering while the link looks fine) and is made again.
  void check_position() {
    std::lock_guard lock(feed_mutex);
    if (!feed) return;
    const auto last = stream_last_sequence(*link, stream);
    if (!last) return;  // the engine does not answer: the link's health says so
    const std::uint64_t delivered = feed->delivered();
    const auto now = std::chrono::steady_clock::now();
    feed_lag = *last > delivered ? *last - delivered : 0;
    if (delivered >= check_target) {
      check_target = *last;
      check_since = now;
      feed_wedged = false;
      return;
    }
    if (now - check_since < times.lag_bound) return;
    if (!feed_wedged) {
      std::fprintf(stderr,
                   "tickcast: the event feed is at stream sequence %llu, the stream at %llu "
                   "for longer than %lld ms: recreating it\n",
                   static_cast<unsigned long long>(delivered),
                   static_cast<unsigned long long>(*last),
                   static_cast<long long>(times.lag_bound.count()));
    }
    feed_wedged = true;
    ++feed_restarts;
    check_since = now;
    try {
      feed->restart();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tickcast: %s\n", e.what());
    }
  }

  void monitor_loop() {
    auto next_beat = std::chrono::steady_clock::now();
    while (!stopped()) {
      if (std::chrono::steady_clock::now() >= next_beat && link->connected()) {
        directory->beat(url, writer ? "writer" : "follower");
        if (!writer) check_position();
        next_beat = std::chrono::steady_clock::now() + times.heartbeat;
      }
      directory->poll(std::chrono::milliseconds(100));
    }
  }
};

ClusterNode::ClusterNode(NatsRoomStore& store, const NatsOptions& options, ClusterTimes times)
    : impl_(std::make_unique<Impl>(store, options, times)) {
  Impl& d = *impl_;
  d.stream = store.stream_name();
  d.prefix = "tickcast." + options.cluster + ".ev.";
  d.cmd_subject = "tickcast." + options.cluster + ".cmd";
  try {
    d.link = std::make_unique<Link>(options.servers, "tickcast node " + options.node_id,
                                    options.request_timeout_ms);
    kvStore* raw = nullptr;
    const natsStatus s = js_KeyValue(&raw, d.link->js(), store.bucket_name().c_str());
    if (s != NATS_OK) throw NatsOpenError("bucket " + store.bucket_name() + ": " + status_text(s));
    d.kv.reset(raw);
    // A takeover leaves nobody serving commands for a lease and a heartbeat or so (3-4 s
    // measured): requests that nobody received are sent again for twice the lease and a
    // heartbeat, and land on the new writer.
    d.forwarder = std::make_unique<Forwarder>(
        *d.link, times.forward_timeout,
        2 * std::chrono::milliseconds(options.lease_ms) + times.heartbeat);
    d.directory = std::make_unique<NodeDirectory>(d.kv.get(), options.node_id);
  } catch (const NatsOpenError&) {
    throw;
  } catch (const std::exception& e) {
    throw NatsOpenError(e.what());
  }
}

ClusterNode::~ClusterNode() { stop(); }

bool ClusterNode::join(std::function<void(const std::string&)> lost, std::string& holder) {
  Impl& d = *impl_;
  d.lost = std::move(lost);
  bool other = false;
  const bool held = d.store.hold_lease(
      [&](const std::string& name) {
        holder = name;
        other = true;
      },
      d.lost, [&] { return other; });
  d.writer = held;
  if (!held) {
    // Events committed from now on reach the follower through its feed; the Hub loads the
    // rest (an event in both is dropped by its seq).
    // Right after a restart of the engine the stream may still be electing its leader.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto last = stream_last_sequence(*d.link, d.stream);
    while (!last && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      last = stream_last_sequence(*d.link, d.stream);
    }
    if (!last) throw NatsOpenError("stream " + d.stream + " does not answer");
    d.feed_from = *last + 1;
  }
  return held;
}

void ClusterNode::start(Hub& hub, std::string url, std::function<void()> promoted) {
  Impl& d = *impl_;
  d.hub = &hub;
  d.url = std::move(url);
  if (d.writer) {
    d.serve_commands();
  } else {
    {
      std::lock_guard lock(d.feed_mutex);
      d.feed =
          std::make_unique<EventFeed>(*d.link, d.stream, d.prefix, d.feed_from,
                                      [&hub](ReplicatedEvent e) { hub.replicate(std::move(e)); });
      d.check_target = 0;
      d.check_since = std::chrono::steady_clock::now();
    }
    d.promoter =
        std::thread([&d, promoted = std::move(promoted)] { d.promote_when_held(promoted); });
  }
  d.directory->beat(d.url, d.writer ? "writer" : "follower");
  d.monitor = std::thread([&d] { d.monitor_loop(); });
}

void ClusterNode::stop() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.stop_mutex);
    if (d.stopping) return;
    d.stopping = true;
  }
  d.stop_cv.notify_all();
  // Without the engine, unsubscribing an ordered consumer waits for requests that cannot be
  // answered: close the link first, then nothing waits.
  if (!d.link->connected()) natsConnection_Close(d.link->connection());
  if (d.promoter.joinable()) d.promoter.join();
  if (d.monitor.joinable()) d.monitor.join();
  d.forwarder->stop();  // no answer reaches the Hub after this
  {
    std::lock_guard lock(d.cmd_mutex);
    if (d.cmd_sub) natsSubscription_Unsubscribe(d.cmd_sub.get());
    d.cmd_sub.reset();
  }
  {
    std::lock_guard lock(d.feed_mutex);
    d.feed.reset();
  }
  if (d.directory && d.link->connected()) d.directory->leave();
}

ClusterStatus ClusterNode::status() const {
  const Impl& d = *impl_;
  ClusterStatus s;
  s.node = d.options.node_id;
  s.role = d.writer ? "writer" : "follower";
  s.nodes = d.directory->nodes(d.times.heartbeat);
  std::int64_t freshest = INT64_MAX;
  for (const NodeSeen& n : s.nodes) {
    if (n.alive && n.role == "writer" && n.age_ms < freshest) {
      freshest = n.age_ms;
      s.writer = n.id;
    }
  }
  if (d.writer) s.writer = d.options.node_id;
  {
    std::lock_guard lock(d.feed_mutex);
    s.feed_lag = d.feed_lag;
    s.feed_wedged = d.feed_wedged;
    s.feed_restarts = d.feed_restarts;
  }
  s.forward_failures = d.forwarder->failures();
  s.forward_resends = d.forwarder->resends();
  return s;
}

void ClusterNode::forward_command(const std::string& room, const std::string& payload,
                                  const std::string& peer, CommandDone done) {
  const std::string request_id = decode_command(payload).request_id;
  const std::string id = impl_->command_prefix + std::to_string(impl_->next_command++);
  impl_->forwarder->send(
      impl_->cmd_subject, encode_request(ForwardedRequest{false, room, payload, peer, id}),
      [done = std::move(done), request_id](std::optional<std::string> answer) {
        std::optional<ForwardedReply> reply;
        if (answer) reply = decode_reply(*answer);
        if (!reply) {
          CommandOutcome outcome;
          outcome.request_id = request_id;
          outcome.error = Error{ErrorCode::overloaded,
                                "no node of the cluster runs the timers now (a takeover?); "
                                "try again"};
          done(std::move(outcome));
          return;
        }
        done(std::move(reply->outcome));
      });
}

void ClusterNode::forward_join(const std::string& room, const std::string& peer, RoomDone done) {
  impl_->forwarder->send(
      impl_->cmd_subject, encode_request(ForwardedRequest{true, room, {}, peer, {}}),
      [done = std::move(done)](std::optional<std::string> answer) {
        std::optional<ForwardedReply> reply;
        if (answer) reply = decode_reply(*answer);
        if (!reply || (!reply->outcome.error && !reply->record)) {
          done(Error{ErrorCode::overloaded,
                     "no node of the cluster runs the timers now (a takeover?); try again"},
               std::nullopt);
          return;
        }
        done(std::move(reply->outcome.error), std::move(reply->record));
      });
}

bool ClusterNode::is_writer() const { return impl_->writer.load(); }

bool ClusterNode::may_publish() const { return impl_->writer.load() && impl_->store.lease_fresh(); }

}  // namespace tickcast::nats
