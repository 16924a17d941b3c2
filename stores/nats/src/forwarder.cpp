#include "forwarder.h"

#include <stdexcept>
#include <vector>

namespace tickcast::nats {

namespace {
using InboxPtr = std::unique_ptr<natsInbox, Deleter<natsInbox, natsInbox_Destroy>>;
}  // namespace

Forwarder::Forwarder(Link& link, std::chrono::milliseconds timeout)
    : link_(link), timeout_(timeout) {
  natsInbox* raw = nullptr;
  if (natsInbox_Create(&raw) != NATS_OK) throw std::runtime_error("cannot make an inbox");
  InboxPtr inbox(raw);
  inbox_ = std::string(inbox.get()) + ".";
  const std::string wildcard = inbox_ + "*";
  natsSubscription* sub = nullptr;
  const natsStatus s = natsConnection_Subscribe(&sub, link_.connection(), wildcard.c_str(),
                                                &Forwarder::on_reply, this);
  if (s != NATS_OK) throw std::runtime_error("reply subscription: " + status_text(s));
  sub_.reset(sub);
  expirer_ = std::thread([this] { expire_loop(); });
}

Forwarder::~Forwarder() { stop(); }

void Forwarder::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    pending_.clear();
  }
  changed_.notify_all();
  if (sub_) natsSubscription_Unsubscribe(sub_.get());
  sub_.reset();
  if (expirer_.joinable()) expirer_.join();
}

std::optional<Forwarder::Done> Forwarder::take(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  const auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  Done done = std::move(it->second.done);
  pending_.erase(it);
  return done;
}

void Forwarder::send(const std::string& subject, const std::string& data, Done done) {
  std::uint64_t id = 0;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      done(std::nullopt);
      return;
    }
    id = next_id_++;
    pending_.emplace(id, Pending{std::chrono::steady_clock::now() + timeout_, std::move(done)});
  }
  changed_.notify_all();
  const std::string reply = inbox_ + std::to_string(id);
  const natsStatus s =
      natsConnection_PublishRequest(link_.connection(), subject.c_str(), reply.c_str(), data.data(),
                                    static_cast<int>(data.size()));
  if (s != NATS_OK) {
    if (auto d = take(id)) {
      {
        std::lock_guard lock(mutex_);
        ++failures_;
      }
      (*d)(std::nullopt);
    }
  }
}

void Forwarder::on_reply(natsConnection*, natsSubscription*, natsMsg* raw, void* self_ptr) {
  MsgPtr msg(raw);
  auto* self = static_cast<Forwarder*>(self_ptr);
  const std::string subject = natsMsg_GetSubject(msg.get());
  const std::uint64_t id = std::strtoull(subject.c_str() + self->inbox_.size(), nullptr, 10);
  auto done = self->take(id);
  if (!done) return;  // answered too late: its requester was told already
  // "No responders" comes back as an empty message with a 503 status header.
  const int length = natsMsg_GetDataLength(msg.get());
  if (length == 0) {
    {
      std::lock_guard lock(self->mutex_);
      ++self->failures_;
    }
    (*done)(std::nullopt);
    return;
  }
  (*done)(std::string(natsMsg_GetData(msg.get()), static_cast<std::size_t>(length)));
}

void Forwarder::expire_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<Done> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    failures_ += expired.size();
    if (!expired.empty()) {
      lock.unlock();
      for (auto& done : expired) done(std::nullopt);
      lock.lock();
      continue;
    }
    changed_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

std::uint64_t Forwarder::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

}  // namespace tickcast::nats
