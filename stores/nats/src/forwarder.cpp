#include "forwarder.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace tickcast::nats {

namespace {
using InboxPtr = std::unique_ptr<natsInbox, Deleter<natsInbox, natsInbox_Destroy>>;
}  // namespace

Forwarder::Forwarder(Link& link, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds resend_window)
    : link_(link), timeout_(timeout), resend_window_(resend_window) {
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
    const auto now = std::chrono::steady_clock::now();
    pending_.emplace(id, Pending{now + timeout_, now + resend_window_, std::move(done), subject,
                                 data, std::nullopt, std::chrono::milliseconds(50)});
  }
  changed_.notify_all();
  publish(id, subject, data);
}

void Forwarder::publish(std::uint64_t id, const std::string& subject, const std::string& data) {
  const std::string reply = inbox_ + std::to_string(id);
  const natsStatus s =
      natsConnection_PublishRequest(link_.connection(), subject.c_str(), reply.c_str(), data.data(),
                                    static_cast<int>(data.size()));
  if (s != NATS_OK) fail(id);
}

void Forwarder::fail(std::uint64_t id) {
  if (auto done = take(id)) {
    {
      std::lock_guard lock(mutex_);
      ++failures_;
    }
    (*done)(std::nullopt);
  }
}

// No node received the request: it is sent again after a back-off (50 ms, doubling to 400)
// within its resend window, and its answer is then awaited `timeout` after that send.
// Returns false when the window is over.
bool Forwarder::resend_later(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  const auto it = pending_.find(id);
  if (it == pending_.end()) return true;  // answered or expired meanwhile: nothing to do
  Pending& p = it->second;
  const auto at = std::chrono::steady_clock::now() + p.backoff;
  if (stopping_ || at >= p.resend_until) return false;
  p.resend_at = at;
  p.deadline = at + timeout_;
  p.backoff = std::min(p.backoff * 2, std::chrono::milliseconds(400));
  changed_.notify_all();
  return true;
}

void Forwarder::on_reply(natsConnection*, natsSubscription*, natsMsg* raw, void* self_ptr) {
  MsgPtr msg(raw);
  auto* self = static_cast<Forwarder*>(self_ptr);
  const std::string subject = natsMsg_GetSubject(msg.get());
  const std::uint64_t id = std::strtoull(subject.c_str() + self->inbox_.size(), nullptr, 10);
  if (natsMsg_IsNoResponders(msg.get())) {
    if (!self->resend_later(id)) self->fail(id);
    return;
  }
  auto done = self->take(id);
  if (!done) return;  // answered too late: its requester was told already
  const int length = natsMsg_GetDataLength(msg.get());
  if (length == 0) {  // a reply we cannot read; the request may have run: not sent again
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
    std::vector<std::tuple<std::uint64_t, std::string, std::string>> resend;
    auto wake = now + std::chrono::milliseconds(50);
    for (auto it = pending_.begin(); it != pending_.end();) {
      Pending& p = it->second;
      if (p.deadline <= now) {
        if (now + timeout_ <= p.resend_until) {
          // No answer: a writer that is slow, stopped or gone. Sent again under the same
          // reply subject (a late answer to the first send still counts); the writer
          // answers a request it has seen from memory instead of running it twice.
          p.deadline = now + timeout_;
          p.resend_at.reset();
          resend.emplace_back(it->first, p.subject, p.data);
          ++it;
          continue;
        }
        expired.push_back(std::move(p.done));
        it = pending_.erase(it);
        continue;
      }
      wake = std::min(wake, p.deadline);
      if (p.resend_at && *p.resend_at <= now) {
        p.resend_at.reset();
        resend.emplace_back(it->first, p.subject, p.data);
      } else if (p.resend_at) {
        wake = std::min(wake, *p.resend_at);
      }
      ++it;
    }
    failures_ += expired.size();
    resends_ += resend.size();
    if (!expired.empty() || !resend.empty()) {
      lock.unlock();
      for (auto& done : expired) done(std::nullopt);
      for (const auto& [id, subject, data] : resend) publish(id, subject, data);
      lock.lock();
      continue;
    }
    changed_.wait_until(lock, wake);
  }
}

std::uint64_t Forwarder::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

std::uint64_t Forwarder::resends() const {
  std::lock_guard lock(mutex_);
  return resends_;
}

}  // namespace tickcast::nats
