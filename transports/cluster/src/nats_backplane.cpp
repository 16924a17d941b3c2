#include "tickcast/cluster/nats_backplane.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <string_view>
#include <thread>

#include "tickcast/cluster/internal/nats_link.h"
#include "tickcast/transport/room_key.h"

namespace tickcast::cluster {

struct NatsBackplane::Impl {
  explicit Impl(NatsBackplaneOptions o)
      : options(std::move(o)),
        stream("TICKCAST_BP_" + options.name),
        prefix("tickcast.bp." + options.name + ".") {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // Also when the constructor throws half way: the subscription's callbacks use the Impl.
  ~Impl() {
    unsubscribe();
    stop_publisher();
    link.reset();  // closes the connection, after cnats' last callback
  }

  NatsBackplaneOptions options;
  const std::string stream;  // TICKCAST_BP_<name>
  const std::string prefix;  // tickcast.bp.<name>.  (then the room)
  std::unique_ptr<Link> link;

  // Delivery runs on cnats' subscription thread; the mutex lets stop() end it for good.
  std::mutex delivery_mutex;
  Deliver deliver;
  SubPtr subscription;
  std::promise<void> subscription_closed;

  // Publishes wait here and are stored in order, one at a time, by `publisher`.
  struct Pending {
    std::string room, body;
    Done done;
  };
  std::mutex queue_mutex;
  std::condition_variable queue_ready;
  std::deque<Pending> queue;
  bool stopping = false;
  std::thread publisher;

  void connect();
  void ensure_stream();
  void subscribe();
  void publish_loop();
  Published store(const Pending& pending);
  void unsubscribe();
  void stop_publisher();

  static void on_message(natsConnection*, natsSubscription*, natsMsg* raw, void* self);
  static void on_closed(void* self) { static_cast<Impl*>(self)->subscription_closed.set_value(); }
};

void NatsBackplane::Impl::connect() {
  link = std::make_unique<Link>(options.servers, "tickcast backplane " + options.name,
                                options.timeout_ms);
}

void NatsBackplane::Impl::ensure_stream() {
  const std::string subjects = prefix + "*";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = std::max(options.replicas, 1);
  cfg.MaxMsgsPerSubject = static_cast<int64_t>(std::max<std::size_t>(options.history, 1));
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&info, link->js(), &cfg, nullptr, &code);
  // Another node made it first: its limits become ours.
  if (s != NATS_OK) s = js_UpdateStream(&info, link->js(), &cfg, nullptr, &code);
  StreamInfoPtr held(info);
  check(s, "stream " + stream);
}

void NatsBackplane::Impl::subscribe() {
  // Ordered push consumer from the first held message: in stream order, gaps recovered by
  // the client library, nothing to acknowledge.
  jsSubOptions so;
  check(jsSubOptions_Init(&so), "subscribe options");
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  check(js_Subscribe(&raw, link->js(), (prefix + "*").c_str(), &Impl::on_message, this, nullptr,
                     &so, &code),
        "subscribe to " + stream);
  subscription.reset(raw);
  check(natsSubscription_SetOnCompleteCB(subscription.get(), &Impl::on_closed, this),
        "subscription callback");
}

void NatsBackplane::Impl::on_message(natsConnection*, natsSubscription*, natsMsg* raw, void* self) {
  auto* impl = static_cast<Impl*>(self);
  MsgPtr msg(raw);
  jsMsgMetaData* meta_raw = nullptr;
  if (natsMsg_GetMetaData(&meta_raw, msg.get()) != NATS_OK) return;  // not a stream message
  MetaPtr meta(meta_raw);
  const std::string_view subject = natsMsg_GetSubject(msg.get());
  if (!subject.starts_with(impl->prefix)) return;
  std::string room(subject.substr(impl->prefix.size()));
  std::string body(natsMsg_GetData(msg.get()), natsMsg_GetDataLength(msg.get()));
  std::lock_guard lock(impl->delivery_mutex);
  if (impl->deliver) impl->deliver(room, meta->Sequence.Stream, std::move(body));
}

Published NatsBackplane::Impl::store(const Pending& pending) {
  if (!valid_room_name(pending.room)) {
    return Failure{FailureCode::bad_room, "not a room name: " + pending.room};
  }
  jsPubAck* ack_raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_Publish(&ack_raw, link->js(), (prefix + pending.room).c_str(), pending.body.data(),
                 static_cast<int>(pending.body.size()), nullptr, &code);
  PubAckPtr ack(ack_raw);
  if (s != NATS_OK || !ack) {
    return Failure{FailureCode::overloaded, "the cluster did not store it: " + status_text(s)};
  }
  return ack->Sequence;
}

void NatsBackplane::Impl::publish_loop() {
  for (;;) {
    Pending next;
    {
      std::unique_lock lock(queue_mutex);
      queue_ready.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
      next = std::move(queue.front());
      queue.pop_front();
    }
    Published result = store(next);
    if (next.done) next.done(std::move(result));
  }
  std::deque<Pending> left;
  {
    std::lock_guard lock(queue_mutex);
    left.swap(queue);
  }
  for (auto& pending : left) {
    if (pending.done) pending.done(Failure{FailureCode::overloaded, "the backplane is stopping"});
  }
}

void NatsBackplane::Impl::unsubscribe() {
  {
    std::lock_guard lock(delivery_mutex);
    deliver = nullptr;
  }
  if (!subscription) return;
  // After the unsubscribe, cnats calls on_closed once the last handler call has returned;
  // a lost link may never get there, and delivery is already cut off above.
  auto closed = subscription_closed.get_future();
  if (natsSubscription_Unsubscribe(subscription.get()) == NATS_OK) {
    closed.wait_for(std::chrono::seconds(5));
  }
  subscription.reset();
}

void NatsBackplane::Impl::stop_publisher() {
  {
    std::lock_guard lock(queue_mutex);
    stopping = true;
  }
  queue_ready.notify_all();
  if (publisher.joinable()) publisher.join();
}

NatsBackplane::NatsBackplane(NatsBackplaneOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->connect();
  impl_->ensure_stream();
  impl_->publisher = std::thread([impl = impl_.get()] { impl->publish_loop(); });
}

NatsBackplane::~NatsBackplane() = default;

void NatsBackplane::start(Deliver deliver) {
  {
    std::lock_guard lock(impl_->delivery_mutex);
    impl_->deliver = std::move(deliver);
  }
  if (!impl_->subscription) impl_->subscribe();
}

void NatsBackplane::publish(std::string room, std::string body, Done done) {
  {
    std::lock_guard lock(impl_->queue_mutex);
    if (!impl_->stopping) {
      impl_->queue.push_back({std::move(room), std::move(body), std::move(done)});
      impl_->queue_ready.notify_one();
      return;
    }
  }
  if (done) done(Failure{FailureCode::overloaded, "the backplane is stopping"});
}

void NatsBackplane::stop() {
  impl_->unsubscribe();
  impl_->stop_publisher();
}

bool NatsBackplane::connected() const { return impl_->link->connected(); }

std::unique_ptr<Backplane> make_backplane(NatsBackplaneOptions options) {
  if (options.servers.empty()) return std::make_unique<LocalBackplane>();
  return std::make_unique<NatsBackplane>(std::move(options));
}

}  // namespace tickcast::cluster
